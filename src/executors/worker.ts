/**
 * `WorkerExecutor`: runs task attempts in a pool of worker threads (piscina), for CPU-bound work that would
 * otherwise block the scheduler's event loop. piscina is an optional peer dependency, loaded at `start()`.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Piscina } from 'piscina';
import { KairosError, SerializationError, ValueError } from '../errors.js';
import { isModuleReference } from '../references.js';
import type { TaskFunction } from '../store.js';

import { type DurationInput, MAX_TIMER_DELAY_MS, parseDuration } from '../time.js';
import { describeValue, rejectUnknownKeys } from '../validate.js';
import type { Execution, Executor, ExecutorContext } from './executor.js';
import type { SerializedError, WorkerRequest, WorkerResponse } from './worker-entry.js';

/** Options of `WorkerExecutor`. */
export interface WorkerExecutorOptions {
  /** The most worker threads, so the most attempts running at once; more wait in order. @default os.availableParallelism() */
  threads?: number;
  /**
   * How long a thread may stay idle before it exits (threads are started on demand). piscina's timer cannot
   * wait longer than 2^31-1 ms (about 24.8 days): a longer idleTimeout is accepted and lets idle threads exit
   * after that long. @default 30 s
   */
  idleTimeout?: DurationInput;
}

/** The default `idleTimeout`. */
const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

const OPTION_KEYS: ReadonlySet<string> = new Set(['threads', 'idleTimeout']);

/** A piscina pool as this executor uses it. */
type Pool = Piscina<WorkerRequest, WorkerResponse>;

/**
 * Runs tasks in worker threads (a piscina pool): right for CPU-bound work. The task must be a module reference
 * (`'./jobs.js#crunch'`, resolved against the scheduler's working directory) and its args and result must be
 * structured-cloneable. A task's `timeout` (or a forced shutdown) terminates the thread running it.
 */
export class WorkerExecutor implements Executor {
  /** Module references are imported in the worker threads, never in the scheduler's thread. */
  readonly loadsFunctions = true;
  /** The most worker threads. */
  readonly threads: number;
  /** How long an idle thread lives, in milliseconds (at most `2 ** 31 - 1`, the longest piscina's timer waits). */
  readonly idleTimeoutMs: number;
  /** The pool, between `start()` and `shutdown()`. */
  #pool: Pool | undefined;
  /** Attempts submitted and not yet settled (for `shutdown({ wait })`). */
  readonly #inFlight = new Set<Promise<unknown>>();

  /** @example new WorkerExecutor({ threads: 4, idleTimeout: { minutes: 1 } }) */
  constructor(options: WorkerExecutorOptions = {}) {
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new ValueError(`WorkerExecutor: options must be an object, got ${describeValue(options)}`);
    }
    rejectUnknownKeys(options, OPTION_KEYS, 'WorkerExecutor');
    const threads = options.threads ?? availableParallelism();
    if (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 1) {
      throw new ValueError(
        `WorkerExecutor: threads must be an integer of at least 1, got ${describeValue(options.threads)}`,
      );
    }
    const idleTimeoutMs = parseDuration(
      options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT_MS,
      'WorkerExecutor: idleTimeout',
    );
    this.threads = threads;
    this.idleTimeoutMs = Math.min(idleTimeoutMs, MAX_TIMER_DELAY_MS);
  }

  /** Loads piscina and creates the pool (threads start when work arrives). */
  async start(context: ExecutorContext): Promise<void> {
    if (this.#pool !== undefined) return;
    const { Piscina } = await loadPiscina();
    const entry = workerEntry();
    const pool: Pool = new Piscina<WorkerRequest, WorkerResponse>({
      filename: entry.filename,
      ...(entry.execArgv === undefined ? {} : { execArgv: entry.execArgv }),
      minThreads: 0,
      maxThreads: this.threads,
      idleTimeout: this.idleTimeoutMs,
      // Threads wait for work on their event loop, not in Atomics.wait, so work a task left behind still runs.
      atomics: 'disabled',
    });
    // A thread that fails outside any task (piscina emits 'error'; unhandled, that would crash the process).
    pool.on('error', (error: unknown) =>
      context.logger.error({ err: error, executor: context.alias }, 'WorkerExecutor: a worker thread failed'),
    );
    this.#pool = pool;
  }

  /** With `wait`, lets submitted attempts finish first; then terminates the threads. */
  async shutdown({ wait }: { wait: boolean }): Promise<void> {
    const pool = this.#pool;
    if (pool === undefined) return;
    if (wait) while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    this.#pool = undefined;
    await pool.destroy();
  }

  /**
   * Runs the attempt in a worker thread and settles with its (cloned) result or error. When the attempt's
   * signal aborts, a queued attempt is dropped and a running one's thread is terminated; either rejects with
   * the signal's reason.
   */
  async execute(execution: Execution): Promise<unknown> {
    const { taskId, signal } = execution;
    const request = toRequest(taskId, execution.fn, execution.args);
    const pool = this.#pool;
    if (pool === undefined) {
      throw new KairosError(`WorkerExecutor: not running, cannot run task '${taskId}'`);
    }
    signal.throwIfAborted();
    const attempt = this.#run(pool, request, signal);
    const settled = attempt.then(
      () => {},
      () => {},
    );
    this.#inFlight.add(settled);
    try {
      return await attempt;
    } finally {
      this.#inFlight.delete(settled);
    }
  }

  async #run(pool: Pool, request: WorkerRequest, signal: AbortSignal): Promise<unknown> {
    let response: WorkerResponse;
    try {
      response = await pool.run(request, { signal });
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (this.#pool !== pool) {
        throw new KairosError(
          `WorkerExecutor: task '${request.taskId}' was stopped because the executor shut down`,
          { cause: error },
        );
      }
      throw error;
    }
    return unpack(response, request);
  }
}

