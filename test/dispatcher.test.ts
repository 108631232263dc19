// The dispatch rule of API.md ("Dispatch semantics"), checked on the pure planner.
import { describe, expect, it } from 'vitest';
import {
  collectDueTimes,
  DUE_STEP_CAP,
  MISSED_TIMES_LISTED,
  nextRunTimeAfter,
  planDispatch,
  RUNS_PER_WAKEUP_CAP,
} from '../src/dispatcher.js';
import { CronTrigger, DateTrigger, IntervalTrigger, type TaskRecord, type Trigger } from '../src/index.js';
import { makeRecord } from './stores/harness.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');

/** A task record due at T0 with this trigger (the store harness's valid record, as dispatch sees it). */
function record(trigger: Trigger, overrides: Partial<TaskRecord> = {}): TaskRecord {
  return makeRecord({ id: 't', trigger, nextRunTime: T0, ...overrides });
}

/** `trigger`, counting the calls of its fire-time methods (`getNextFireTime` and, if it has it, `countFireTimes`). */
function counted(trigger: Trigger): Trigger & { calls: number } {
  const wrapped: Trigger & { calls: number } = {
    calls: 0,
    getNextFireTime(previous, now) {
      wrapped.calls++;
      return trigger.getNextFireTime(previous, now);
    },
    toJSON: () => trigger.toJSON(),
  };
  if (trigger.countFireTimes !== undefined) {
    const count = trigger.countFireTimes.bind(trigger);
    wrapped.countFireTimes = (from, until, keepRecent) => {
      wrapped.calls++;
      return count(from, until, keepRecent);
    };
  }
  return wrapped;
}

/** A trigger without a closed form (like cron), stepping every `stepMs` from T0. */
function steppingTrigger(stepMs: number): Trigger {
  return {
    getNextFireTime(previous, now) {
      const from = previous === null ? now.getTime() - 1 : previous.getTime();
      const steps = Math.floor((from - T0) / stepMs) + 1;
      return new Date(T0 + Math.max(0, steps) * stepMs);
    },
    toJSON: () => ({ type: 'shutdown' }),
  };
}

describe('planDispatch', () => {
  const everySecond = new IntervalTrigger({ seconds: 1 }, { startAt: T0 });

  it('runs a task that is due on time once and moves nextRunTime past now', () => {
    const plan = planDispatch(record(everySecond), T0 + 5);
    expect(plan.runTimes.map((t) => t.getTime())).toEqual([T0]);
    expect(plan.missed).toBeNull();
    expect(nextRunTimeAfter(everySecond, plan.latest, T0 + 5)).toBe(T0 + 1000);
  });

  it('coalesce: due times collapse into one run at the latest', () => {
    const plan = planDispatch(record(everySecond), T0 + 10_300);
    expect(plan.runTimes.map((t) => t.getTime())).toEqual([T0 + 10_000]);
    expect(plan.missed).toBeNull();
    expect(nextRunTimeAfter(everySecond, plan.latest, T0 + 10_300)).toBe(T0 + 11_000);
  });

  it('coalesce with the latest time out of grace: nothing runs, every due time is missed', () => {
    const plan = planDispatch(record(everySecond, { misfireGraceTime: 100 }), T0 + 2500);
    expect(plan.runTimes).toEqual([]);
    expect(plan.missed?.count).toBe(3);
    expect(plan.missed?.times.map((t) => t.getTime())).toEqual([T0, T0 + 1000, T0 + 2000]);
  });

  it('no coalesce: runs every time within grace, reports the older ones as missed', () => {
    const plan = planDispatch(record(everySecond, { coalesce: false, misfireGraceTime: 2500 }), T0 + 10_000);
    expect(plan.runTimes.map((t) => t.getTime() - T0)).toEqual([8000, 9000, 10_000]);
    expect(plan.missed).toEqual({
      count: 8,
      exact: true,
      times: Array.from({ length: 8 }, (_, i) => new Date(T0 + i * 1000)),
    });
  });

  it('misfireGraceTime null: any lateness is fine', () => {
    const plan = planDispatch(record(everySecond, { coalesce: false, misfireGraceTime: null }), T0 + 4000);
    expect(plan.runTimes).toHaveLength(5);
    expect(plan.missed).toBeNull();
  });

  // API.md "Dispatch semantics": catching up costs time in proportion to the runs made, not to the runs missed;
  // interval triggers count their missed times in closed form (a handful of trigger calls, not one per fire time).
  it('a per-second task 30 days behind is planned in closed form, with a handful of trigger calls', () => {
    const now = T0 + 30 * 86_400_000 + 400;
    const trigger = counted(everySecond);
    const plan = planDispatch(record(trigger, { coalesce: false }), now);
    expect(trigger.calls).toBeLessThanOrEqual(5);
    expect(plan.runTimes.map((t) => t.getTime())).toEqual([now - 400]);
    expect(plan.missed?.count).toBe(30 * 86_400);
    expect(plan.missed?.exact).toBe(true);
    expect(plan.missed?.times).toHaveLength(MISSED_TIMES_LISTED);
    expect(plan.missed?.times.at(-1)?.getTime()).toBe(now - 1400);
    expect(nextRunTimeAfter(everySecond, plan.latest, now)).toBe(now + 600);
  });

  it('caps the runs of one task per wake-up and counts the rest as missed', () => {
    const now = T0 + 5000 * 1000;
    const plan = planDispatch(record(everySecond, { coalesce: false, misfireGraceTime: null }), now);
    expect(plan.runTimes).toHaveLength(RUNS_PER_WAKEUP_CAP);
    expect(plan.runTimes.at(-1)?.getTime()).toBe(now);
    expect(plan.missed?.count).toBe(5001 - RUNS_PER_WAKEUP_CAP);
  });

  it('a trigger with no fire time left removes the task', () => {
    const plan = planDispatch(record(new DateTrigger(T0)), T0 + 10);
    expect(plan.runTimes).toHaveLength(1);
    expect(nextRunTimeAfter(new DateTrigger(T0), plan.latest, T0 + 10)).toBe('remove');
  });

  it('a past date trigger beyond grace is missed and removed', () => {
    const plan = planDispatch(record(new DateTrigger(T0)), T0 + 60_000);
    expect(plan.runTimes).toEqual([]);
    expect(plan.missed?.count).toBe(1);
    expect(nextRunTimeAfter(new DateTrigger(T0), plan.latest, T0 + 60_000)).toBe('remove');
  });

  it('an explicit nextRunTime off the grid is due itself, then the grid continues', () => {
    const plan = planDispatch(record(everySecond, { nextRunTime: T0 + 250 }), T0 + 300);
    expect(plan.runTimes.map((t) => t.getTime())).toEqual([T0 + 250]);
    expect(nextRunTimeAfter(everySecond, plan.latest, T0 + 300)).toBe(T0 + 1000);
  });
});

