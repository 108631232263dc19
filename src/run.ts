/** Running one run of a task: attempts, retries with backoff, timeout, abort, events. */
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { type RunContext, runStorage } from './context.js';
import { TimeoutError, ValueError } from './errors.js';
import type { EventHub } from './events.js';
import { type Execution, type Executor, isPromiseLike, onAbort } from './executors/executor.js';
import type { HistoryWriter, StartedRun, StartedRunOutcome } from './history-writer.js';
import { setLongTimeout, sleep } from './long-timeout.js';
import type { FunctionResolver } from './references.js';
import type { RetryPolicy, TaskFunction, TaskHooks, TaskRecord } from './store.js';

/** Everything one run needs; what history records of it (`StartedRun`) among it. */
export interface RunRequest extends StartedRun {
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
  /** Records the run's end in history; null when history is off. */
  history: HistoryWriter | null;
  /** Resolves the names of the task's hooks (`record.hooks`). */
  resolver: FunctionResolver;
  /** Told how the run ended (after its retries), when other tasks' after-triggers wait for it; else null. */
  ended?: ((succeeded: boolean) => void) | null;
}

/** The delay before retry number `attempt` (1-based) under `policy`. */
export function retryDelay(policy: RetryPolicy, attempt: number): number {
  const grown = Math.min(policy.maxDelayMs, policy.delayMs * policy.backoff ** (attempt - 1));
  return Math.round(policy.jitter ? Math.random() * grown : grown);
}

/**
 * Executes a run to its end (with retries); never throws or rejects: failures become `task:error` events.
 * A run whose function returns synchronously (and needs no retry) has ended when this returns undefined, and
 * no promise was made for it; otherwise the returned promise settles when the run has ended.
 */
export function executeRun(request: RunRequest): Promise<void> | undefined {
  return new RunExecution(request).attempt(1);
}

/** One run's attempts, and the task's child logger, built only if something logs (most runs never do). */
class RunExecution {
  readonly request: RunRequest;
  #logger: Logger | undefined;

  constructor(request: RunRequest) {
    this.request = request;
  }

  /** The logger bound to the task id. */
  get logger(): Logger {
    this.#logger ??= this.request.logger.child({ taskId: this.request.record.id });
    return this.#logger;
  }

  /** Attempt number `attempt` and, if it fails, the retries after it. */
  attempt(attempt: number): Promise<void> | undefined {
    const started = performance.now();
    let result: unknown;
    let async: boolean;
    try {
      result = startAttempt(this, attempt);
      async = isPromiseLike(result);
    } catch (error) {
      return this.#failed(attempt, error);
    }
    if (!async) {
      this.#succeeded(result, started, attempt);
      return undefined;
    }
    return Promise.resolve(result).then(
      (value) => this.#succeeded(value, started, attempt),
      (error: unknown) => this.#failed(attempt, error),
    );
  }

  #succeeded(result: unknown, started: number, attempt: number): void {
    const { events, record, history, ended } = this.request;
    if (history !== null) this.#record(history, 'success', attempt, result);
    if (ended != null) ended(true);
    const hook = record.hooks?.onSuccess;
    if (!events.has('task:executed') && hook === undefined) return;
    const payload = {
      taskId: record.id,
      store: this.request.store,
      scheduledRunTime: this.request.scheduledRunTime,
      result,
      durationMs: performance.now() - started,
    };
    // Listeners are isolated by the hub: emitting never throws.
    events.emit('task:executed', payload);
    if (hook !== undefined) this.#callHook('onSuccess', hook, payload);
  }

  /**
   * Calls one of the task's hooks with an event's payload. Not awaited: it runs after the run ended. A hook that
   * throws or rejects, or a name no function is registered under in this process, is logged and changes nothing.
   */
  #callHook(kind: keyof TaskHooks, hook: string | TaskFunction, payload: unknown): void {
    const { record, resolver } = this.request;
    const fn = typeof hook === 'function' ? hook : resolver.resolveSync(hook);
    const failed = (error: unknown) =>
      this.#log('error', { err: error, hook: kind }, `task '${record.id}': its ${kind} hook failed`);
    if (fn === undefined) {
      failed(new ValueError(`no function named '${String(hook)}' in this scheduler's functions`));
      return;
    }
    try {
      const returned = fn(payload);
      if (isPromiseLike(returned)) Promise.resolve(returned).catch(failed);
    } catch (error) {
      failed(error);
    }
  }

  /** Retries after the policy's delay if attempts are left (and no shutdown aborted the run); else reports. */
  #failed(attempt: number, error: unknown): Promise<void> | undefined {
    const { record, store, scheduledRunTime, events } = this.request;
    const shutdownSignal = this.request.shutdown.signal;
    if (attempt < 1 + (record.retries?.max ?? 0) && !shutdownSignal.aborted) {
      const delayMs = retryDelay(record.retries as RetryPolicy, attempt);
      this.#log('warn', { err: error, attempt, delayMs }, `task '${record.id}' failed, retrying`);
      const payload = { taskId: record.id, store, scheduledRunTime, error, attempt, delayMs };
      events.emit('task:retry', payload);
      if (record.hooks?.onRetry !== undefined) this.#callHook('onRetry', record.hooks.onRetry, payload);
      return sleep(delayMs, shutdownSignal).then((slept) =>
        slept ? this.attempt(attempt + 1) : this.#reportFailure(attempt, error),
      );
    }
    this.#reportFailure(attempt, error);
    return undefined;
  }

  /** The run's last attempt failed: log and emit `task:error`. */
  #reportFailure(attempt: number, error: unknown): void {
    const { record, store, scheduledRunTime, events, history, ended } = this.request;
    if (ended != null) ended(false);
    if (history !== null) {
      // A run that failed once shutdown aborted the runs was aborted, whatever it threw on seeing the signal.
      const shutdown = this.request.shutdown.signal;
      const outcome = error instanceof TimeoutError ? 'timeout' : shutdown.aborted ? 'aborted' : 'error';
      this.#record(history, outcome, attempt, error);
    }
    this.#log(
      'error',
      { err: error, attempt, scheduledRunTime: scheduledRunTime.toISOString() },
      `task '${record.id}' run scheduled for ${scheduledRunTime.toISOString()} failed`,
    );
    const payload = { taskId: record.id, store, scheduledRunTime, error, attempt };
    events.emit('task:error', payload);
    if (record.hooks?.onFailure !== undefined) this.#callHook('onFailure', record.hooks.onFailure, payload);
  }

  /** Records the run's end; recording history must never break the run's own reporting. */
  #record(
    history: HistoryWriter,
    outcome: StartedRunOutcome,
    attempts: number,
    resultOrError: unknown,
  ): void {
    try {
      history.recordRun(this.request, outcome, attempts, resultOrError);
    } catch (error) {
      this.#log('error', { err: error }, `task '${this.request.record.id}': recording its run failed`);
    }
  }

  /**
   * Logs a failure. The scheduler's logger cannot throw on an odd error (`withSafeErrorSerializer`), but a
   * logger can fail for its own reasons: that must never abort the dispatch this run was started from.
   */
  #log(level: 'warn' | 'error', fields: Record<string, unknown>, message: string): void {
    try {
      this.logger[level](fields, message);
    } catch {
      // Nothing left to report it to.
    }
  }
}

