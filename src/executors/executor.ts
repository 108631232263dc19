/** The executor contract: an executor decides where and how many runs execute at once. */
import type { Logger } from 'pino';
import type { TaskFunction } from '../store.js';

/** One attempt of one run, handed to an executor. */
export interface Execution {
  taskId: string;
  /** Runs the task function in this process, inside its `currentRun()` context. */
  invoke(): Promise<unknown>;
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
  /** Executes one attempt and settles with the function's result or error. */
  execute(execution: Execution): Promise<unknown>;
}
