/**
 * What a task runs: functions, names of functions registered in `functions`, and module references
 * (`'./jobs.js#report'`). Persistent stores keep names and references, never code.
 *
 * A store row is code: a module reference may name only a file inside the real path of the scheduler's
 * `moduleRoot`, never one in `node_modules`. It is checked when a task is added or changed, and again (symlinks
 * resolved anew) right before each import, so a row written into a shared store by someone else cannot make
 * this process import an arbitrary file.
 */
import { readlinkSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SerializationError, ValueError } from './errors.js';
import type { TaskFunction } from './store.js';
import { describeValue } from './validate.js';

/** A module reference: `path#exportName`. */
const MODULE_REFERENCE = /^(.+)#([A-Za-z_$][\w$]*)$/;

/** How many symbolic links a path may pass through while it is checked (the usual OS limit). */
const MAX_SYMLINK_HOPS = 40;

/** True for `function*` and `async function*`: lifecycle tasks. */
export function isGeneratorFunction(fn: unknown): boolean {
  if (typeof fn !== 'function') return false;
  const kind = fn.constructor?.name;
  return kind === 'GeneratorFunction' || kind === 'AsyncGeneratorFunction';
}

/** True if `ref` has the form of a module reference. */
export function isModuleReference(ref: string): boolean {
  return MODULE_REFERENCE.test(ref);
}

/** Options of a `FunctionResolver` (the scheduler passes its own). */
export interface FunctionResolverOptions {
  /**
   * The folder module references must resolve into (symlinks resolved), absolute or relative to the working
   * directory; default: the working directory at construction.
   */
  moduleRoot?: string;
}

/** The module root: the path as configured (made absolute) and its real path. */
interface ModuleRoot {
  path: string;
  real: string;
}

/** A checked module reference: the real path of the file to import and the export to call. */
interface ModuleTarget {
  file: string;
  exportName: string;
}

/** Resolves task functions for one scheduler: its `functions` registry plus lazily imported modules. */
export class FunctionResolver {
  /** The scheduler's named functions. */
  readonly #byName: ReadonlyMap<string, TaskFunction>;
  /** Names by function, to store a registered function by its name. */
  readonly #nameOf = new Map<TaskFunction, string>();
  /** Imported module references, by reference. */
  readonly #imported = new Map<string, Promise<TaskFunction>>();
  /** Where module references may point. */
  readonly #root: ModuleRoot;
  /** Whether a registered function is a generator function (computed once). */
  #hasGenerators: boolean | undefined;