/** What `currentRun()` returns inside one attempt. */
class AttemptContext implements RunContext {
  readonly taskId: string;
  readonly scheduledRunTime: Date;
  readonly attempt: number;
  readonly signal: AbortSignal;
  readonly #run: RunExecution;

  constructor(run: RunExecution, attempt: number, signal: AbortSignal) {
    this.taskId = run.request.record.id;
    this.scheduledRunTime = run.request.scheduledRunTime;
    this.attempt = attempt;
    this.signal = signal;
    this.#run = run;
  }

  get logger(): Logger {
    return this.#run.logger;
  }
}

/** One attempt as an executor gets it; `invoke()` calls the task inside the attempt's `currentRun()` context. */
class AttemptExecution implements Execution {
  readonly taskId: string;
  readonly fn: string | TaskFunction;
  readonly args: readonly unknown[];
  readonly signal: AbortSignal;
  /** Bound to this attempt, so an executor may pass it on by itself. */
  readonly invoke: () => unknown;

  constructor(record: TaskRecord, context: AttemptContext, call: (context: RunContext) => unknown) {
    this.taskId = record.id;
    this.fn = record.fn;
    this.args = record.args;
    this.signal = context.signal;
    this.invoke = () => runStorage.run(context, call, context);
  }
}

/**
 * Starts one attempt: returns the task's result if it came synchronously, or a promise that settles with it,
 * or rejects with its error, `TimeoutError` or the abort reason; throws a synchronous failure.
 */
function startAttempt(run: RunExecution, attempt: number): unknown {
  const { request } = run;
  const { record } = request;
  // Without a timeout, the run's signal is the scheduler's shutdown signal itself: no per-run controller,
  // listener or timer on the hot path of a burst.
  const abort =
    record.timeout === null ? request.shutdown : timeoutAbort(request.shutdown, record.id, record.timeout);
  const context = new AttemptContext(run, attempt, abort.signal);
  let execution: unknown;
  let async: boolean;
  try {
    execution = request.executor.execute(new AttemptExecution(record, context, request.call));
    async = isPromiseLike(execution);
  } catch (error) {
    abort.dispose?.();
    throw error;
  }
  if (!async) {
    abort.dispose?.();
    return execution;
  }
  const raced = abort.race(Promise.resolve(execution));
  return abort.dispose === undefined ? raced : raced.finally(abort.dispose);
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

/**
 * Watches `controller`'s signal; made once per scheduler start for the shutdown signal, shared by runs. The
 * signal is the `currentRun().signal` of every run without a timeout, so any number of listeners may be on it
 * at once (tasks passing it to `fetch`, executors): Node's MaxListenersExceededWarning is turned off for it.
 */
export function watchAbort(controller: AbortController): AbortWatch {
  const { signal } = controller;
  setMaxListeners(0, signal);
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

/**
 * A per-attempt signal that aborts on shutdown or, with a `TimeoutError`, after `timeoutMs` (any length). It
 * follows the shutdown signal through `onAbort`, not a listener on it: many runs in flight add nothing there.
 */
function timeoutAbort(shutdown: AbortWatch, taskId: string, timeoutMs: number): AbortWatch {
  const controller = new AbortController();
  const stopFollowing = onAbort(shutdown.signal, () => controller.abort(shutdown.signal.reason));
  const timer = setLongTimeout(() => controller.abort(new TimeoutError(taskId, timeoutMs)), timeoutMs);
  return {
    ...watchAbort(controller),
    dispose: () => {
      timer.clear();
      stopFollowing();
    },
  };
}
