/**
 * The dispatch rule, in one place: given a due task and the time now, which runs to make, which fire times
 * were missed, and what the next run time becomes. Pure: no I/O, no clock, no events.
 */
import type { TaskRecord } from './store.js';
import type { Trigger } from './triggers/trigger.js';

/** At most this many missed fire times are listed in a `task:missed` event. */
export const MISSED_TIMES_LISTED = 100;
/** Triggers without a closed-form count (cron, calendar) are stepped through at most this many due times. */
export const DUE_STEP_CAP = 10_000;
/** At most this many runs of one task are submitted per wake-up; older runnable times count as missed. */
export const RUNS_PER_WAKEUP_CAP = 1_000;

/** The due fire times of a task at a wake-up. */
export interface DueTimes {
  /** How many fire times are due (a lower bound when `exact` is false). */
  count: number;
  exact: boolean;
  /** The most recent due times, ascending. */
  times: Date[];
}

/** What a wake-up does with one due task. */
export interface DispatchPlan {
  /** Runs to submit, by scheduled time ascending. */
  runTimes: Date[];
  /** Fire times not run because they were too late; null if none. */
  missed: { count: number; exact: boolean; times: Date[] } | null;
  /** The latest due time: the next run time continues from it (`nextRunTimeAfter`). */
  latest: Date;
  /**
   * The next run time, when planning had to compute it anyway (`nextRunTimeAfter` then need not run);
   * undefined otherwise.
   */
  next?: number | 'remove';
}

/**
 * The due fire times from `first` (the stored next run time, itself due) up to `now`, keeping the latest
 * `keep`. Costs O(keep) for triggers with `countFireTimes`, else O(DUE_STEP_CAP) at most.
 */
export function collectDueTimes(trigger: Trigger, first: number, now: number, keep: number): DueTimes {
  if (trigger.countFireTimes !== undefined) {
    const rest = trigger.countFireTimes(new Date(first + 1), new Date(now), keep);
    const times = rest.count < keep ? [new Date(first), ...rest.recent] : rest.recent;
    return { count: rest.count + 1, exact: true, times };
  }
  const times: Date[] = [new Date(first)];
  let count = 1;
  let previous = times[0] as Date;
  const nowDate = new Date(now);
  while (count < DUE_STEP_CAP) {
    const next = trigger.getNextFireTime(previous, nowDate);
    if (next === null || next.getTime() > now) return { count, exact: true, times: times.slice(-keep) };
    times.push(next);
    if (times.length > 2 * keep) times.splice(0, times.length - keep);
    count++;
    previous = next;
  }
  // Cut off: the count is a lower bound; find the most recent due times by searching back from now.
  const recent = recentFireTimes(trigger, previous.getTime(), now, keep);
  const overlaps = recent.length > 0 && (recent[0] as Date).getTime() <= previous.getTime();
  return {
    count: overlaps ? count : count + recent.length,
    exact: false,
    times: recent.length > 0 ? recent : times.slice(-keep),
  };
}

/** Up to `keep` of the latest fire times in `(after, now]`, found by widening a window back from now. */
function recentFireTimes(trigger: Trigger, after: number, now: number, keep: number): Date[] {
  const nowDate = new Date(now);
  for (let window = 1000; ; window *= 4) {
    const from = Math.max(after + 1, now - window);
    const found: Date[] = [];
    let time = trigger.getNextFireTime(null, new Date(from));
    while (time !== null && time.getTime() <= now && found.length < DUE_STEP_CAP) {
      found.push(time);
      time = trigger.getNextFireTime(time, nowDate);
    }
    if (found.length >= keep || from === after + 1) return found.slice(-keep);
  }
}

/**
 * Applies coalesce, misfire grace and the per-wake-up cap to a due task at `now` (`record.nextRunTime` must
 * be <= now); lateness is measured from `wokeAt`, the start of the wake-up. The next run time is left to
 * `nextRunTimeAfter` (so the runs can start before it is computed), unless telling the due times apart
 * computed it anyway (`next`).
 */
export function planDispatch(record: TaskRecord, now: number, wokeAt: number = now): DispatchPlan {
  const first = record.nextRunTime as number;
  const grace = record.misfireGraceTime;
  if (record.trigger.countFireTimes !== undefined) {
    // The usual case, a task dispatched on time: only `first` is due. Its successor, computed to tell, is then
    // the next run time (the same as `nextRunTimeAfter` would compute).
    const latest = new Date(first);
    const after = record.trigger.getNextFireTime(latest, new Date(now));
    if (after === null || after.getTime() > now) {
      return onlyFirstDue(latest, grace, wokeAt, after === null ? 'remove' : after.getTime());
    }
  }
  const spacing = record.trigger.minimumSpacingMs;
  if (spacing !== undefined && now - first < spacing) {
    // No other fire time can lie in (first, now]: only `first` is due, and no trigger math runs before the run
    // (a cron task dispatched on time); its next run time comes from `nextRunTimeAfter` once runs have started.
    return onlyFirstDue(new Date(first), grace, wokeAt, undefined);
  }
  // Lateness is judged from the moment the scheduler woke: time it spends dispatching a large burst is
  // its own, and must not turn the tail of the burst into misfires.
  const inGrace = (time: Date) => grace === null || wokeAt - time.getTime() <= grace;
  if (record.coalesce && record.trigger.countFireTimes === undefined) {
    // Coalescing needs only the latest due time; counting the others matters only if it misfired.
    const latest = recentFireTimes(record.trigger, first, now, 1)[0] ?? new Date(first);
    if (inGrace(latest)) return { runTimes: [latest], missed: null, latest };
  }
  const due = collectDueTimes(record.trigger, first, now, RUNS_PER_WAKEUP_CAP + MISSED_TIMES_LISTED);
  const latest = due.times[due.times.length - 1] as Date;

  let runTimes: Date[];
  let missedCount: number;
  let missedTimes: Date[];
  if (record.coalesce) {
    runTimes = inGrace(latest) ? [latest] : [];
    missedCount = runTimes.length === 1 ? 0 : due.count;
    missedTimes = runTimes.length === 1 ? [] : due.times;
  } else {
    const firstRunnable = due.times.findIndex(inGrace);
    const runnable = firstRunnable < 0 ? [] : due.times.slice(firstRunnable);
    runTimes = runnable.slice(-RUNS_PER_WAKEUP_CAP);
    missedCount = due.count - runTimes.length;
    missedTimes = due.times.slice(0, due.times.length - runTimes.length);
  }
  const missed =
    missedCount > 0
      ? { count: missedCount, exact: due.exact, times: missedTimes.slice(-MISSED_TIMES_LISTED) }
      : null;
  return { runTimes, missed, latest };
}

/** The plan when only the stored next run time `first` is due: run it if in grace, else report it missed. */
function onlyFirstDue(
  first: Date,
  grace: number | null,
  wokeAt: number,
  next: DispatchPlan['next'],
): DispatchPlan {
  const plan: DispatchPlan =
    grace === null || wokeAt - first.getTime() <= grace
      ? { runTimes: [first], missed: null, latest: first }
      : { runTimes: [], missed: { count: 1, exact: true, times: [first] }, latest: first };
  if (next !== undefined) plan.next = next;
  return plan;
}

/** The trigger's first fire time after `now`, continuing from the last due time `latest`. */
export function nextRunTimeAfter(trigger: Trigger, latest: Date, now: number): number | 'remove' {
  let next = trigger.getNextFireTime(latest, new Date(now));
  if (next !== null && next.getTime() <= now) next = trigger.getNextFireTime(null, new Date(now + 1));
  return next === null ? 'remove' : next.getTime();
}
