/**
 * The changes the task methods make (`updateTask`, `rescheduleTask`, `pauseTask`, `resumeTask`), each a pure
 * function of the task as stored now, applied by the store in one atomic change (`TaskStore.updateTask`). None
 * sets a next run time at or before the time a scheduler is dispatching right now (`leasedRunTime`).
 */
import type { LifecycleRegistry } from './lifecycle.js';
import { copyTaskRecord, type StoredTaskState, type TaskRecord } from './store.js';
import {
  applyTaskChanges,
  firstRunTime,
  pinnedRunTime,
  rescheduledRunTime,
  type TaskBuildContext,
  type TaskChanges,
} from './task.js';
import type { Trigger, TriggerSpec } from './triggers/trigger.js';

/** A change to a task: the new record, given the task as it is stored now (`current` itself: no change). */
export type StoredChange = (
  current: TaskRecord,
  state: StoredTaskState,
  context: TaskBuildContext,
) => TaskRecord;

/**
 * `updateTask`: the options named in `changes`, validated. A new trigger must be able to fire and takes over
 * the schedule from now, unless the change pauses the task or pins its next run time.
 */
export function updateChange(
  id: string,
  changes: Omit<TaskChanges, 'store'>,
  lifecycles: LifecycleRegistry,
): StoredChange {
  return (record, state, context) => {
    lifecycles.checkChange(record, changes);
    const updated = applyTaskChanges(record, changes, context);
    if (changes.trigger !== undefined) {
      firstRunTime(updated.trigger, context.now, id);
      if (changes.nextRunTime === undefined && record.nextRunTime !== null) {
        updated.nextRunTime = rescheduledRunTime(updated.trigger, context.now, state.leasedRunTime, id);
      }
    }
    const pinned = changes.nextRunTime !== undefined ? updated.nextRunTime : null;
    if (pinned !== null) {
      const now = context.now.getTime();
      updated.nextRunTime = pinnedRunTime(pinned, record.nextRunTime, state.leasedRunTime, now);
    }
    return updated;
  };
}

/** `rescheduleTask`: a new trigger (which must be able to fire), the next run time from now. */
export function rescheduleChange(id: string, trigger: Trigger | TriggerSpec): StoredChange {
  return (record, state, context) => {
    const updated = applyTaskChanges(record, { trigger }, context);
    firstRunTime(updated.trigger, context.now, id);
    updated.nextRunTime = rescheduledRunTime(updated.trigger, context.now, state.leasedRunTime, id);
    return updated;
  };
}

/** `pauseTask`: no next run time (a paused task is left as it is). */
export const pauseChange: StoredChange = (record) =>
  record.nextRunTime === null ? record : copyTaskRecord(record, null);

/** `resumeTask`: the next run time from now (null when the trigger has no fire time left). */
export function resumeChange(id: string): StoredChange {
  return (record, state, context) =>
    copyTaskRecord(record, rescheduledRunTime(record.trigger, context.now, state.leasedRunTime, id));
}
