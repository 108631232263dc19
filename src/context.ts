/** `currentRun()`: what a task function can learn about the run it is in, through AsyncLocalStorage. */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from 'pino';

/** The context of one run, as `currentRun()` returns it inside a task. */
export interface RunContext {
  taskId: string;
  /** The fire time this run is for. */
  scheduledRunTime: Date;
  /** 1-based attempt number (above 1 for retries). */
  attempt: number;
  /** Aborted when the run times out or the scheduler shuts down without waiting. */
  signal: AbortSignal;
  /** A child of the scheduler's logger bound to the task id. */
  logger: Logger;
}

/** Holds the context of the run whose code is executing. */
export const runStorage = new AsyncLocalStorage<RunContext>();

/** The context of the run this code executes in, or `undefined` outside a run. */
export function currentRun(): RunContext | undefined {
  return runStorage.getStore();
}