  constructor(functions: Record<string, TaskFunction> = {}, options: FunctionResolverOptions = {}) {
    if (typeof functions !== 'object' || functions === null) {
      throw new ValueError(
        `functions: expected an object of named functions, got ${describeValue(functions)}`,
      );
    }
    const byName = new Map<string, TaskFunction>();
    for (const [name, fn] of Object.entries(functions)) {
      if (typeof fn !== 'function') {
        throw new ValueError(`functions: '${name}' is not a function (got ${describeValue(fn)})`);
      }
      byName.set(name, fn);
      if (!this.#nameOf.has(fn)) this.#nameOf.set(fn, name);
    }
    this.#byName = byName;
    this.#root = parseModuleRoot(options);
  }

  /** The real path of the module root that module references must resolve into. */
  get moduleRoot(): string {
    return this.#root.real;
  }

  /**
   * Validates what `addTask` was given and returns what the store keeps: for a persistent store a name or
   * module reference (a registered function is stored by its name), otherwise the function itself.
   */
  toStoredFunction(fn: unknown, taskId: string, persistent: boolean): string | TaskFunction {
    if (typeof fn === 'string') {
      if (this.#byName.has(fn)) return fn;
      if (isModuleReference(fn)) {
        this.#checkModuleReference(fn, `task '${taskId}': `);
        return fn;
      }
      throw new ValueError(
        `task '${taskId}': fn ${describeValue(fn)} is neither a name in the scheduler's functions nor a module reference like './jobs.js#report'`,
      );
    }
    if (typeof fn !== 'function') {
      throw new ValueError(
        `task '${taskId}': fn must be a function, a function name or a module reference, got ${describeValue(fn)}`,
      );
    }
    if (!persistent) return fn as TaskFunction;
    const name = this.#nameOf.get(fn as TaskFunction);
    if (name === undefined) {
      throw new SerializationError(
        `task '${taskId}': a persistent store keeps a function name or module reference, never code; ` +
          `register ${fn.name ? `'${fn.name}'` : 'this anonymous function'} in the scheduler's functions or pass './module.js#export'`,
      );
    }
    return name;
  }

  /**
   * A hook as a task record keeps it: the name of a registered function (never a module reference), or, outside
   * a persistent store, the function itself; a registered function given as a function is kept by its name.
   */
  toStoredHook(hook: unknown, what: string, persistent: boolean): string | TaskFunction {
    if (typeof hook === 'string') {
      if (this.#byName.has(hook)) return hook;
      throw new ValueError(`${what} ${describeValue(hook)} is not a name in the scheduler's functions`);
    }
    if (typeof hook !== 'function') {
      throw new ValueError(
        `${what} must be a function or the name of one in functions, got ${describeValue(hook)}`,
      );
    }
    const name = this.#nameOf.get(hook as TaskFunction);
    if (name !== undefined && persistent) return name;
    if (!persistent) return hook as TaskFunction;
    throw new SerializationError(
      `${what}: a persistent store keeps a hook by the name of a registered function, never code; register ${hook.name ? `'${hook.name}'` : 'this anonymous function'} in the scheduler's functions`,
    );
  }

  /** True if any registered function is a generator function (a lifecycle task may then live in a shared store). */
  get hasGeneratorFunctions(): boolean {
    this.#hasGenerators ??= [...this.#byName.values()].some(isGeneratorFunction);
    return this.#hasGenerators;
  }

  /** True if `name` is a registered generator function. */
  namesGenerator(name: string): boolean {
    return isGeneratorFunction(this.#byName.get(name));
  }

  /** The function that a stored `fn` names, if it can be found without importing anything. */
  resolveSync(fn: string | TaskFunction): TaskFunction | undefined {
    return typeof fn === 'function' ? fn : this.#byName.get(fn);
  }

  /**
   * The function that a stored `fn` names; imports module references (once each, relative to the cwd) after
   * checking, symlinks resolved anew, that they lie inside the module root: otherwise a `SerializationError`,
   * and nothing is imported.
   */
  async resolve(fn: string | TaskFunction): Promise<TaskFunction> {
    const direct = this.resolveSync(fn);
    if (direct !== undefined) return direct;
    const ref = fn as string;
    let loading = this.#imported.get(ref);
    if (loading === undefined) {
      loading = importTarget(ref, this.#checkStored(ref));
      this.#imported.set(ref, loading);
      loading.catch(() => this.#imported.delete(ref));
    }
    return loading;
  }

  /**
   * Throws the `SerializationError` that `resolve` would throw before importing anything (an unknown name, a
   * module reference outside the module root or into node_modules), without importing: for executors that
   * load module references themselves (worker threads). Synchronous; a file that does not exist yet passes.
   * Returns what such an executor should load: a module reference by the real path that was checked (a
   * `file:` URL), or a registered function as it is.
   */
  checkReference(fn: string | TaskFunction): string | TaskFunction {
    if (this.resolveSync(fn) !== undefined) return fn;
    const target = this.#checkStored(fn as string);
    // The real path that passed the check: a symlink swapped after it cannot redirect the import.
    return `${pathToFileURL(target.file).href}#${target.exportName}`;
  }

  /** Checks a stored name that is not registered: it must be a module reference inside the root. */
  #checkStored(ref: string): ModuleTarget {
    if (!isModuleReference(ref)) {
      throw new SerializationError(
        `function '${ref}' is not in the scheduler's functions (renamed or removed?)`,
      );
    }
    return this.#checkModuleReference(ref, '');
  }

  /**
   * Where module reference `ref` points, if that is a file inside the module root and not in node_modules;
   * otherwise a `SerializationError` that names `ref` and the root (`prefix` names the task).
   */
  #checkModuleReference(ref: string, prefix: string): ModuleTarget {
    const { path, exportName } = parseReference(ref, prefix);
    let file: string;
    try {
      file = projectedRealPath(path);
    } catch (error) {
      throw new SerializationError(
        `${prefix}module reference ${describeValue(ref)}: cannot resolve '${path}' (${(error as Error).message})`,
        { cause: error },
      );
    }
    const below = pathBelow(this.#root.real, file);
    if (below === null) {
      throw new SerializationError(
        `${prefix}module reference ${describeValue(ref)} resolves to '${file}', outside the module root ${this.#describeRoot()}; ` +
          "a task may name only functions in the scheduler's functions or modules under moduleRoot",
      );
    }
    if (inNodeModules(below) || this.#lexicallyInNodeModules(path)) {
      throw new SerializationError(
        `${prefix}module reference ${describeValue(ref)} resolves into node_modules ('${file}', under the module root ${this.#describeRoot()}); ` +
          "register the function in the scheduler's functions instead",
      );
    }
    return { file, exportName };
  }

  /** True if `path`, as written, passes through a node_modules folder below the root. */
  #lexicallyInNodeModules(path: string): boolean {
    return [this.#root.path, this.#root.real].some((root) => {
      const below = pathBelow(root, path);
      return below !== null && inNodeModules(below);
    });
  }

  /** The root for messages: its path, and its real path when that differs. */
  #describeRoot(): string {
    const { path, real } = this.#root;
    return path === real ? `'${path}'` : `'${path}' (real path '${real}')`;
  }

  /** The display name of a stored `fn`. */
  static nameOf(fn: string | TaskFunction): string {
    if (typeof fn === 'string') return fn;
    return fn.name || 'anonymous';
  }
}

/** Validates the `moduleRoot` option once: an existing directory; a `ValueError` naming it otherwise. */
function parseModuleRoot(options: unknown): ModuleRoot {
  if (typeof options !== 'object' || options === null) {
    throw new ValueError(`FunctionResolver: options must be an object, got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (key !== 'moduleRoot')
      throw new ValueError(`FunctionResolver: unknown option '${key}' (expected moduleRoot)`);
  }
  const given = (options as FunctionResolverOptions).moduleRoot;
  if (given === undefined) return rootAt(process.cwd(), 'the working directory');
  if (typeof given !== 'string' || given === '') {
    throw new ValueError(`moduleRoot must be a non-empty directory path, got ${describeValue(given)}`);
  }
  return rootAt(resolve(given), `moduleRoot ${describeValue(given)}`);
}

/** The module root at absolute `path`, which must be an existing directory (`what` names it in errors). */
function rootAt(path: string, what: string): ModuleRoot {
  try {
    if (!statSync(path).isDirectory()) throw new ValueError(`${what} is not a directory ('${path}')`);
    return { path, real: realpathSync(path) };
  } catch (error) {
    if (error instanceof ValueError) throw error;
    const reason = isMissing(error) ? 'does not exist' : `cannot be read: ${(error as Error).message}`;
    throw new ValueError(`${what} ${reason} ('${path}')`, { cause: error });
  }
}

/** The absolute path (relative ones against the working directory, `file:` URLs converted) and export of `ref`. */
function parseReference(ref: string, prefix: string): { path: string; exportName: string } {
  const match = MODULE_REFERENCE.exec(ref);
  if (match === null) throw new SerializationError(`${prefix}unknown function ${describeValue(ref)}`);
  const [, written, exportName] = match as unknown as [string, string, string];
  if (!written.startsWith('file:')) return { path: resolve(process.cwd(), written), exportName };
  try {
    return { path: resolve(fileURLToPath(written)), exportName };
  } catch (error) {
    throw new SerializationError(
      `${prefix}module reference ${describeValue(ref)}: '${written}' is not a file URL (${(error as Error).message})`,
      { cause: error },
    );
  }
}

/**
 * The real path of `path`; for a path that does not exist (yet), the real path of its nearest existing ancestor
 * joined with the rest, following dangling symlinks on the way. Other file system errors are thrown.
 */
function projectedRealPath(path: string, hops = 0): string {
  try {
    return realpathSync(path);
  } catch (error) {
    if (!isMissing(error)) throw error;
  }
  const parent = dirname(path);
  if (parent === path) return path;
  const candidate = join(projectedRealPath(parent, hops), basename(path));
  const target = linkTarget(candidate);
  if (target === null) return candidate;
  if (hops >= MAX_SYMLINK_HOPS) throw new Error(`too many symbolic links at '${candidate}'`);
  return projectedRealPath(resolve(dirname(candidate), target), hops + 1);
}

/** The target of symlink `path`, or null if `path` is not a symlink (or does not exist). */
function linkTarget(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch (error) {
    if (isMissing(error) || (error as NodeJS.ErrnoException).code === 'EINVAL') return null;
    throw error;
  }
}

/** True for the errors of a path that does not exist. */
function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** `path` relative to `root` if it lies strictly inside `root`, else null. */
function pathBelow(root: string, path: string): string | null {
  const below = relative(root, path);
  if (below === '' || below === '..' || below.startsWith(`..${sep}`) || isAbsolute(below)) return null;
  return below;
}

/** True if a relative path passes through a node_modules folder (any case: some file systems ignore it). */
function inNodeModules(below: string): boolean {
  return below.split(sep).some((segment) => segment.toLowerCase() === 'node_modules');
}

/** Imports a checked module reference (by the real path that was checked) and returns its export. */
async function importTarget(ref: string, target: ModuleTarget): Promise<TaskFunction> {
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(target.file).href)) as Record<string, unknown>;
  } catch (error) {
    throw new SerializationError(
      `cannot import module reference ${describeValue(ref)}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const exported = module[target.exportName];
  if (typeof exported !== 'function') {
    throw new SerializationError(
      `module reference ${describeValue(ref)}: export '${target.exportName}' is not a function`,
    );
  }
  return exported as TaskFunction;
}

/** Checks that `args` survive a JSON round trip unchanged; otherwise a `SerializationError` naming the task. */
export function assertJsonArgs(args: readonly unknown[], taskId: string): void {
  let text: string;
  try {
    text = JSON.stringify(args);
  } catch (error) {
    throw new SerializationError(
      `task '${taskId}': args cannot be stored as JSON (${(error as Error).message})`,
    );
  }
  if (!deepEqualJson(JSON.parse(text), args)) {
    throw new SerializationError(
      `task '${taskId}': args ${describeValue(args)} do not survive a JSON round trip (Dates, Maps, undefined, functions, class instances…); pass plain JSON`,
    );
  }
}

/** Structural equality that treats anything JSON would change (prototypes, undefined, NaN) as different. */
function deepEqualJson(parsed: unknown, original: unknown): boolean {
  if (parsed === original) return true;
  if (typeof original === 'number' || typeof parsed !== 'object' || parsed === null) return false;
  if (typeof original !== 'object' || original === null) return false;
  if (Array.isArray(original)) {
    if (!Array.isArray(parsed) || parsed.length !== original.length) return false;
    // A hole of a sparse array comes back as null: it does not survive (and `every` would skip it).
    for (let index = 0; index < original.length; index++) {
      if (!(index in original) || !deepEqualJson(parsed[index], original[index])) return false;
    }
    return true;
  }
  const prototype = Object.getPrototypeOf(original);
  if (prototype !== Object.prototype && prototype !== null) return false;
  const keys = Object.keys(original);
  const parsedRecord = parsed as Record<string, unknown>;
  return (
    keys.length === Object.keys(parsedRecord).length &&
    keys.every((key) => deepEqualJson(parsedRecord[key], (original as Record<string, unknown>)[key]))
  );
}
