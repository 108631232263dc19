/** The executor contract: an executor decides where and how many runs execute at once. */
import type { Logger } from 'pino';
import type { TaskFunction } from '../store.js';

/** One attempt of one run, handed to an executor. */
export interface Execution {
  taskId: string;
  /**
   * Runs the task function in this process, inside its `currentRun()` context: returns what the function
   * returns (a value, or a promise of one), or throws what it throws.
   */
  invoke(): unknown;
  /** The stored function (a name or module reference for executors that run elsewhere). */
  fn: string | TaskFunction;
  args: readonly unknown[];
  /** Aborted on timeout or forced shutdown; an executor stops the work if it can. */
  signal: AbortSignal;
}

/** What an executor is given when it starts. */
export interface ExecutorContext {
  logger: Logger;
  alias: string;
}

/** Executes task attempts. */
export interface Executor {
  /**
   * True if the executor loads module references itself (e.g. in worker threads): the scheduler then does
   * not import them in its own thread to check that they exist. @default false
   */
  readonly loadsFunctions?: boolean;
  /** Prepares the executor (e.g. a thread pool). */
  start(context: ExecutorContext): Promise<void>;
  /** Stops taking work; with `wait`, resolves when accepted work has finished. */
  shutdown(options: { wait: boolean }): Promise<void>;
  /**
   * Executes one attempt: returns the function's result, or a promise that settles with its result or error;
   * may throw the error of a function that failed synchronously. An executor that can start the attempt at once
   * in this thread (an `AsyncExecutor` with a free place) calls it before returning, so a burst of runs starts
   * without a promise hop per run.
   */
  execute(execution: Execution): unknown;
}

/** True for a promise or any other thenable (what `execute` and `invoke` may return for async work). */
export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
