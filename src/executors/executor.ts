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

/** The listeners of `onAbort`, per signal: one real 'abort' listener per signal fans out to them. */
const abortListeners = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `listener` once when `signal` aborts (at once, synchronously, if it already has) and returns a function
 * that unsubscribes it; give each subscription its own function (one subscribed twice is called once). Unlike
 * `addEventListener`, which walks every listener already on the signal, this costs O(1) however many attempts
 * share one signal (a scheduler's runs without a timeout share its shutdown signal): `AsyncExecutor`'s waiting
 * attempts and the runs with a timeout follow that signal this way, and unsubscribe when they stop waiting.
 * @example const off = onAbort(execution.signal, giveUp); ... off();
 */
export function onAbort(signal: AbortSignal, listener: () => void): () => void {
  if (signal.aborted) {
    listener();
    return () => {};
  }
  const listeners = abortListeners.get(signal) ?? fanOut(signal);
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
  };
}

/** Adds the one real 'abort' listener of `signal`, which calls every `onAbort` listener of it. */
function fanOut(signal: AbortSignal): Set<() => void> {
  const listeners = new Set<() => void>();
  abortListeners.set(signal, listeners);
  signal.addEventListener(
    'abort',
    () => {
      abortListeners.delete(signal);
      for (const listener of listeners) callIsolated(listener);
      listeners.clear();
    },
    { once: true },
  );
  return listeners;
}

/** How many `onAbort` listeners wait on `signal` (for tests and diagnostics: settled work must leave none). */
export function pendingAbortListeners(signal: AbortSignal): number {
  return abortListeners.get(signal)?.size ?? 0;
}

/** Calls `listener`; an error it throws is reported as uncaught (as an EventTarget does) without stopping the others. */
function callIsolated(listener: () => void): void {
  try {
    listener();
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}
