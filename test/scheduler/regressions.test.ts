// Regression tests for defects found in review; each names the rule of API.md it protects.

import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { planDispatch } from '../../src/dispatcher.js';
import {
  AsyncExecutor,
  DateTrigger,
  IntervalTrigger,
  MemoryStore,
  OrTrigger,
  type RunSlotClaim,
  Scheduler,
  TimeoutError,
  ValueError,
} from '../../src/index.js';
import { makeRecord } from '../stores/harness.js';
import { payloads, recordEvents, silentLogger } from '../support/events.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');

describe('regressions (fake timers)', () => {
  let scheduler: Scheduler;
  beforeEach(() => {
    vi.useFakeTimers({ now: T0 });
    scheduler = new Scheduler({ logger: silentLogger, timezone: 'UTC' });
  });
  afterEach(async () => {
    if (scheduler.running) await scheduler.shutdown({ wait: false });
    vi.useRealTimers();
  });

  it('no run starts before its time: a task removed and re-added with the same id keeps only its new time', async () => {
    const ranAt: number[] = [];
    await scheduler.start();
    await scheduler.addTask(() => {}, { id: 'a', trigger: new DateTrigger(T0 + 300) });
    await scheduler.removeTask('a');
    await scheduler.addTask(() => void ranAt.push(Date.now() - T0), {
      id: 'a',
      trigger: new DateTrigger(T0 + 3000),
    });
    await vi.advanceTimersByTimeAsync(5000);
    expect(ranAt).toEqual([3000]);
  });

  it('no scheduled time runs twice when a store fails to claim a run slot once', async () => {
    // A shared store (run slots kept in the store) whose first claim for 'bad' fails.
    let failures = 1;
    const flaky = Object.assign(new MemoryStore(), {
      shared: true,
      async claimRunSlot(claim: RunSlotClaim): Promise<boolean> {
        if (claim.taskId === 'bad' && failures-- > 0) throw new Error('store hiccup');
        return true;
      },
      async renewRunSlots(): Promise<void> {},
      async releaseRunSlot(): Promise<void> {},
    });
    scheduler = new Scheduler({ logger: silentLogger, stores: { default: flaky } });
    const seen = recordEvents(scheduler, 'task:executed', 'task:error');
    await scheduler.start();
    await scheduler.addTask(() => 'bad', {
      id: 'bad',
      trigger: new DateTrigger(T0 + 200),
      misfireGraceTime: null,
    });
    await scheduler.addTask(() => 'good', {
      id: 'good',
      trigger: new DateTrigger(T0 + 200),
      misfireGraceTime: null,
    });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(payloads(seen, 'task:executed').map((e) => e.taskId)).toEqual(['good']);
    expect(payloads(seen, 'task:error').map((e) => e.taskId)).toEqual(['bad']);
  });

  it('a failing store is retried with backoff, not in a hot loop', async () => {
    const store = new MemoryStore();
    const acquire = vi.spyOn(store, 'acquireDueTasks').mockRejectedValue(new Error('disk on fire'));
    scheduler = new Scheduler({ logger: silentLogger, stores: { default: store } });
    await scheduler.start();
    await vi.advanceTimersByTimeAsync(10_000);
    // 1 s, 2 s, 4 s backoff after the first failure at 0: at most a handful of tries in 10 s.
    expect(acquire.mock.calls.length).toBeGreaterThanOrEqual(3);
    expect(acquire.mock.calls.length).toBeLessThanOrEqual(5);
  });

  it('a slow lifecycle step does not stall other tasks, and its setup may add tasks', async () => {
    const ticks: number[] = [];
    async function* slowSetup() {
      await scheduler.addTask(() => void ticks.push(Date.now() - T0), {
        id: 'tick',
        trigger: new IntervalTrigger({ milliseconds: 100 }, { startAt: T0 + 100 }),
      });
      for (;;) {
        yield;
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    }
    await scheduler.start();
    await scheduler.addTask(slowSetup, {
      id: 'slow',
      trigger: new IntervalTrigger({ hours: 1 }, { startAt: T0 + 50 }),
    });
    await vi.advanceTimersByTimeAsync(1000);
    expect(ticks).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
    // Removal waits for the generator's cleanup (behind its 2 s step); other calls do not wait for it.
    const removing = scheduler.removeTask('slow');
    await scheduler.addTask(() => {}, { id: 'after', trigger: new DateTrigger(T0 + 5000) });
    expect((await scheduler.getTask('after'))?.id).toBe('after');
    expect(await scheduler.getTask('slow')).toBeUndefined();
    await vi.advanceTimersByTimeAsync(2000);
    await removing;
  });

  it('replacing a lifecycle task while it runs keeps the replacement', async () => {
    const log: string[] = [];
    function makeGenerator(version: string) {
      return async function* () {
        try {
          for (;;) {
            yield;
            await new Promise((resolve) => setTimeout(resolve, 500));
            return 'done';
          }
        } finally {
          log.push(`close ${version}`);
        }
      };
    }
    await scheduler.start();
    await scheduler.addTask(makeGenerator('v1'), { id: 'life', trigger: new IntervalTrigger({ hours: 1 }) });
    await scheduler.runTaskNow('life');
    // Replacing waits for the old generator's cleanup, which waits for its step in progress.
    const replacing = scheduler.addTask(makeGenerator('v2'), {
      id: 'life',
      trigger: new IntervalTrigger({ hours: 1 }),
      replaceExisting: true,
    });
    await vi.advanceTimersByTimeAsync(1000);
    await replacing;
    expect(log).toEqual(['close v1']);
    expect((await scheduler.getTask('life'))?.id).toBe('life');
  });

  it('an OrTrigger of date triggers fires at each of them', async () => {
    const ranAt: number[] = [];
    await scheduler.start();
    await scheduler.addTask(() => void ranAt.push(Date.now() - T0), {
      trigger: new OrTrigger([new DateTrigger(T0 + 200), new DateTrigger(T0 + 600)]),
    });
    await vi.advanceTimersByTimeAsync(1000);
    expect(ranAt).toEqual([200, 600]);
  });

  it('a paused task that was parked (function missing) does not cause a wake-up loop', async () => {
    const store = new MemoryStore();
    scheduler = new Scheduler({ logger: silentLogger, stores: { default: store } });
    const acquire = vi.spyOn(store, 'acquireDueTasks');
    await scheduler.start();
    await scheduler.addTask('./no/such/module.js#job', {
      id: 'ghost',
      trigger: new IntervalTrigger({ seconds: 1 }),
    });
    await vi.advanceTimersByTimeAsync(1500);
    await scheduler.pauseTask('ghost');
    const before = acquire.mock.calls.length;
    await vi.advanceTimersByTimeAsync(120_000);
    expect(acquire.mock.calls.length - before).toBeLessThan(5);
  });

  it('a run waiting in the executor queue never runs once it timed out, nor after shutdown', async () => {
    scheduler = new Scheduler({
      logger: silentLogger,
      executors: { default: new AsyncExecutor({ concurrency: 1 }) },
    });
    const ran: string[] = [];
    const seen = recordEvents(scheduler, 'task:error');
    await scheduler.start();
    const block = (id: string) => async () => {
      ran.push(id);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    };
    await scheduler.addTask(block('A'), { id: 'A', trigger: new DateTrigger(T0 + 10) });
    await scheduler.addTask(block('C'), { id: 'C', trigger: new DateTrigger(T0 + 10), timeout: 300 });
    await vi.advanceTimersByTimeAsync(320);
    expect(payloads(seen, 'task:error')[0]?.error).toBeInstanceOf(TimeoutError);
    await scheduler.addTask(block('B'), { id: 'B', trigger: new DateTrigger(T0 + 400) });
    await vi.advanceTimersByTimeAsync(100);
    await scheduler.shutdown({ wait: false });
    await vi.advanceTimersByTimeAsync(3000);
    expect(ran).toEqual(['A']);
  });

  it('a task added while start() is in progress is written to its store', async () => {
    async function* slowSetup() {
      await new Promise((resolve) => setTimeout(resolve, 200));
      yield;
    }
    await scheduler.addTask(slowSetup, { trigger: new IntervalTrigger({ hours: 1 }) });
    const starting = scheduler.start();
    await vi.advanceTimersByTimeAsync(100);
    const added = scheduler.addTask(() => {}, { id: 'late', trigger: new IntervalTrigger({ seconds: 1 }) });
    await vi.advanceTimersByTimeAsync(200);
    await starting;
    expect((await added).pending).toBe(false);
    expect((await scheduler.getTask('late'))?.pending).toBe(false);
  });

  it('updating a pending task keeps its first run time computed at start', async () => {
    const seen = recordEvents(scheduler, 'task:submitted');
    await scheduler.addTask(() => {}, {
      id: 'p',
      trigger: new IntervalTrigger({ seconds: 1 }, { startAt: T0 }),
      coalesce: false,
      misfireGraceTime: null,
    });
    await scheduler.updateTask('p', { name: 'renamed' });
    vi.setSystemTime(T0 + 10_500);
    await scheduler.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(payloads(seen, 'task:submitted')).toEqual([]);
    expect((await scheduler.getTask('p'))?.nextRunTime?.getTime()).toBe(T0 + 11_000);
  });

  it('the fn or args of a lifecycle task cannot be changed (nor a plain task turned into one)', async () => {
    function* gen() {
      yield;
    }
    await scheduler.start();
    await scheduler.addTask(gen, { id: 'g', trigger: new IntervalTrigger({ hours: 1 }) });
    await scheduler.addTask(() => {}, { id: 'plain', trigger: new IntervalTrigger({ hours: 1 }) });
    await expect(scheduler.updateTask('g', { fn: () => {} })).rejects.toBeInstanceOf(ValueError);
    await expect(scheduler.updateTask('g', { args: [1] })).rejects.toThrow(/'g'.*lifecycle/);
    await expect(scheduler.updateTask('plain', { fn: gen })).rejects.toBeInstanceOf(ValueError);
  });

  it('resuming a task whose trigger has no fire time left removes it', async () => {
    await scheduler.start();
    await scheduler.addTask(() => {}, {
      id: 'spent',
      trigger: new IntervalTrigger({ seconds: 1 }, { startAt: T0 + 1000, endAt: T0 + 5000 }),
      nextRunTime: null,
    });
    await vi.advanceTimersByTimeAsync(10_000);
    await scheduler.resumeTask('spent');
    expect(await scheduler.getTask('spent')).toBeUndefined();
  });
});

describe('misfire judgment in a large burst', () => {
  it('lateness is measured from the wake-up, not from when the dispatcher reached the task', () => {
    const record = makeRecord({ id: 't', trigger: new DateTrigger(T0), nextRunTime: T0 });
    // The dispatcher woke 5 ms after the due time and reached this task 3 s later.
    expect(planDispatch(record, T0 + 3005, T0 + 5).runTimes).toEqual([new Date(T0)]);
    expect(planDispatch(record, T0 + 3005, T0 + 1500).missed?.count).toBe(1);
  });
});

describe('failures that cannot be reported, and work that outlives its timeout (fake timers)', () => {
  /** A logger at the default level ('warn'): warn and error really serialize `err` (and write nowhere). */
  const warnLogger = pino({ level: 'warn' }, pino.destination({ dest: '/dev/null', sync: true }));
  /** An error pino's standard serializer cannot read: an enumerable getter that throws. */
  function unloggableError(): Error {
    return Object.defineProperty(new Error('x'), 'detail', {
      enumerable: true,
      get() {
        throw new Error('getter');
      },
    });
  }
  let scheduler: Scheduler | undefined;
  beforeEach(() => {
    vi.useFakeTimers({ now: T0 });
  });
  afterEach(async () => {
    if (scheduler?.running) await scheduler.shutdown({ wait: false });
    vi.useRealTimers();
  });

  it('a sync failure that cannot be logged neither stops the rest of the wake-up nor runs a time twice', async () => {
    scheduler = new Scheduler({ logger: warnLogger, timezone: 'UTC' });
    const seen = recordEvents(scheduler, 'task:error');
    const ran: string[] = [];
    await scheduler.start();
    const ok = (id: string) => () => void ran.push(`${id}@${Date.now() - T0}`);
    const due = { trigger: new DateTrigger(T0 + 1000), misfireGraceTime: null };
    await scheduler.addTask(ok('a'), { id: 'a-ok', ...due });
    await scheduler.addTask(
      () => {
        throw unloggableError();
      },
      { id: 'b-poison', ...due },
    );
    await scheduler.addTask(ok('c'), { id: 'c-ok', ...due });
    await vi.advanceTimersByTimeAsync(120_000);
    expect(ran.sort()).toEqual(['a@1000', 'c@1000']);
    expect(payloads(seen, 'task:error').map((e) => e.taskId)).toEqual(['b-poison']);
    expect(await scheduler.getTasks()).toEqual([]);
  });

  it('a logger that throws for its own reasons never stops dispatch', async () => {
    const broken = pino(
      { level: 'warn' },
      {
        write() {
          throw new Error('disk full');
        },
      },
    );
    scheduler = new Scheduler({ logger: broken, timezone: 'UTC' });
    const ran: number[] = [];
    await scheduler.start();
    await scheduler.addTask(
      () => {
        throw new Error('task failed');
      },
      { id: 'a-fails', trigger: new IntervalTrigger({ seconds: 1 }, { startAt: T0 + 1000 }) },
    );
    await scheduler.addTask(() => void ran.push(Date.now() - T0), {
      id: 'b-ok',
      trigger: new IntervalTrigger({ seconds: 1 }, { startAt: T0 + 1000 }),
    });
    await vi.advanceTimersByTimeAsync(3500);
    expect(ran).toEqual([1000, 2000, 3000]);
  });

  it('an async failure that cannot be logged still ends its run, so maxInstances does not skip later fires', async () => {
    scheduler = new Scheduler({ logger: warnLogger, timezone: 'UTC' });
    const seen = recordEvents(scheduler, 'task:max-instances', 'task:error');
    let runs = 0;
    await scheduler.start();
    await scheduler.addTask(
      async () => {
        runs++;
        throw unloggableError();
      },
      { trigger: new IntervalTrigger({ seconds: 1 }, { startAt: T0 + 1000 }) },
    );
    await vi.advanceTimersByTimeAsync(5500);
    expect(payloads(seen, 'task:max-instances')).toEqual([]);
    expect(runs).toBe(5);
    expect(payloads(seen, 'task:error')).toHaveLength(5);
  });

  it('task:executed durationMs is the run time, even with a listener added while the run was going', async () => {
    scheduler = new Scheduler({ logger: silentLogger, timezone: 'UTC' });
    await scheduler.start();
    let finish: () => void = () => {};
    await scheduler.addTask(() => new Promise<void>((resolve) => (finish = resolve)), {
      trigger: new DateTrigger(T0 + 1000),
    });
    await vi.advanceTimersByTimeAsync(60_000);
    const seen = recordEvents(scheduler, 'task:executed');
    await vi.advanceTimersByTimeAsync(2000);
    finish();
    await vi.advanceTimersByTimeAsync(0);
    expect(payloads(seen, 'task:executed').map((e) => Math.round(e.durationMs / 100) * 100)).toEqual([
      61_000,
    ]);
  });

  it('a result whose then getter throws fails the run and frees its AsyncExecutor place', async () => {
    scheduler = new Scheduler({
      logger: silentLogger,
      timezone: 'UTC',
      executors: { default: new AsyncExecutor({ concurrency: 1 }) },
    });
    const seen = recordEvents(scheduler, 'task:error');
    const ran: string[] = [];
    await scheduler.start();
    await scheduler.addTask(
      () => ({
        // biome-ignore lint/suspicious/noThenProperty: a thenable whose then cannot be read is the case under test.
        get then() {
          throw new Error('hostile thenable');
        },
      }),
      { id: 'a', trigger: new DateTrigger(T0 + 1000) },
    );
    await scheduler.addTask(() => void ran.push('b'), { id: 'b', trigger: new DateTrigger(T0 + 2000) });
    await vi.advanceTimersByTimeAsync(5000);
    expect(ran).toEqual(['b']);
    expect(payloads(seen, 'task:error').map((e) => (e.error as Error).message)).toEqual(['hostile thenable']);
    let done = false;
    void scheduler.shutdown({ wait: true }).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toBe(true);
  });

  it('shutdown({ wait, timeout }) returns by its timeout although a timed-out attempt never settles', async () => {
    scheduler = new Scheduler({ logger: silentLogger, timezone: 'UTC' });
    const seen = recordEvents(scheduler, 'task:error');
    await scheduler.start();
    await scheduler.addTask(() => new Promise(() => {}), {
      trigger: new DateTrigger(T0 + 1000),
      timeout: 100,
    });
    await vi.advanceTimersByTimeAsync(2000);
    expect(payloads(seen, 'task:error').map((e) => e.error)).toEqual([expect.any(TimeoutError)]);
    // The timed-out attempt ended: it holds neither its executor place nor shutdown, which returns at once.
    let done = false;
    void scheduler.shutdown({ wait: true, timeout: 1000 }).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
    expect(scheduler.running).toBe(false);
  });
});
