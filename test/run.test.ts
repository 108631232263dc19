// The shared abort watch used by runs (src/run.ts): a run's wait ends on abort, and settled runs leave nothing behind;
// executeRun's timeout and retry delays wait their full length past setTimeout's 2^31-1 ms limit.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EventHub } from '../src/events.js';
import { AsyncExecutor, DateTrigger, type RunContext, type TaskRecord, TimeoutError } from '../src/index.js';
import { FunctionResolver } from '../src/references.js';
import { executeRun, type RunRequest, retryDelay, watchAbort } from '../src/run.js';
import { silentLogger } from './support/events.js';

describe('watchAbort', () => {
  it('settles like the work while the signal is not aborted', async () => {
    const watch = watchAbort(new AbortController());
    await expect(watch.race(Promise.resolve(42))).resolves.toBe(42);
    await expect(watch.race(Promise.reject(new Error('task failed')))).rejects.toThrow('task failed');
  });

  it('rejects every pending wait with the abort reason, and later waits at once', async () => {
    const controller = new AbortController();
    const watch = watchAbort(controller);
    const settled = [watch.race(Promise.resolve('done early'))];
    await settled[0];
    const pending = [watch.race(new Promise(() => {})), watch.race(new Promise(() => {}))];
    const reason = new Error('shutting down');
    controller.abort(reason);
    for (const wait of pending) await expect(wait).rejects.toBe(reason);
    await expect(watch.race(new Promise(() => {}))).rejects.toBe(reason);
  });
});

describe('retryDelay', () => {
  it('grows by backoff per attempt and is capped by maxDelay', () => {
    const policy = { max: 5, delayMs: 100, backoff: 3, maxDelayMs: 1000, jitter: false };
    expect([1, 2, 3, 4].map((attempt) => retryDelay(policy, attempt))).toEqual([100, 300, 900, 1000]);
  });

  it('with jitter draws from [0, delay]', () => {
    const policy = { max: 5, delayMs: 400, backoff: 1, maxDelayMs: 1000, jitter: true };
    const delays = Array.from({ length: 200 }, () => retryDelay(policy, 1));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...delays)).toBeLessThanOrEqual(400);
    expect(new Set(delays).size).toBeGreaterThan(20);
  });
});

const DAY_MS = 86_400_000;

/** A run of `call` under `record` options, on an unlimited AsyncExecutor, reporting events to `events`. */
function runRequest(
  call: (context: RunContext) => unknown,
  options: Partial<TaskRecord> & { shutdown?: AbortController } = {},
): { request: RunRequest; events: EventHub } {
  const events = new EventHub(() => silentLogger);
  const { shutdown = new AbortController(), ...overrides } = options;
  const record: TaskRecord = {
    id: 't1',
    name: 't1',
    fn: () => {},
    trigger: new DateTrigger(0),
    args: [],
    executor: 'default',
    coalesce: true,
    misfireGraceTime: null,
    maxInstances: 1,
    nextRunTime: null,
    retries: null,
    timeout: null,
    tags: [],
    hooks: null,
    middleware: [],
    ...overrides,
  };
  const request: RunRequest = {
    record,
    store: 'default',
    scheduledRunTime: new Date(0),
    executor: new AsyncExecutor(),
    events,
    logger: silentLogger,
    call,
    shutdown: watchAbort(shutdown),
    history: null,
    resolver: new FunctionResolver(),
    runId: '',
    startedAt: 0,
    replayOf: undefined,
  };
  return { request, events };
}

describe("executeRun: durations past setTimeout's 2^31-1 ms limit (fake timers)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a 30-day timeout has not fired after 29 days, and fails the run with TimeoutError at 30 days', async () => {
    let signal: AbortSignal | undefined;
    const { request, events } = runRequest(
      (context) => {
        signal = context.signal;
        return new Promise(() => {});
      },
      { timeout: 30 * DAY_MS },
    );
    const errors: unknown[] = [];
    events.on('task:error', (event) => void errors.push(event.error));
    let ended = false;
    void executeRun(request)?.then(() => {
      ended = true;
    });
    await vi.advanceTimersByTimeAsync(29 * DAY_MS);
    expect(errors).toEqual([]);
    expect(signal?.aborted).toBe(false);
    expect(ended).toBe(false);
    await vi.advanceTimersByTimeAsync(DAY_MS);
    expect(ended).toBe(true);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(TimeoutError);
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBe(errors[0]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a 30-day retry delay waits 30 days before the next attempt', async () => {
    const attempts: number[] = [];
    const { request, events } = runRequest(
      (context) => {
        attempts.push(context.attempt);
        throw new Error(`fail ${context.attempt}`);
      },
      { retries: { max: 3, delayMs: 30 * DAY_MS, backoff: 1, maxDelayMs: 60 * DAY_MS, jitter: false } },
    );
    const errors: unknown[] = [];
    events.on('task:error', (event) => void errors.push(event.error));
    void executeRun(request);
    await vi.advanceTimersByTimeAsync(1000);
    expect(attempts).toEqual([1]);
    await vi.advanceTimersByTimeAsync(29 * DAY_MS);
    expect(attempts).toEqual([1]);
    await vi.advanceTimersByTimeAsync(DAY_MS);
    expect(attempts).toEqual([1, 2]);
    await vi.advanceTimersByTimeAsync(60 * DAY_MS);
    expect(attempts).toEqual([1, 2, 3, 4]);
    expect(errors).toHaveLength(1);
  });

  it('a shutdown during a 30-day retry delay ends the run at once, without another attempt', async () => {
    const shutdown = new AbortController();
    let attempts = 0;
    const { request, events } = runRequest(
      () => {
        attempts++;
        throw new Error('fail');
      },
      {
        shutdown,
        retries: { max: 3, delayMs: 30 * DAY_MS, backoff: 1, maxDelayMs: 30 * DAY_MS, jitter: false },
      },
    );
    const errors: unknown[] = [];
    events.on('task:error', (event) => void errors.push(event.error));
    const ended = executeRun(request);
    await vi.advanceTimersByTimeAsync(DAY_MS);
    shutdown.abort(new Error('shutting down'));
    await ended;
    expect(attempts).toBe(1);
    expect(errors).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('executeRun: a run with a timeout and the shutdown signal', () => {
  it("a shutdown aborts a running attempt's own signal; an ended run no longer follows the shutdown signal", async () => {
    const shutdown = new AbortController();
    const signals: AbortSignal[] = [];
    const { request: hung } = runRequest(
      (context) => {
        signals.push(context.signal);
        return new Promise(() => {});
      },
      { shutdown, timeout: 60_000 },
    );
    const { request: quick } = runRequest(
      (context) => {
        signals.push(context.signal);
        return Promise.resolve('done');
      },
      { shutdown, timeout: 60_000 },
    );
    const hungEnded = executeRun({ ...hung, shutdown: quick.shutdown });
    await executeRun(quick);
    const [hungSignal, quickSignal] = signals as [AbortSignal, AbortSignal];
    expect(hungSignal).not.toBe(shutdown.signal);
    const reason = new Error('shutting down');
    shutdown.abort(reason);
    await hungEnded;
    expect(hungSignal.reason).toBe(reason);
    expect(quickSignal.aborted).toBe(false);
  });
});
