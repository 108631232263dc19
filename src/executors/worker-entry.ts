/**
 * The code that `WorkerExecutor` runs in each worker thread (piscina loads this module and calls its default
 * export once per attempt). It imports the task's module, calls the export with the args, and answers with a
 * `WorkerResponse`: errors are described field by field, so that their name, message, stack and own properties
 * survive the trip back (structured clone keeps only the standard error names).
 *
 * Kept free of kairos imports: a worker loads nothing but this file and the task's module.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** One attempt, as posted to a worker. */
export interface WorkerRequest {
  /** For messages only. */
  taskId: string;
  /** The absolute `file:` URL of the task's module. */
  url: string;
  exportName: string;
  args: unknown[];
}

/** An error from the worker, described by its fields. */
export interface SerializedError {
  name: string;
  message: string;
  stack: string | undefined;
  /** Own enumerable properties (`code`, `statusCode`…) that survive a structured clone. */
  props: Record<string, unknown>;
  cause?: SerializedError | { value: unknown };
}

/** Where an attempt failed: importing the module, finding the export, calling it, or sending the result back. */
export type WorkerFailureStage = 'import' | 'export' | 'call' | 'result';

/** The answer to a `WorkerRequest`. */
export type WorkerResponse =
  | { ok: true; value: unknown }
  | { ok: false; stage: WorkerFailureStage; error: SerializedError }
  /** A thrown value that is not an `Error`, cloned as is. */
  | { ok: false; stage: 'call'; thrown: unknown };

/** Imported modules by URL (a module that failed to import is tried again next time). */
const modules = new Map<string, Promise<Record<string, unknown>>>();

/** Runs one attempt in this worker thread; never throws, every failure is a `{ ok: false }` response. */
export default async function runInWorker(request: WorkerRequest): Promise<WorkerResponse> {
  let module: Record<string, unknown>;
  try {
    module = await importModule(request.url);
  } catch (error) {
    return { ok: false, stage: 'import', error: serializeError(error) };
  }
  const fn = module[request.exportName];
  if (typeof fn !== 'function') {
    const error = new TypeError(`export '${request.exportName}' is not a function (got ${typeof fn})`);
    return { ok: false, stage: 'export', error: serializeError(error) };
  }
  let value: unknown;
  try {
    value = await (fn as (...args: unknown[]) => unknown)(...request.args);
  } catch (error) {
    if (error instanceof Error) return { ok: false, stage: 'call', error: serializeError(error) };
    return cloneable(error)
      ? { ok: false, stage: 'call', thrown: error }
      : { ok: false, stage: 'call', error: serializeError(new Error(String(error))) };
  }
  try {
    structuredClone(value);
  } catch (error) {
    return { ok: false, stage: 'result', error: serializeError(error) };
  }
  return { ok: true, value };
}

/** Imports a module once per worker. */
function importModule(url: string): Promise<Record<string, unknown>> {
  let loading = modules.get(url);
  if (loading === undefined) {
    loading = load(url);
    modules.set(url, loading);
    loading.catch(() => modules.delete(url));
  }
  return loading;
}

/**
 * `import()`s the module. A TypeScript module that the worker's ESM loader cannot read (Node 20 does not apply
 * `--import` loader hooks in worker threads) is `require()`d instead, which works where a TypeScript loader
 * such as tsx has hooked `require` in this worker; if that fails too, the import error is the one reported.
 */
async function load(url: string): Promise<Record<string, unknown>> {
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw error;
    const path = fileURLToPath(url);
    try {
      return createRequire(path)(path) as Record<string, unknown>;
    } catch {
      throw error;
    }
  }
}

/** True if `value` survives a structured clone. */
function cloneable(value: unknown): boolean {
  try {
    structuredClone(value);
    return true;
  } catch {
    return false;
  }
}

/** Describes an error by its fields; keeps only the own properties (and cause) that can be cloned. */
function serializeError(error: unknown, depth = 0): SerializedError {
  const source = error instanceof Error ? error : new Error(String(error));
  const props: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(source)) {
    if (key !== 'cause' && cloneable(value)) props[key] = value;
  }
  const serialized: SerializedError = {
    name: typeof source.name === 'string' ? source.name : 'Error',
    message: typeof source.message === 'string' ? source.message : String(source.message),
    stack: typeof source.stack === 'string' ? source.stack : undefined,
    props,
  };
  if (source.cause !== undefined && depth < 8) {
    serialized.cause =
      source.cause instanceof Error
        ? serializeError(source.cause, depth + 1)
        : { value: cloneable(source.cause) ? source.cause : String(source.cause) };
  }
  return serialized;
}
