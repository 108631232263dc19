/**
 * The trigger contract: a trigger is a pure rule that answers "when is the next fire time?".
 * Triggers hold no run state; the scheduler passes in the previous fire time.
 */
import type { CalendarInterval } from './calendar-interval.js';
import type { IntervalLength } from './interval.js';
import type { WindowSpec } from './window.js';

/** The plain-JSON form of a trigger, as stores persist it. `type` selects the trigger class. */
export type TriggerSpec =
  | DateTriggerSpec
  | IntervalTriggerSpec
  | CronTriggerSpec
  | CalendarIntervalTriggerSpec
  | CombiningTriggerSpec
  | ShutdownTriggerSpec
  | AfterTriggerSpec;

/** Spec of a `DateTrigger`. Instants are ISO 8601 strings in UTC. */
export interface DateTriggerSpec {
  type: 'date';
  runAt: string;
  timezone?: string;
}

/** Spec of an `IntervalTrigger`: its length and its window (`startAt` always written, `jitter` in ms). */
export interface IntervalTriggerSpec extends IntervalLength, WindowSpec {
  type: 'interval';
}

/** Spec of a `CronTrigger`: its expression and its window (`jitter` in milliseconds). */
export interface CronTriggerSpec extends WindowSpec {
  type: 'cron';
  expression: string;
}

/**
 * Spec of a `CalendarIntervalTrigger`: its step, its time of day and its window without jitter;
 * `startAt`/`endAt` are calendar dates (`YYYY-MM-DD`) in its zone.
 */
export interface CalendarIntervalTriggerSpec extends CalendarInterval, Omit<WindowSpec, 'jitter'> {
  type: 'calendarinterval';
  hour?: number;
  minute?: number;
  second?: number;
}

/** Spec of an `AndTrigger` or `OrTrigger`. */
export interface CombiningTriggerSpec {
  type: 'and' | 'or';
  triggers: TriggerSpec[];
}

/**
 * Spec of an `AfterTrigger`: the upstream task ids, the awaited outcome (default `'success'`) and a join's
 * progress, the upstream tasks that had such a run since the task last fired (default none).
 */
export interface AfterTriggerSpec {
  type: 'after';
  tasks: string[];
  outcome?: 'success' | 'failure' | 'any';
  satisfied?: string[];
}

/** Spec of a `ShutdownTrigger`. */
export interface ShutdownTriggerSpec {
  type: 'shutdown';
}

/** What `Trigger.countFireTimes` reports about the fire times in a window. */
export interface FireTimeCount {
  /** How many fire times lie in the window. */
  count: number;
  /** The most recent fire times in the window, oldest first, at most `keepRecent` of them. */
  recent: Date[];
}

/** A rule that yields fire times. Implementations must be immutable. */
export interface Trigger {
  /**
   * The next fire time. With `previous` set: the first fire time strictly after `previous`.
   * With `previous` null (a new, resumed or rescheduled task): the first fire time at or after `now`
   * (a `DateTrigger` returns its `runAt` even when it is past, so that misfire rules can judge it).
   * `null` when the trigger will never fire again.
   */
  getNextFireTime(previous: Date | null, now: Date): Date | null;

  /** The plain-JSON form of this trigger; `triggerFromSpec(trigger.toJSON())` rebuilds an equal trigger. */
  toJSON(): TriggerSpec;

  /**
   * Optional closed form: the fire times in `[from, until]` (both inclusive), counted without stepping
   * through them one by one. Triggers that lack it are stepped by the dispatcher up to a cap.
   */
  countFireTimes?(from: Date, until: Date, keepRecent: number): FireTimeCount;

  /**
   * Optional: no two fire times are closer than this many ms. A task dispatched sooner than this after its
   * next run time then has that one time due, known without any trigger math before its run starts.
   */
  readonly minimumSpacingMs?: number;

  /**
   * Optional: the spec without values computed at construction from the clock (an `IntervalTrigger`'s
   * default `startAt`, one interval after creation); two triggers with equal definitions are the same
   * declaration (used by `replaceExisting` to keep a stored schedule). Without it, `toJSON()` is the
   * definition (see `triggerDefinition`).
   */
  definition?(): TriggerSpec;

  /**
   * Returns this trigger with `timezone` filled in where the user gave none (the scheduler's zone),
   * so that what is stored says which zone it computes in. Triggers without a zone return themselves.
   */
  withDefaultTimezone?(timezone: string): Trigger;
}