/** Checks that the attempt can run in a worker and builds the message for it. */
function toRequest(taskId: string, fn: string | TaskFunction, args: readonly unknown[]): WorkerRequest {
  if (typeof fn !== 'string' || !isModuleReference(fn)) {
    const what =
      typeof fn === 'function'
        ? `a function${fn.name ? ` ('${fn.name}')` : ''}`
        : `the registered name ${describeValue(fn)}`;
    throw new SerializationError(
      `task '${taskId}': WorkerExecutor runs module references only (like './jobs.js#crunch'), got ${what}; ` +
        'code cannot be sent to a worker thread',
    );
  }
  try {
    structuredClone(args);
  } catch (error) {
    throw new SerializationError(
      `task '${taskId}': WorkerExecutor needs structured-cloneable args (no functions, symbols, class ` +
        `instances with behaviour…): ${(error as Error).message}`,
      { cause: error },
    );
  }
  const hash = fn.lastIndexOf('#');
  const path = fn.slice(0, hash);
  const url = path.startsWith('file:')
    ? path
    : pathToFileURL(isAbsolute(path) ? path : resolve(process.cwd(), path)).href;
  return { taskId, url, exportName: fn.slice(hash + 1), args: [...args] };
}

/** The result of a worker's response, or the error it describes. */
function unpack(response: WorkerResponse, request: WorkerRequest): unknown {
  if (response.ok) return response.value;
  if ('thrown' in response) throw response.thrown;
  const error = deserializeError(response.error);
  const ref = describeValue(`${request.url}#${request.exportName}`);
  switch (response.stage) {
    case 'import':
      throw new SerializationError(
        `task '${request.taskId}': cannot import module reference ${ref} in a worker thread: ${error.message}`,
        { cause: error },
      );
    case 'export':
      throw new SerializationError(
        `task '${request.taskId}': module reference ${ref}: export '${request.exportName}' is not a function`,
        { cause: error },
      );
    case 'result':
      throw new SerializationError(
        `task '${request.taskId}': the result cannot be sent back from the worker thread ` +
          `(${error.message}); return structured-cloneable data`,
        { cause: error },
      );
    default:
      throw error;
  }
}

/** The built-in error classes, rebuilt as themselves; any other name becomes an `Error` carrying that name. */
const STANDARD_ERRORS: Record<string, ErrorConstructor> = {
  Error,
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
};

/** Rebuilds an error described by a worker: same name, message, stack, own properties and cause. */
function deserializeError(serialized: SerializedError): Error {
  const Constructor = Object.hasOwn(STANDARD_ERRORS, serialized.name)
    ? (STANDARD_ERRORS[serialized.name] as ErrorConstructor)
    : Error;
  const cause = serialized.cause;
  const error =
    cause === undefined
      ? new Constructor(serialized.message)
      : new Constructor(serialized.message, {
          cause: 'value' in cause ? cause.value : deserializeError(cause),
        });
  Object.assign(error, serialized.props);
  if (error.name !== serialized.name) error.name = serialized.name;
  if (serialized.stack !== undefined) error.stack = serialized.stack;
  return error;
}

/** Imports piscina, explaining how to install it when it is missing. */
async function loadPiscina(): Promise<{ Piscina: typeof Piscina }> {
  try {
    const module = (await import('piscina')) as { Piscina: typeof Piscina };
    return { Piscina: module.Piscina };
  } catch (error) {
    throw new KairosError(
      `WorkerExecutor needs the optional peer dependency 'piscina', which could not be loaded ` +
        `(${(error as Error).message}). Install it with: npm install piscina`,
      { cause: error },
    );
  }
}

/**
 * The worker entry next to this module: the compiled `worker-entry.js` in the built package; when kairos runs
 * from its TypeScript sources (tests, tsx), `worker-entry.ts`, loaded in the threads through tsx.
 */
function workerEntry(): { filename: string; execArgv?: string[] } {
  const compiled = new URL('./worker-entry.js', import.meta.url);
  if (existsSync(compiled)) return { filename: fileURLToPath(compiled) };
  const source = new URL('./worker-entry.ts', import.meta.url);
  if (!existsSync(source)) {
    throw new KairosError(`WorkerExecutor: its worker entry ${fileURLToPath(compiled)} is missing`);
  }
  let loader: string;
  try {
    loader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  } catch (error) {
    throw new KairosError(
      'WorkerExecutor: running kairos from its TypeScript sources needs tsx to load the worker entry ' +
        'in worker threads. Install it with: npm install --save-dev tsx',
      { cause: error },
    );
  }
  return { filename: fileURLToPath(source), execArgv: ['--import', loader] };
}
