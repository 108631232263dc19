/**
 * `replaceExisting` as a declaration: every process of a deployment declares its tasks at boot, and a declaration
 * that matches the stored task keeps the stored schedule; one that differs replaces the task, with a next run
 * time computed from now that never goes back to a time already dispatched.
 */
import { isDeepStrictEqual } from 'node:util';
import { ConflictingIdError, TaskLookupError } from './errors.js';
import { copyTaskRecord, type TaskChange, type TaskRecord, type TaskStore } from './store.js';
import { pinnedRunTime, rescheduledRunTime } from './task.js';
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
    isDeepStrictEqual(declared.tags, stored.tags) &&
    isDeepStrictEqual(declared.hooks, stored.hooks) &&
    isDeepStrictEqual(declared.middleware, stored.middleware) &&
    sameTriggerDeclaration(declared.trigger, stored.trigger)
  );
}

/**
 * The store change that applies a declaration to the task stored under its id: the stored task as it is when the
 * definitions match, else `declared` with its next run time: the one the user gave (`explicitNextRunTime`), moved
 * past every time that may have run already (`pinnedRunTime`), or the trigger's first from `now`, after the time a
 * scheduler is dispatching right now, if any.
 */
export function declare(declared: TaskRecord, explicitNextRunTime: boolean, now: Date): TaskChange {
  return (current, { leasedRunTime }) => {
    if (sameDefinition(declared, current)) return current;
    const given = declared.nextRunTime;
    if (explicitNextRunTime) {
      if (given === null) return declared;
      return copyTaskRecord(
        declared,
        pinnedRunTime(given, current.nextRunTime, leasedRunTime, now.getTime()),
      );
    }
    return copyTaskRecord(declared, rescheduledRunTime(declared.trigger, now, leasedRunTime, declared.id));
  };
}

/** How many times a declaration tries again when another process adds or removes the task meanwhile. */
const DECLARE_ATTEMPTS = 5;

/**
 * `replaceExisting`: adds the task to `store`, or applies the declaration to the one stored under its id (kept
 * as it is when the definitions match), as atomic store operations; tries again if another process adds or
 * removes the task meanwhile. Resolves with the task as stored, and whether it was kept.
 */
export async function declareTask(
  store: TaskStore,
  declared: TaskRecord,
  explicitNextRunTime: boolean,
  now: Date,
): Promise<{ record: TaskRecord; kept: boolean }> {
  const change = declare(declared, explicitNextRunTime, now);
  for (let attempt = 1; ; attempt++) {
    try {
      await store.addTask(declared);
      return { record: declared, kept: false };
    } catch (error) {
      if (!(error instanceof ConflictingIdError) || attempt >= DECLARE_ATTEMPTS) throw error;
    }
    let kept = false;
    try {
      const stored = await store.updateTask(declared.id, (current, state) => {
        const next = change(current, state);
        kept = next === current;
        return next;
      });
      return { record: stored, kept };
    } catch (error) {
      if (!(error instanceof TaskLookupError) || attempt >= DECLARE_ATTEMPTS) throw error;
    }
  }
}
