// The `timeout` option of addTask through the public Scheduler (API.md): a timed-out run ends at once, freeing its
// executor place even if its function never settles (so other tasks keep running and shutdown() returns); durations
// past setTimeout's 2^31-1 ms limit wait their length; many runs in flight print no MaxListenersExceededWarning.
// Real time (each test well under 3 s) where real promises and timers race; the rest on the fake clock.
import { afterEach, describe, expect, it } from 'vitest';
import {
  AsyncExecutor,
  currentRun,
  DateTrigger,
  IntervalTrigger,
  Scheduler,
  TimeoutError,
} from '../../src/index.js';
import { payloads, silentLogger } from '../support/events.js';
import { T0, useFakeClock } from '../support/fake-clock.js';

const DAY_MS = 86_400_000;

/** Resolves with `value` after `ms`. */
const delay = <T>(ms: number, value?: T) =>
  new Promise<T | undefined>((resolve) => setTimeout(resolve, ms, value));

/** A task function that never settles. */
const hang = () => new Promise<never>(() => {});

describe('task timeouts through the Scheduler', () => {
  let scheduler: Scheduler | undefined;
  afterEach(async () => {
    if (scheduler?.running) await Promise.race([scheduler.shutdown({ wait: false }), delay(1000)]);
    scheduler = undefined;
  });

  function start(concurrency?: number): Promise<Scheduler> {
    const s = new Scheduler({
      logger: silentLogger,
      timezone: 'UTC',
      executors: { default: new AsyncExecutor(concurrency === undefined ? {} : { concurrency }) },
    });
    scheduler = s;
    return s.start().then(() => s);
  }

  /** Resolves with the error of the first `task:error` of `taskId`. */
  function nextError(s: Scheduler, taskId: string): Promise<unknown> {
    return new Promise((resolve) => {
      s.on('task:error', (event) => {
        if (event.taskId === taskId) resolve(event.error);
      });
    });
  }

  it('a hung task that timed out frees its place: a 100 ms heartbeat keeps running with concurrency 1', async () => {
    const s = await start(1);
    const timedOut = nextError(s, 'hung');
    let beats = 0;
    s.on('task:executed', (event) => {
      if (event.taskId === 'heartbeat') beats++;
    });
    await s.addTask(hang, { id: 'hung', trigger: new DateTrigger(Date.now()), timeout: 200 });
    await s.addTask(() => {}, { id: 'heartbeat', trigger: new IntervalTrigger({ milliseconds: 100 }) });
    expect(await timedOut).toBeInstanceOf(TimeoutError);
    const before = beats;
    await delay(1000);
    expect(beats - before).toBeGreaterThanOrEqual(5);
  });

  it('a 30-day timeout does not cut a 300 ms run short', async () => {
    const s = await start();
    const done = new Promise<unknown>((resolve) => {
      s.on('task:executed', (event) => resolve(event.result));
      s.on('task:error', (event) => resolve(event.error));
    });
    await s.addTask(() => delay(300, 'finished'), {
      id: 'slow',
      trigger: new DateTrigger(Date.now()),
      timeout: { days: 30 },
    });
    expect(await done).toBe('finished');
  });

  it('a 30-day retry delay makes one attempt, not all of them at once; shutdown({ timeout }) ends the wait', async () => {
    const s = await start();
    const attempts: number[] = [];
    const delays: number[] = [];
    s.on('task:retry', (event) => void delays.push(event.delayMs));
    const failed = nextError(s, 'flaky');
    await s.addTask(
      () => {
        attempts.push(currentRun()?.attempt ?? 0);
        throw new Error('down');
      },
      {
        id: 'flaky',
        trigger: new DateTrigger(Date.now()),
        // The default maxDelay (1 hour) never shortens a longer delay the user asked for.
        retries: { max: 3, delay: { days: 30 } },
      },
    );
    await delay(300);
    expect(attempts).toEqual([1]);
    expect(delays).toEqual([30 * DAY_MS]);
    await s.shutdown({ timeout: 100 });
    expect(await failed).toHaveProperty('message', 'down');
    expect(attempts).toEqual([1]);
  });
});

