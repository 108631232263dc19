/** Running one run of a task: attempts, retries with backoff, timeout, abort, events. */
import type { Logger } from 'pino';
import { type RunContext, runStorage } from './context.js';
import { TimeoutError } from './errors.js';
import type { EventHub } from './events.js';
import type { Executor } from './executors/executor.js';
import type { RetryPolicy, TaskRecord } from './store.js';

/** Everything one run needs. */
export interface RunRequest {
  record: TaskRecord;
  /** Alias of the task's store, for events. */
  store: string;
  scheduledRunTime: Date;
  executor: Executor;
  events: EventHub;
  logger: Logger;
  /** Calls the task for one attempt, inside the attempt's context. */
  call: (context: RunContext) => unknown;
  /** Aborts when the scheduler gives up waiting at shutdown: the attempt is aborted and no retry follows. */
  shutdown: AbortWatch;
}

/** How a run ended. */
export type RunOutcome = { ok: true; result: unknown } | { ok: false; error: unknown };

/** The delay before retry number `attempt` (1-based) under `policy`. */
export function retryDelay(policy: RetryPolicy, attempt: number): number {
  const grown = Math.min(policy.maxDelayMs, policy.delayMs * policy.backoff ** (attempt - 1));
  return Math.round(policy.jitter ? Math.random() * grown : grown);
}

/** Executes a run to its end (with retries); never rejects: failures become `task:error` events. */
export async function executeRun(request: RunRequest): Promise<RunOutcome> {
  const { record, store, scheduledRunTime, events } = request;
  const shutdownSignal = request.shutdown.signal;
  // The task's child logger is built only when something logs (most runs never do).
  let taskLogger: Logger | undefined;
  const logger = () => {
    taskLogger ??= request.logger.child({ taskId: record.id });
    return taskLogger;
  };
  const maxAttempts = 1 + (record.retries?.max ?? 0);
  for (let attempt = 1; ; attempt++) {
    const started = performance.now();
    try {
      const result = await executeAttempt(request, attempt, logger);
      events.emit('task:executed', {
        taskId: record.id,
        store,
        scheduledRunTime,
        result,
        durationMs: performance.now() - started,
      });
      return { ok: true, result };
    } catch (error) {
      if (attempt < maxAttempts && !shutdownSignal.aborted) {
        const delayMs = retryDelay(record.retries as RetryPolicy, attempt);
        logger().warn({ err: error, attempt, delayMs }, `task '${record.id}' failed, retrying`);
        events.emit('task:retry', { taskId: record.id, store, scheduledRunTime, error, attempt, delayMs });
        if (await sleep(delayMs, shutdownSignal)) continue;
      }
      logger().error(
        { err: error, attempt, scheduledRunTime: scheduledRunTime.toISOString() },
        `task '${record.id}' run scheduled for ${scheduledRunTime.toISOString()} failed`,
      );
      events.emit('task:error', { taskId: record.id, store, scheduledRunTime, error, attempt });
      return { ok: false, error };
    }
  }
}

/** One attempt: settles with the task's result, or rejects with its error, `TimeoutError` or the abort reason. */
async function executeAttempt(request: RunRequest, attempt: number, logger: () => Logger): Promise<unknown> {
  const { record } = request;
  // Without a timeout, the run's signal is the scheduler's shutdown signal itself: no per-run controller,
  // listener or timer on the hot path of a burst.
  const abort =
    record.timeout === null ? request.shutdown : timeoutAbort(request.shutdown, record.id, record.timeout);
  let runLogger: Logger | undefined;
  const context: RunContext = {
    taskId: record.id,
    scheduledRunTime: request.scheduledRunTime,
    attempt,
    signal: abort.signal,
    get logger() {
      runLogger ??= logger();
      return runLogger;
    },
  };
  try {
    const execution = request.executor.execute({
      taskId: record.id,
      fn: record.fn,
      args: record.args,
      signal: abort.signal,
      invoke: async () => runStorage.run(context, () => request.call(context)),
    });
    return await abort.race(execution);
  } finally {
    abort.dispose?.();
  }
}

/** An abort signal, and a way to stop waiting for work when it aborts. */
export interface AbortWatch {
  signal: AbortSignal;
  /**
   * Settles like `work`, or rejects with the abort reason as soon as the signal aborts. Each call registers a
   * waiter that is dropped when `work` settles, so a long-lived watch shared by many runs never accumulates.
   */
  race<T>(work: Promise<T>): Promise<T>;
  /** Releases timers and listeners (for per-run watches). */
  dispose?: () => void;
}

/** Watches `controller`'s signal; made once per scheduler start for the shutdown signal, shared by runs. */
export function watchAbort(controller: AbortController): AbortWatch {
  const { signal } = controller;
  const waiters = new Set<(reason: unknown) => void>();
  signal.addEventListener(
    'abort',
    () => {
      for (const reject of waiters) reject(signal.reason);
      waiters.clear();
    },
    { once: true },
  );
  return {
    signal,
    race<T>(work: Promise<T>): Promise<T> {
      if (signal.aborted) return Promise.reject(signal.reason);
      return new Promise<T>((resolve, reject) => {
        waiters.add(reject);
        work.then(
          (value) => {
            waiters.delete(reject);
            resolve(value);
          },
          (error: unknown) => {
            waiters.delete(reject);
            reject(error);
          },
        );
      });
    },
  };
}

/** A per-attempt signal that aborts on shutdown or, with a `TimeoutError`, after `timeoutMs`. */
function timeoutAbort(shutdown: AbortWatch, taskId: string, timeoutMs: number): AbortWatch {
  const controller = new AbortController();
  const abortOnShutdown = () => controller.abort(shutdown.signal.reason);
  if (shutdown.signal.aborted) abortOnShutdown();
  else shutdown.signal.addEventListener('abort', abortOnShutdown, { once: true });
  const timer = setTimeout(() => controller.abort(new TimeoutError(taskId, timeoutMs)), timeoutMs);
  return {
    ...watchAbort(controller),
    dispose: () => {
      clearTimeout(timer);
      shutdown.signal.removeEventListener('abort', abortOnShutdown);
    },
  };
}

/** Waits `ms`; resolves true when the time passed, false when `signal` aborted first. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
