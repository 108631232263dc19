/**
 * `kairos pause ID`, `kairos resume ID`, `kairos remove ID`: the very changes `Scheduler.pauseTask`, `resumeTask`
 * and `removeTask` make (src/task-changes.ts), applied through the store's atomic `updateTask` / `removeTask`, so
 * they are safe while schedulers run on the store; a running scheduler sees them through the store's watch.
 */
import { FunctionResolver } from '../../references.js';
import type { TaskRecord, TaskStore } from '../../store.js';
import { parseTaskDefaults, type TaskBuildContext } from '../../task.js';
import { pauseChange, resumeChange, type StoredChange } from '../../task-changes.js';
import { systemTimezone } from '../../time.js';
import type { Output } from '../output.js';
import type { OpenStore } from '../store-open.js';
import { formatLocal, formatUtc, isoUtc, precisionFor } from '../time-format.js';
import { awaitsUpstream, displayZone } from '../views.js';
import { findTask } from './tasks.js';

/** What `validate and build` needs, as a scheduler with default options has it, at the moment of the change. */
function buildContext(store: TaskStore): TaskBuildContext {
  return {
    defaults: parseTaskDefaults(undefined),
    resolver: new FunctionResolver(),
    timezone: systemTimezone(),
    persistent: store.persistent,
    shared: store.shared,
    now: new Date(),
  };
}

/** Applies a scheduler change to a stored task, atomically; resolves with the task before and after. */
async function applyChange(
  open: OpenStore,
  id: string,
  change: StoredChange,
): Promise<{ before: TaskRecord; after: TaskRecord }> {
  await findTask(open, id);
  let before: TaskRecord | undefined;
  const after = await open.store.updateTask(id, (current, state) => {
    before = current;
    return change(current, state, buildContext(open.store));
  });
  return { before: before as TaskRecord, after };
}

export async function pauseCommand(open: OpenStore, id: string, out: Output): Promise<void> {
  const { before, after } = await applyChange(open, id, pauseChange);
  const already = before.nextRunTime === null;
  if (out.json) {
    out.emitJson({ id, action: already ? 'unchanged' : 'paused', nextRunTime: isoUtc(after.nextRunTime) });
    return;
  }
  out.lines([already ? `task ${id} was already paused` : `paused task ${id}`]);
}

export async function resumeCommand(open: OpenStore, id: string, out: Output): Promise<void> {
  const { after } = await applyChange(open, id, resumeChange(id));
  // As Scheduler.resumeTask: a task whose trigger has no fire time left is removed.
  if (after.nextRunTime === null && after.trigger.toJSON().type !== 'shutdown') {
    await open.store.removeTask(id);
    if (out.json) out.emitJson({ id, action: 'removed', nextRunTime: null, reason: 'no fire time left' });
    else out.lines([`task ${id} has no fire time left, so it was removed (as Scheduler.resumeTask does)`]);
    return;
  }
  if (out.json) {
    out.emitJson({
      id,
      action: 'resumed',
      nextRunTime: awaitsUpstream(after) ? null : isoUtc(after.nextRunTime),
    });
    return;
  }
  if (after.nextRunTime === null) {
    out.lines([`resumed task ${id}; it runs at shutdown`]);
    return;
  }
  if (awaitsUpstream(after)) {
    out.lines([`resumed task ${id}; it runs after its upstream tasks`]);
    return;
  }
  const zone = displayZone(after.trigger.toJSON(), undefined);
  const precision = precisionFor([after.nextRunTime]);
  out.lines([
    `resumed task ${id}; next run ${formatLocal(after.nextRunTime, zone, precision)} (${formatUtc(after.nextRunTime, precision)})`,
  ]);
}

export async function removeCommand(open: OpenStore, id: string, out: Output): Promise<void> {
  await findTask(open, id);
  await open.store.removeTask(id);
  if (out.json) {
    out.emitJson({ id, action: 'removed' });
    return;
  }
  out.lines([`removed task ${id}`]);
}
