// Restarts through a real Scheduler, for every store: tasks, next run times and paused state survive, and
// missed runs follow the coalesce and misfire rules. The clock is faked (Date only; timers are real).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  IntervalTrigger,
  Scheduler,
  SerializationError,
  type Task,
  type TaskFunction,
} from '../../src/index.js';
import { payloads, recordEvents, silentLogger } from '../support/events.js';
import { type StoreBacking, selectedStores } from './harness.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** Monday 2026-03-02, 07:30 UTC (08:30 in Berlin). */
const T0 = Date.parse('2026-03-02T07:30:00Z');

/** What a restart must keep of a task. */
function snapshot(tasks: Task[]) {
  return tasks.map((task) => ({
    id: task.id,
    fn: task.fn,
    trigger: task.trigger.toJSON(),
    args: task.args,
    nextRunTime: task.nextRunTime?.getTime() ?? null,
  }));
}

describe.each(selectedStores())('$name store: restarts through the Scheduler', (kind) => {
  let backing: StoreBacking;
  const schedulers: Scheduler[] = [];

  beforeEach(async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: T0 });
    backing = await kind.setUp();
  });
  afterEach(async () => {
    for (const scheduler of schedulers.splice(0))
      if (scheduler.running) await scheduler.shutdown({ wait: false });
    vi.useRealTimers();
    await backing.cleanUp();
  });

  function makeScheduler(functions: Record<string, TaskFunction>): Scheduler {
    const scheduler = new Scheduler({
      stores: { default: backing.open() },
      functions,
      logger: silentLogger,
      timezone: 'UTC',
    });
    schedulers.push(scheduler);
    return scheduler;
  }

  it('tasks, next run times and paused state survive; missed runs follow coalesce and misfire rules', async () => {
    const calls: string[] = [];
    const functions = {
      report: () => void calls.push('report'),
      tick: (label: string) => void calls.push(label),
    };
    const first = makeScheduler(functions);
    await first.start();
    await first.addTask('report', {
      id: 'weekday-report',
      trigger: { type: 'cron', expression: '0 9 * * 1-5', timezone: 'Europe/Berlin' },
      misfireGraceTime: { hours: 1 },
    });
    const every10 = new IntervalTrigger({ minutes: 10 }, { startAt: T0 + 10 * MINUTE });
    await first.addTask('tick', {
      id: 'catch-up',
      trigger: every10,
      args: ['catch-up'],
      coalesce: false,
      misfireGraceTime: null,
      maxInstances: 20,
    });
    await first.addTask('tick', {
      id: 'coalesced',
      trigger: every10,
      args: ['coalesced'],
      misfireGraceTime: null,
    });
    await first.addTask('tick', { id: 'strict', trigger: every10, args: ['strict'] });
    await first.addTask('tick', { id: 'paused', trigger: every10, args: ['paused'], nextRunTime: null });
    const before = snapshot(await first.getTasks());
    expect(before.find((task) => task.id === 'weekday-report')?.nextRunTime).toBe(
      Date.parse('2026-03-02T08:00:00Z'),
    );
    await first.shutdown();

    // Down for 3 h 5 min: 09:00 Berlin (08:00 UTC) and eighteen 10-minute ticks pass unseen.
    vi.setSystemTime(T0 + 3 * HOUR + 5 * MINUTE);
    const second = makeScheduler(functions);
    const seen = recordEvents(second, 'task:submitted', 'task:missed');
    await second.start({ paused: true });
    expect(snapshot(await second.getTasks())).toEqual(before);
    second.resume();
    await vi.waitFor(() => expect(calls).toHaveLength(19));

    const submitted = payloads(seen, 'task:submitted').map((event) => [
      event.taskId,
      event.scheduledRunTime.getTime() - T0,
    ]);
    const tickTimes = Array.from({ length: 18 }, (_, index) => (index + 1) * 10 * MINUTE);
    expect(submitted.filter(([id]) => id === 'catch-up').map(([, at]) => at)).toEqual(tickTimes);
    expect(submitted.filter(([id]) => id !== 'catch-up')).toEqual([['coalesced', 3 * HOUR]]);
    const missed = payloads(seen, 'task:missed').map((event) => [event.taskId, event.count]);
    expect(missed.sort()).toEqual([
      ['strict', 18],
      ['weekday-report', 1],
    ]);
    expect(calls.filter((label) => label === 'paused' || label === 'report')).toEqual([]);

    const after = new Map(snapshot(await second.getTasks()).map((task) => [task.id, task.nextRunTime]));
    expect(after).toEqual(
      new Map([
        ['weekday-report', Date.parse('2026-03-03T08:00:00Z')],
        ['catch-up', T0 + 190 * MINUTE],
        ['coalesced', T0 + 190 * MINUTE],
        ['strict', T0 + 190 * MINUTE],
        ['paused', null],
      ]),
    );
    await second.shutdown();

    // A prompt restart finds the same state and nothing due.
    const third = makeScheduler(functions);
    const thirdSeen = recordEvents(third, 'task:submitted', 'task:missed');
    await third.start();
    const again = new Map(snapshot(await third.getTasks()).map((task) => [task.id, task.nextRunTime]));
    expect(again).toEqual(after);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(thirdSeen).toEqual([]);
  });

  it('a task whose function is gone after a redeploy is reported once, kept untouched, and runs once it is back', async () => {
    const ran: number[] = [];
    const first = makeScheduler({ report: () => void ran.push(Date.now()) });
    await first.start();
    await first.addTask('report', {
      id: 'r',
      trigger: new IntervalTrigger({ minutes: 5 }, { startAt: T0 + 5 * MINUTE }),
      misfireGraceTime: null,
    });
    const stored = snapshot(await first.getTasks());
    await first.shutdown();

    vi.setSystemTime(T0 + 6 * MINUTE);
    const renamed = makeScheduler({ reportV2: () => void ran.push(-1) });
    const errors = recordEvents(renamed, 'task:error');
    await renamed.start();
    await vi.waitFor(() => expect(errors).toHaveLength(1));
    renamed.wakeup();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const [event] = payloads(errors, 'task:error');
    expect(event).toMatchObject({ taskId: 'r', store: 'default' });
    expect(event?.error).toBeInstanceOf(SerializationError);
    expect(String(event?.error)).toContain("'report'");
    expect(errors).toHaveLength(1);
    expect(snapshot(await renamed.getTasks())).toEqual(stored);
    await renamed.shutdown();

    // Past any parking lease, the next deploy has the function again: the missed run is made, the schedule goes on.
    vi.setSystemTime(T0 + 8 * MINUTE);
    const restored = makeScheduler({ report: () => void ran.push(Date.now()) });
    const submitted = recordEvents(restored, 'task:submitted');
    await restored.start();
    await vi.waitFor(() => expect(ran).toHaveLength(1));
    expect(payloads(submitted, 'task:submitted').map((e) => e.scheduledRunTime.getTime())).toEqual([
      T0 + 5 * MINUTE,
    ]);
    expect((await restored.getTask('r'))?.nextRunTime?.getTime()).toBe(T0 + 10 * MINUTE);
  });

  if (kind.persistent) {
    it('refuses closures and args that are not JSON, with a SerializationError, and stores nothing', async () => {
      const scheduler = makeScheduler({ tick: () => {} });
      await scheduler.start();
      const trigger = new IntervalTrigger({ minutes: 1 });
      await expect(scheduler.addTask(() => {}, { id: 'closure', trigger })).rejects.toThrow(
        SerializationError,
      );
      await expect(
        scheduler.addTask('tick', { id: 'date-arg', trigger, args: [new Date()] }),
      ).rejects.toThrow(/task 'date-arg'.*JSON/);
      await expect(scheduler.addTask('tick', { id: 'map-arg', trigger, args: [new Map()] })).rejects.toThrow(
        SerializationError,
      );
      await expect(
        scheduler.addTask('tick', { id: 'undefined-arg', trigger, args: [{ a: undefined }] }),
      ).rejects.toThrow(SerializationError);
      await scheduler.addTask('tick', { id: 'fine', trigger, args: [{ a: [1, 'x', null] }] });
      await scheduler.shutdown();
      const reopened = makeScheduler({ tick: () => {} });
      await reopened.start({ paused: true });
      expect((await reopened.getTasks()).map((task) => [task.id, task.args])).toEqual([
        ['fine', [{ a: [1, 'x', null] }]],
      ]);
    });
  }

  if (kind.persistent) {
    it('an unreadable record is reported as task:error once, kept, and does not stop other tasks', async () => {
      const ran: string[] = [];
      const scheduler = makeScheduler({ tick: (label: string) => void ran.push(label) });
      await scheduler.start({ paused: true });
      await scheduler.addTask('tick', {
        id: 'ok',
        trigger: new IntervalTrigger({ minutes: 1 }, { startAt: T0 }),
        args: ['ok'],
      });
      await scheduler.shutdown();
      await backing.injectBrokenRecord?.('bad', T0 - MINUTE);
      const raw = await backing.rawRecord?.('bad');

      const restarted = makeScheduler({ tick: (label: string) => void ran.push(label) });
      const errors = recordEvents(restarted, 'task:error');
      await restarted.start();
      await vi.waitFor(() => expect(ran).toEqual(['ok']));
      restarted.wakeup();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(
        payloads(errors, 'task:error').map((event) => [
          event.taskId,
          (event.error as Error).constructor.name,
        ]),
      ).toEqual([['bad', 'SerializationError']]);
      expect((await restarted.getTasks()).map((task) => task.id)).toEqual(['ok']);
      await restarted.shutdown();
      expect(await backing.rawRecord?.('bad')).toBe(raw);
    });
  }
});
