// Scheduler dispatch end to end on fake timers: API.md "Dispatch semantics" and "Scheduler".
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DateTrigger, IntervalTrigger, MemoryStore, Scheduler } from '../../src/index.js';
import { payloads, recordEvents, silentLogger } from '../support/events.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');

describe('scheduler dispatch (fake timers)', () => {
  let scheduler: Scheduler;
  beforeEach(() => {
    vi.useFakeTimers({ now: T0 });
    scheduler = new Scheduler({ logger: silentLogger, timezone: 'UTC' });
  });
  afterEach(async () => {
    if (scheduler.running) await scheduler.shutdown({ wait: false });
    vi.useRealTimers();
  });

  it('an interval fires on its grid, never before its scheduled time, and never drifts', async () => {
    const fired: Array<[number, number]> = [];
    const seen = recordEvents(scheduler, 'task:submitted');
    await scheduler.start();
    await scheduler.addTask(
      async () => {
        fired.push([Date.now(), 0]);
        await new Promise((resolve) => setTimeout(resolve, 300));
      },
      { trigger: new IntervalTrigger({ seconds: 1 }), id: 'tick' },
    );
    await vi.advanceTimersByTimeAsync(5000);
    expect(fired.map(([at]) => at - T0)).toEqual([1000, 2000, 3000, 4000, 5000]);
    const scheduled = payloads(seen, 'task:submitted').map((e) => e.scheduledRunTime.getTime() - T0);
    expect(scheduled).toEqual([1000, 2000, 3000, 4000, 5000]);
  });

  it('a date trigger fires once and then the task is removed', async () => {
    const seen = recordEvents(scheduler, 'task:executed', 'task:removed');
    await scheduler.start();
    await scheduler.addTask(() => 'done', { trigger: new DateTrigger(T0 + 2000), id: 'once' });
    await vi.advanceTimersByTimeAsync(1999);
    expect(seen).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    // The task is removed when its trigger is exhausted, at dispatch; the run may finish before or after.
    expect(seen.map(([name]) => name).sort()).toEqual(['task:executed', 'task:removed']);
    expect(payloads(seen, 'task:executed')[0]).toMatchObject({
      taskId: 'once',
      store: 'default',
      result: 'done',
    });
    expect(await scheduler.getTask('once')).toBeUndefined();
  });

  it('a task 30 days ahead (past the 2^31-1 ms timer limit) fires on time, not early', async () => {
    const runAt = T0 + 30 * 86_400_000;
    let firedAt: number | null = null;
    await scheduler.start();
    await scheduler.addTask(
      () => {
        firedAt = Date.now();
      },
      { trigger: new DateTrigger(runAt) },
    );
    await vi.advanceTimersByTimeAsync(runAt - T0 - 1);
    expect(firedAt).toBeNull();
    await vi.advanceTimersByTimeAsync(1);
    expect(firedAt).toBe(runAt);
  });

  it('the capped timer re-arms without querying the store', async () => {
    const store = new MemoryStore();
    const queries = vi.spyOn(store, 'earliestWakeup');
    const acquires = vi.spyOn(store, 'acquireDueTasks');
    scheduler = new Scheduler({ logger: silentLogger, stores: { default: store } });
    await scheduler.start();
    await scheduler.addTask(() => {}, { trigger: new DateTrigger(T0 + 3_600_000) });
    const before = [queries.mock.calls.length, acquires.mock.calls.length];
    await vi.advanceTimersByTimeAsync(3_600_000 - 1);
    expect([queries.mock.calls.length, acquires.mock.calls.length]).toEqual(before);
  });

  it('pause: runs due while paused are judged by misfire rules on resume', async () => {
    const seen = recordEvents(scheduler, 'task:missed', 'task:submitted');
    await scheduler.start();
    await scheduler.addTask(() => {}, {
      trigger: new IntervalTrigger({ seconds: 1 }),
      id: 'p',
      coalesce: false,
      misfireGraceTime: 1500,
      maxInstances: 2,
    });
    scheduler.pause();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(seen).toEqual([]);
    scheduler.resume();
    await vi.advanceTimersByTimeAsync(0);
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
    const seen = recordEvents(scheduler, 'task:missed', 'task:submitted');
    await scheduler.start();
    await scheduler.addTask(() => {}, { trigger: new IntervalTrigger({ seconds: 1 }) });
    scheduler.pause();
    await vi.advanceTimersByTimeAsync(10_500);
    scheduler.resume();
    await vi.advanceTimersByTimeAsync(0);
    expect(payloads(seen, 'task:submitted').map((e) => e.scheduledRunTime.getTime() - T0)).toEqual([10_000]);
    expect(payloads(seen, 'task:missed')).toEqual([]);
  });

  it('maxInstances: a run that would overlap is skipped with task:max-instances', async () => {
    const seen = recordEvents(scheduler, 'task:max-instances', 'task:executed');
    await scheduler.start();
    await scheduler.addTask(() => new Promise((resolve) => setTimeout(resolve, 2500)), {
      trigger: new IntervalTrigger({ seconds: 1 }),
      id: 'slow',
    });
    await vi.advanceTimersByTimeAsync(4000);
    // Run at 1 s lasts until 3.5 s: 2 s and 3 s are skipped; 4 s runs.
    expect(payloads(seen, 'task:max-instances').map((e) => e.scheduledRunTime.getTime() - T0)).toEqual([
      2000, 3000,
    ]);
    expect(payloads(seen, 'task:executed').map((e) => e.scheduledRunTime.getTime() - T0)).toEqual([1000]);
  });

  it('maxInstances 2 allows two overlapping runs', async () => {
    const seen = recordEvents(scheduler, 'task:max-instances', 'task:submitted');
    await scheduler.start();
    await scheduler.addTask(() => new Promise((resolve) => setTimeout(resolve, 2500)), {
      trigger: new IntervalTrigger({ seconds: 1 }),
      maxInstances: 2,
    });
    await vi.advanceTimersByTimeAsync(3000);
    expect(payloads(seen, 'task:submitted')).toHaveLength(2);
    expect(payloads(seen, 'task:max-instances').map((e) => e.scheduledRunTime.getTime() - T0)).toEqual([
      3000,
    ]);
  });

  it('a throwing task reports task:error and the schedule carries on', async () => {
    const seen = recordEvents(scheduler, 'task:error', 'task:executed');
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
    await vi.advanceTimersByTimeAsync(2000);
    const errors = payloads(seen, 'task:error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ taskId: 'flaky', attempt: 1 });
    expect(errors[0]?.error).toHaveProperty('message', 'boom');
    expect(payloads(seen, 'task:executed').map((e) => e.result)).toEqual([2]);
  });

  it('a listener that throws is logged and never breaks dispatch', async () => {
    let runs = 0;
    scheduler.on('task:submitted', () => {
      throw new Error('listener bug');
    });
    scheduler.on('task:executed', async () => {
      throw new Error('async listener bug');
    });
    await scheduler.start();
    await scheduler.addTask(() => void runs++, { trigger: new IntervalTrigger({ seconds: 1 }) });
    await vi.advanceTimersByTimeAsync(3000);
    expect(runs).toBe(3);
  });

  it('getTasks is sorted by next run time with paused tasks last', async () => {
    await scheduler.start();
    await scheduler.addTask(() => {}, { id: 'late', trigger: new DateTrigger(T0 + 9000) });
    await scheduler.addTask(() => {}, {
      id: 'paused',
      trigger: new DateTrigger(T0 + 1000),
      nextRunTime: null,
    });
    await scheduler.addTask(() => {}, { id: 'soon', trigger: new DateTrigger(T0 + 3000) });
    expect((await scheduler.getTasks()).map((t) => t.id)).toEqual(['soon', 'late', 'paused']);
    const paused = await scheduler.getTask('paused');
    expect(paused?.nextRunTime).toBeNull();
  });

  it('tasks added before start are pending, then written at start with their first run time from then', async () => {
    const seen = recordEvents(scheduler, 'task:added', 'task:executed');
    const task = await scheduler.addTask(() => 'x', {
      id: 'early',
      trigger: new IntervalTrigger({ seconds: 10 }, { startAt: T0 }),
    });
    expect(task.pending).toBe(true);
    expect((await scheduler.getTasks()).map((t) => [t.id, t.pending])).toEqual([['early', true]]);
    vi.setSystemTime(T0 + 25_000);
    await scheduler.start();
    const stored = await scheduler.getTask('early');
    expect(stored?.pending).toBe(false);
    expect(stored?.nextRunTime?.getTime()).toBe(T0 + 30_000);
    await vi.advanceTimersByTimeAsync(5000);
    expect(seen.map(([name]) => name)).toEqual(['task:added', 'task:executed']);
  });
});
