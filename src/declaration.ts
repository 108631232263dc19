/**
 * `replaceExisting` as a declaration: every process of a deployment declares its tasks at boot, and a declaration
 * that matches the stored task keeps the stored schedule; one that differs replaces the task, with a next run
 * time computed from now that never goes back to a time already dispatched.
 */
import { isDeepStrictEqual } from 'node:util';
import { copyTaskRecord, type TaskChange, type TaskRecord } from './store.js';
import { rescheduledRunTime } from './task.js';
import { sameTriggerDeclaration } from './triggers/definition.js';

/**
 * True when `stored` is the task `declared` declares: the same function, trigger (a trigger's values computed
 * from the clock at construction, such as an interval's default `startAt`, are not part of it), args and options.
 * The next run time is the schedule's state, not its definition, and is not compared.
 */
export function sameDefinition(declared: TaskRecord, stored: TaskRecord): boolean {
  return (
    declared.fn === stored.fn &&
    declared.name === stored.name &&
    declared.executor === stored.executor &&
    declared.coalesce === stored.coalesce &&
    declared.misfireGraceTime === stored.misfireGraceTime &&
    declared.maxInstances === stored.maxInstances &&
    declared.timeout === stored.timeout &&
    isDeepStrictEqual(declared.retries, stored.retries) &&
    isDeepStrictEqual(declared.args, stored.args) &&
    sameTriggerDeclaration(declared.trigger, stored.trigger)
  );
}

/**
 * The store change that applies a declaration to the task stored under its id: the stored task as it is when the
 * definitions match, else `declared` with its next run time: the one the user gave (`explicitNextRunTime`), or
 * the trigger's first from `now`; in both cases after the time a scheduler is dispatching right now, if any.
 */
export function declare(declared: TaskRecord, explicitNextRunTime: boolean, now: Date): TaskChange {
  return (current, { leasedRunTime }) => {
    if (sameDefinition(declared, current)) return current;
    const given = declared.nextRunTime;
    if (explicitNextRunTime && (given === null || leasedRunTime === null || given > leasedRunTime)) {
      return declared;
    }
    const next = rescheduledRunTime(declared.trigger, now, leasedRunTime, declared.id);
    return copyTaskRecord(declared, next);
  };
}
