// Scheduler dispatch end to end on fake timers: API.md "Dispatch semantics" and "Scheduler" (the wake-up loop).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  DateTrigger,
  IntervalTrigger,
  MemoryStore,
  OrTrigger,
  SerializationError,
  type TaskRecord,
} from '../../src/index.js';
import { SQLiteStore } from '../../stores/sqlite.js';
import { payloads } from '../support/events.js';
import { T0, useFakeClock } from '../support/fake-clock.js';
import { unloggableError, warnLogger } from '../support/loggers.js';

describe('scheduler dispatch (fake timers)', () => {
  const clock = useFakeClock();

  it('an interval fires on its grid, never before its scheduled time, and never drifts', async () => {
    const scheduler = clock.scheduler();
    const fired: Array<[number, number]> = [];
    const seen = clock.record(scheduler, 'task:submitted');
    await scheduler.start();
    await scheduler.addTask(
      async () => {
        fired.push([Date.now(), 0]);
        await new Promise((resolve) => setTimeout(resolve, 300));
      },
      { trigger: new IntervalTrigger({ seconds: 1 }), id: 'tick' },
    );
    await clock.advance(5000);
    expect(fired.map(([at]) => at - T0)).toEqual([1000, 2000, 3000, 4000, 5000]);
    const scheduled = payloads(seen, 'task:submitted').map((e) => e.scheduledRunTime.getTime() - T0);
    expect(scheduled).toEqual([1000, 2000, 3000, 4000, 5000]);
  });

  // API.md "Dispatch semantics": no run ever starts before its scheduled time (a removed task's timer does not
  // fire a task re-added under its id).
  it('no run starts before its time: a task removed and re-added with the same id keeps only its new time', async () => {
    const scheduler = clock.scheduler();
    const ranAt: number[] = [];
    await scheduler.start();
    await scheduler.addTask(() => {}, { id: 'a', trigger: new DateTrigger(T0 + 300) });
    await scheduler.removeTask('a');
    await scheduler.addTask(() => void ranAt.push(clock.elapsed()), {
      id: 'a',
      trigger: new DateTrigger(T0 + 3000),
    });
    await clock.advance(5000);
    expect(ranAt).toEqual([3000]);
  });

  it('a date trigger fires once and then the task is removed', async () => {
    const scheduler = clock.scheduler();
    const seen = clock.record(scheduler, 'task:executed', 'task:removed');
    await scheduler.start();
    await scheduler.addTask(() => 'done', { trigger: new DateTrigger(T0 + 2000), id: 'once' });
    await clock.advance(1999);
    expect(seen).toEqual([]);
    await clock.advance(1);
    // The task is removed when its trigger is exhausted, at dispatch; the run may finish before or after.
    expect(seen.map(([name]) => name).sort()).toEqual(['task:executed', 'task:removed']);
    expect(payloads(seen, 'task:executed')[0]).toMatchObject({
      taskId: 'once',
      store: 'default',
      result: 'done',
    });
    expect(await scheduler.getTask('once')).toBeUndefined();
  });

  // API.md "Triggers": an OrTrigger fires at the earliest of any of its triggers, each time.
  it('an OrTrigger of date triggers fires at each of them', async () => {
    const scheduler = clock.scheduler();
    const ranAt: number[] = [];
    await scheduler.start();
    await scheduler.addTask(() => void ranAt.push(clock.elapsed()), {
      trigger: new OrTrigger([new DateTrigger(T0 + 200), new DateTrigger(T0 + 600)]),
    });
    await clock.advance(1000);
    expect(ranAt).toEqual([200, 600]);
  });

  it('a task 30 days ahead (past the 2^31-1 ms timer limit) fires on time, not early', async () => {
    const scheduler = clock.scheduler();
    const runAt = T0 + 30 * 86_400_000;
    let firedAt: number | null = null;
    await scheduler.start();
    await scheduler.addTask(
      () => {
        firedAt = Date.now();
      },
      { trigger: new DateTrigger(runAt) },
    );
    await clock.advance(runAt - T0 - 1);
    expect(firedAt).toBeNull();
    await clock.advance(1);
    expect(firedAt).toBe(runAt);
  });

  it('the capped timer re-arms without querying the store', async () => {
    const store = new MemoryStore();
    const queries = vi.spyOn(store, 'earliestWakeup');
    const acquires = vi.spyOn(store, 'acquireDueTasks');
    const scheduler = clock.scheduler({ stores: { default: store } });
    await scheduler.start();
    await scheduler.addTask(() => {}, { trigger: new DateTrigger(T0 + 3_600_000) });
    const before = [queries.mock.calls.length, acquires.mock.calls.length];
    await clock.advance(3_600_000 - 1);
    expect([queries.mock.calls.length, acquires.mock.calls.length]).toEqual(before);
  });

  it('pause: runs due while paused are judged by misfire rules on resume', async () => {
    const scheduler = clock.scheduler();
    const seen = clock.record(scheduler, 'task:missed', 'task:submitted');
    await scheduler.start();
    await scheduler.addTask(() => {}, {
      trigger: new IntervalTrigger({ seconds: 1 }),
      id: 'p',
      coalesce: false,
      misfireGraceTime: 1500,
      maxInstances: 2,
    });
    scheduler.pause();
    await clock.advance(10_000);
    expect(seen).toEqual([]);
    scheduler.resume();
    await clock.advance(0);
    // Due: 1 s … 10 s; within 1.5 s of now (10 s): 9 s and 10 s run; 1 s … 8 s are missed.
    expect(payloads(seen, 'task:submitted').map((e) => e.scheduledRunTime.getTime() - T0)).toEqual([
      9000, 10_000,
    ]);
    const missed = payloads(seen, 'task:missed');
    expect(missed).toHaveLength(1);
    expect(missed[0]).toMatchObject({ taskId: 'p', store: 'default', count: 8, countIsExact: true });
    expect(missed[0]?.scheduledRunTimes.map((t) => t.getTime() - T0)).toEqual(
      [1, 2, 3, 4, 5, 6, 7, 8].map((s) => s * 1000),
    );
  });

  it('coalesce after a pause: one run at the latest due time', async () => {
    const scheduler = clock.scheduler();
    const seen = clock.record(scheduler, 'task:missed', 'task:submitted');
    await scheduler.start();
    await scheduler.addTask(() => {}, { trigger: new IntervalTrigger({ seconds: 1 }) });
    scheduler.pause();
    await clock.advance(10_500);
    scheduler.resume();
    await clock.advance(0);
    expect(payloads(seen, 'task:submitted').map((e) => e.scheduledRunTime.getTime() - T0)).toEqual([10_000]);
    expect(payloads(seen, 'task:missed')).toEqual([]);
  });

  it('maxInstances: a run that would overlap is skipped with task:max-instances', async () => {
    const scheduler = clock.scheduler();
    const seen = clock.record(scheduler, 'task:max-instances', 'task:executed');
    await scheduler.start();
    await scheduler.addTask(() => new Promise((resolve) => setTimeout(resolve, 2500)), {
      trigger: new IntervalTrigger({ seconds: 1 }),
      id: 'slow',
    });
    await clock.advance(4000);
    // Run at 1 s lasts until 3.5 s: 2 s and 3 s are skipped; 4 s runs.
    expect(payloads(seen, 'task:max-instances').map((e) => e.scheduledRunTime.getTime() - T0)).toEqual([
      2000, 3000,
    ]);
    expect(payloads(seen, 'task:executed').map((e) => e.scheduledRunTime.getTime() - T0)).toEqual([1000]);
  });

  it('maxInstances 2 allows two overlapping runs', async () => {
    const scheduler = clock.scheduler();
    const seen = clock.record(scheduler, 'task:max-instances', 'task:submitted');
    await scheduler.start();
    await scheduler.addTask(() => new Promise((resolve) => setTimeout(resolve, 2500)), {
      trigger: new IntervalTrigger({ seconds: 1 }),
      maxInstances: 2,
    });
    await clock.advance(3000);
    expect(payloads(seen, 'task:submitted')).toHaveLength(2);
    expect(payloads(seen, 'task:max-instances').map((e) => e.scheduledRunTime.getTime() - T0)).toEqual([
      3000,
    ]);
  });

  it('a throwing task reports task:error and the schedule carries on', async () => {
    const scheduler = clock.scheduler();
    const seen = clock.record(scheduler, 'task:error', 'task:executed');
    let calls = 0;
    await scheduler.start();
    await scheduler.addTask(
      () => {
        calls++;
        if (calls === 1) throw new Error('boom');
        return calls;
      },
      { trigger: new IntervalTrigger({ seconds: 1 }), id: 'flaky' },
    );
    await clock.advance(2000);
    const errors = payloads(seen, 'task:error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ taskId: 'flaky', attempt: 1 });
    expect(errors[0]?.error).toHaveProperty('message', 'boom');
    expect(payloads(seen, 'task:executed').map((e) => e.result)).toEqual([2]);
  });
});

describe('failures that cannot be reported never break dispatch (fake timers)', () => {
  const clock = useFakeClock();

  it('a listener that throws is logged and never breaks dispatch', async () => {
    const scheduler = clock.scheduler();
    let runs = 0;
    scheduler.on('task:submitted', () => {
      throw new Error('listener bug');
    });
    scheduler.on('task:executed', async () => {
      throw new Error('async listener bug');
    });
    await scheduler.start();
    await scheduler.addTask(() => void runs++, { trigger: new IntervalTrigger({ seconds: 1 }) });
    await clock.advance(3000);
    expect(runs).toBe(3);
  });

  // API.md "Dispatch semantics": no scheduled time of a task ever runs twice; a failure the logger cannot write
  // stops neither the other tasks of the wake-up nor the release of the failing one.
  it('a sync failure that cannot be logged neither stops the rest of the wake-up nor runs a time twice', async () => {
    const scheduler = clock.scheduler({ logger: warnLogger });
    const seen = clock.record(scheduler, 'task:error');
    const ran: string[] = [];
    await scheduler.start();
    const ok = (id: string) => () => void ran.push(`${id}@${clock.elapsed()}`);
    const due = { trigger: new DateTrigger(T0 + 1000), misfireGraceTime: null };
    await scheduler.addTask(ok('a'), { id: 'a-ok', ...due });
    await scheduler.addTask(
      () => {
        throw unloggableError();
      },
      { id: 'b-poison', ...due },
    );
    await scheduler.addTask(ok('c'), { id: 'c-ok', ...due });
    await clock.advance(120_000);
    expect(ran.sort()).toEqual(['a@1000', 'c@1000']);
    expect(payloads(seen, 'task:error').map((e) => e.taskId)).toEqual(['b-poison']);
    expect(await scheduler.getTasks()).toEqual([]);
  });

  // API.md "Events": a listener (here, the logger) that throws is logged and never breaks dispatch.
  it('a logger that throws for its own reasons never stops dispatch', async () => {
    const broken = pino(
      { level: 'warn' },
      {
        write() {
          throw new Error('disk full');
        },
      },
    );
    const scheduler = clock.scheduler({ logger: broken });
    const ran: number[] = [];
    await scheduler.start();
    await scheduler.addTask(
      () => {
        throw new Error('task failed');
      },
      { id: 'a-fails', trigger: new IntervalTrigger({ seconds: 1 }, { startAt: T0 + 1000 }) },
    );
    await scheduler.addTask(() => void ran.push(clock.elapsed()), {
      id: 'b-ok',
      trigger: new IntervalTrigger({ seconds: 1 }, { startAt: T0 + 1000 }),
    });
    await clock.advance(3500);
    expect(ran).toEqual([1000, 2000, 3000]);
  });
});

describe('a stored task whose function cannot be found (fake timers)', () => {
  const clock = useFakeClock();
  let dir: string | undefined;
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  // API.md "Stores": a task record that cannot be read back (an unknown function name) is reported (task:error with
  // SerializationError) and left untouched in the store; reported once, not at every wake-up that finds it again.
  it('is reported once across many wake-ups, never run, and kept untouched', async () => {
    dir = await mkdtemp(join(tmpdir(), 'kairos-unresolved-'));
    const path = join(dir, 'tasks.db');
    const writer = clock.scheduler({
      stores: { default: new SQLiteStore({ path }) },
      functions: { job: () => {} },
    });
    await writer.start();
    await writer.addTask('job', { id: 'renamed', trigger: new IntervalTrigger({ seconds: 1 }) });
    await writer.shutdown();

    // A redeploy in which 'job' was renamed: the stored task names a function this scheduler does not have.
    const store = new SQLiteStore({ path });
    const acquire = vi.spyOn(store, 'acquireDueTasks');
    const scheduler = clock.scheduler({ stores: { default: store }, functions: { other: () => {} } });
    const seen = clock.record(scheduler, 'task:error', 'task:submitted', 'task:removed');
    await scheduler.start();
    await clock.advance(10 * 60_000);
    // The task was found due again and again (it is parked for a while each time, never dropped)...
    const found = await Promise.all(
      acquire.mock.results.map((result) => result.value as Promise<TaskRecord[]>),
    );
    expect(
      found.filter((records) => records.some((record) => record.id === 'renamed')).length,
    ).toBeGreaterThan(3);
    // ...and reported once.
    const errors = payloads(seen, 'task:error');
    expect(errors.map((e) => e.taskId)).toEqual(['renamed']);
    expect(errors[0]?.error).toBeInstanceOf(SerializationError);
    expect(errors[0]?.error).toHaveProperty(
      'message',
      expect.stringMatching(/function 'job' is not in the scheduler's functions/),
    );
    expect(seen.map(([name]) => name)).toEqual(['task:error']);
    expect((await scheduler.getTask('renamed'))?.fn).toBe('job');
  });

  // API.md "Scheduler": no polling; a parked task that is then paused has no wake-up left.
  it('a paused task that was parked (function missing) does not cause a wake-up loop', async () => {
    const store = new MemoryStore();
    const scheduler = clock.scheduler({ stores: { default: store } });
    const acquire = vi.spyOn(store, 'acquireDueTasks');
    await scheduler.start();
    await scheduler.addTask('./no/such/module.js#job', {
      id: 'ghost',
      trigger: new IntervalTrigger({ seconds: 1 }),
    });
    await clock.advance(1500);
    await scheduler.pauseTask('ghost');
    const before = acquire.mock.calls.length;
    await clock.advance(120_000);
    expect(acquire.mock.calls.length - before).toBeLessThan(5);
  });
});