describe('collectDueTimes for triggers without a closed form', () => {
  it('steps exactly below the cap', () => {
    const due = collectDueTimes(steppingTrigger(60_000), T0, T0 + 99 * 60_000, 10);
    expect(due).toMatchObject({ count: 100, exact: true });
    expect(due.times.map((t) => (t.getTime() - T0) / 60_000)).toEqual([
      90, 91, 92, 93, 94, 95, 96, 97, 98, 99,
    ]);
  });

  // API.md "Dispatch semantics": a trigger without a closed form counts by stepping up to a cap, then says so
  // (countIsExact: false); 30 days of a per-second trigger cost the cap's calls, not 2.6 million.
  it('beyond the cap: says the count is not exact, still finds the latest due times, stops stepping at the cap', () => {
    const now = T0 + 30 * 86_400_000 + 500;
    const trigger = counted(steppingTrigger(1000));
    const due = collectDueTimes(trigger, T0, now, 5);
    expect(trigger.calls).toBeLessThan(2 * DUE_STEP_CAP);
    expect(due.exact).toBe(false);
    expect(due.count).toBeGreaterThanOrEqual(DUE_STEP_CAP);
    expect(due.times.map((t) => t.getTime())).toEqual([4, 3, 2, 1, 0].map((k) => now - 500 - k * 1000));
    const plan = planDispatch(record(steppingTrigger(1000)), now);
    expect(plan.runTimes.map((t) => t.getTime())).toEqual([now - 500]);
    expect(nextRunTimeAfter(steppingTrigger(1000), plan.latest, now)).toBe(now + 500);
  });
});

describe('triggers with a minimum spacing between fire times (cron)', () => {
  /** `steppingTrigger(1000)` that counts its calls and says its fire times are at least 1 s apart. */
  function spacedTrigger(): Trigger & { calls: number } {
    const inner = steppingTrigger(1000);
    const trigger = {
      calls: 0,
      minimumSpacingMs: 1000,
      getNextFireTime(previous: Date | null, now: Date) {
        trigger.calls++;
        return inner.getNextFireTime(previous, now);
      },
      toJSON: () => inner.toJSON(),
    };
    return trigger;
  }

  it('dispatched within the spacing: only the next run time is due, and no trigger math runs before the run', () => {
    const onTime = spacedTrigger();
    expect(planDispatch(record(onTime), T0 + 999, T0 + 3)).toEqual({
      runTimes: [new Date(T0)],
      missed: null,
      latest: new Date(T0),
    });
    const late = spacedTrigger();
    expect(planDispatch(record(late, { misfireGraceTime: 100 }), T0 + 999, T0 + 500)).toEqual({
      runTimes: [],
      missed: { count: 1, exact: true, times: [new Date(T0)] },
      latest: new Date(T0),
    });
    expect(onTime.calls + late.calls).toBe(0);
  });

  it('dispatched past the spacing: the due times are stepped as before (coalesced to the latest)', () => {
    const trigger = spacedTrigger();
    const plan = planDispatch(record(trigger, { misfireGraceTime: null }), T0 + 2500, T0 + 2500);
    expect(plan.runTimes).toEqual([new Date(T0 + 2000)]);
    expect(trigger.calls).toBeGreaterThan(0);
  });

  it('CronTrigger: fire times are distinct whole seconds, so 1 s apart less the jitter; none from 1 s of jitter', () => {
    expect(new CronTrigger('* * * * * *').minimumSpacingMs).toBe(1000);
    expect(new CronTrigger('0 9 * * *', { jitter: 250 }).minimumSpacingMs).toBe(750);
    expect(new CronTrigger('0 9 * * *', { jitter: { seconds: 1 } }).minimumSpacingMs).toBeUndefined();
    expect(CronTrigger.fromJSON({ type: 'cron', expression: '*/5 * * * * *' }).minimumSpacingMs).toBe(1000);
  });
});

describe('misfire judgment in a large burst', () => {
  // API.md "Dispatch semantics": lateness is now - scheduledRunTime at the wake-up; the time the scheduler spends
  // dispatching a large burst is its own and does not turn the tail of the burst into misfires.
  it('lateness is measured from the wake-up, not from when the dispatcher reached the task', () => {
    const due = record(new DateTrigger(T0));
    // The dispatcher woke 5 ms after the due time and reached this task 3 s later.
    expect(planDispatch(due, T0 + 3005, T0 + 5).runTimes).toEqual([new Date(T0)]);
    expect(planDispatch(due, T0 + 3005, T0 + 1500).missed?.count).toBe(1);
  });
});
