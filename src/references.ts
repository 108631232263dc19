/**
 * What a task runs: functions, names of functions registered in `functions`, and module references
 * (`'./jobs.js#report'`). Persistent stores keep names and references, never code.
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SerializationError, ValueError } from './errors.js';
import type { TaskFunction } from './store.js';
import { describeValue } from './time.js';

/** A module reference: `path#exportName`. */
const MODULE_REFERENCE = /^(.+)#([A-Za-z_$][\w$]*)$/;

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

/** Resolves task functions for one scheduler: its `functions` registry plus lazily imported modules. */
export class FunctionResolver {
  /** The scheduler's named functions. */
  readonly #byName: ReadonlyMap<string, TaskFunction>;
  /** Names by function, to store a registered function by its name. */
  readonly #nameOf = new Map<TaskFunction, string>();
  /** Imported module references, by reference. */
  readonly #imported = new Map<string, Promise<TaskFunction>>();

  constructor(functions: Record<string, TaskFunction> = {}) {
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
  }

  /**
   * Validates what `addTask` was given and returns what the store keeps: for a persistent store a name or
   * module reference (a registered function is stored by its name), otherwise the function itself.
   */
  toStoredFunction(fn: unknown, taskId: string, persistent: boolean): string | TaskFunction {
    if (typeof fn === 'string') {
      if (this.#byName.has(fn) || isModuleReference(fn)) return fn;
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

  /** The function that a stored `fn` names, if it can be found without importing anything. */
  resolveSync(fn: string | TaskFunction): TaskFunction | undefined {
    return typeof fn === 'function' ? fn : this.#byName.get(fn);
  }

  /** The function that a stored `fn` names; imports module references (once each, relative to the cwd). */
  async resolve(fn: string | TaskFunction): Promise<TaskFunction> {
    const direct = this.resolveSync(fn);
    if (direct !== undefined) return direct;
    const ref = fn as string;
    if (!isModuleReference(ref)) {
      throw new SerializationError(
        `function '${ref}' is not in the scheduler's functions (renamed or removed?)`,
      );
    }
    let loading = this.#imported.get(ref);
    if (loading === undefined) {
      loading = importReference(ref);
      this.#imported.set(ref, loading);
      loading.catch(() => this.#imported.delete(ref));
    }
    return loading;
  }

  /** The display name of a stored `fn`. */
  static nameOf(fn: string | TaskFunction): string {
    if (typeof fn === 'string') return fn;
    return fn.name || 'anonymous';
  }
}

/** Imports `path#export`, resolved against the process working directory. */
async function importReference(ref: string): Promise<TaskFunction> {
  const match = MODULE_REFERENCE.exec(ref);
  if (match === null) throw new SerializationError(`unknown function ${describeValue(ref)}`);
  const [, path, exportName] = match as unknown as [string, string, string];
  const url = path.startsWith('file:')
    ? path
    : pathToFileURL(isAbsolute(path) ? path : resolve(process.cwd(), path)).href;
  let module: Record<string, unknown>;
  try {
    module = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    throw new SerializationError(
      `cannot import module reference ${describeValue(ref)}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  const exported = module[exportName];
  if (typeof exported !== 'function') {
    throw new SerializationError(
      `module reference ${describeValue(ref)}: export '${exportName}' is not a function`,
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
    return (
      Array.isArray(parsed) &&
      parsed.length === original.length &&
      original.every((item, index) => deepEqualJson(parsed[index], item))
    );
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