describe('many runs in flight', () => {
  let scheduler: Scheduler | undefined;
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => void warnings.push(warning);
  afterEach(async () => {
    process.off('warning', onWarning);
    if (scheduler?.running) await scheduler.shutdown({ wait: false });
    scheduler = undefined;
  });

  /** Runs `count` tasks due now at once, each `fn`, with `timeout` if given; resolves when all have ended. */
  async function runConcurrently(count: number, fn: () => Promise<unknown>, timeout?: number): Promise<void> {
    warnings.length = 0;
    process.on('warning', onWarning);
    const s = new Scheduler({ logger: silentLogger, timezone: 'UTC' });
    scheduler = s;
    await s.start();
    let ended = 0;
    const all = new Promise<void>((resolve) => {
      const end = () => {
        if (++ended === count) resolve();
      };
      s.on('task:executed', end);
      s.on('task:error', end);
    });
    const at = new DateTrigger(Date.now() + 100);
    for (let i = 0; i < count; i++) {
      await s.addTask(fn, { id: `run-${i}`, trigger: at, ...(timeout === undefined ? {} : { timeout }) });
    }
    await all;
    await s.shutdown();
    await new Promise((resolve) => setImmediate(resolve));
  }

  it('50 concurrent runs with a timeout print no MaxListenersExceededWarning', async () => {
    let inFlight = 0;
    let most = 0;
    await runConcurrently(
      50,
      async () => {
        most = Math.max(most, ++inFlight);
        await delay(200);
        inFlight--;
      },
      5 * DAY_MS,
    );
    expect(most).toBe(50);
    expect(warnings.map((warning) => warning.name)).toEqual([]);
  });

  it('50 concurrent runs without a timeout, each listening to currentRun().signal, print no warning', async () => {
    await runConcurrently(50, async () => {
      const signal = currentRun()?.signal as AbortSignal;
      const onAbort = () => {};
      signal.addEventListener('abort', onAbort);
      await delay(200);
      signal.removeEventListener('abort', onAbort);
    });
    expect(warnings.map((warning) => warning.name)).toEqual([]);
  });
});

describe('timed-out runs on the fake clock', () => {
  const clock = useFakeClock();

  // API.md "timeout": the timed-out run ends, its executor place is freed at once, even if the function never
  // settles; so shutdown() (which waits for runs in progress) returns without any time passing.
  it('shutdown() without a timeout returns at once after a hung run has timed out', async () => {
    const scheduler = await clock.started();
    const seen = clock.record(scheduler, 'task:error');
    await scheduler.addTask(hang, { id: 'hung', trigger: new DateTrigger(T0), timeout: 100 });
    await clock.advance(200);
    expect(payloads(seen, 'task:error').map((e) => e.error)).toEqual([expect.any(TimeoutError)]);
    let done = false;
    void scheduler.shutdown().then(() => (done = true));
    await clock.advance(0);
    expect(done).toBe(true);
    expect(scheduler.running).toBe(false);
  });

  // API.md "timeout": a timed-out run ends; with shutdown({ wait, timeout }), shutdown waits for runs up to its
  // timeout, and a run that already timed out holds neither its executor place nor shutdown.
  it('shutdown({ wait, timeout }) returns by its timeout although a timed-out attempt never settles', async () => {
    const scheduler = clock.scheduler();
    const seen = clock.record(scheduler, 'task:error');
    await scheduler.start();
    await scheduler.addTask(() => new Promise(() => {}), {
      trigger: new DateTrigger(T0 + 1000),
      timeout: 100,
    });
    await clock.advance(2000);
    expect(payloads(seen, 'task:error').map((e) => e.error)).toEqual([expect.any(TimeoutError)]);
    // The timed-out attempt ended: it holds neither its executor place nor shutdown, which returns at once.
    let done = false;
    void scheduler.shutdown({ wait: true, timeout: 1000 }).then(() => (done = true));
    await clock.advance(1);
    expect(done).toBe(true);
    expect(scheduler.running).toBe(false);
  });

  // API.md "timeout": a run that timed out fails with TimeoutError and never runs later; shutdown({ wait: false })
  // starts nothing that was still waiting for an executor place.
  it('a run waiting in the executor queue never runs once it timed out, nor after shutdown', async () => {
    const scheduler = clock.scheduler({ executors: { default: new AsyncExecutor({ concurrency: 1 }) } });
    const ran: string[] = [];
    const seen = clock.record(scheduler, 'task:error');
    await scheduler.start();
    const block = (id: string) => async () => {
      ran.push(id);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    };
    await scheduler.addTask(block('A'), { id: 'A', trigger: new DateTrigger(T0 + 10) });
    await scheduler.addTask(block('C'), { id: 'C', trigger: new DateTrigger(T0 + 10), timeout: 300 });
    await clock.advance(320);
    expect(payloads(seen, 'task:error')[0]?.error).toBeInstanceOf(TimeoutError);
    await scheduler.addTask(block('B'), { id: 'B', trigger: new DateTrigger(T0 + 400) });
    await clock.advance(100);
    await scheduler.shutdown({ wait: false });
    await clock.advance(3000);
    expect(ran).toEqual(['A']);
  });

  it('a 30-day shutdown timeout waits for a run, and aborts it only after 30 days', async () => {
    const scheduler = clock.scheduler();
    const outcomes: string[] = [];
    await scheduler.start();
    await scheduler.addTask(
      async () => {
        // Runs until its signal aborts.
        const signal = currentRun()?.signal as AbortSignal;
        await new Promise((resolve) => signal.addEventListener('abort', resolve));
        outcomes.push('aborted');
      },
      { trigger: new DateTrigger(Date.now() + 100) },
    );
    await clock.advance(200);
    let done = false;
    void scheduler.shutdown({ timeout: { days: 30 } }).then(() => {
      done = true;
    });
    await clock.advance(29 * DAY_MS);
    expect(done).toBe(false);
    expect(outcomes).toEqual([]);
    await clock.advance(DAY_MS + 1000);
    expect(done).toBe(true);
    expect(outcomes).toEqual(['aborted']);
  });
});
