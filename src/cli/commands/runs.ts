/** `kairos runs [ID] [--failed] [-n 20]`: the run history, newest first, of one task or of every task. */
import { FAILED_OUTCOMES, type RunQuery } from '../../history.js';
import { parseTimezone } from '../../time.js';
import { badInput } from '../errors.js';
import type { Output } from '../output.js';
import type { OpenStore } from '../store-open.js';
import { renderTable } from '../table.js';
import { displayZone, RUN_COLUMNS, runJson, runRow, runTableNote } from '../views.js';
import { warnBroken } from './tasks.js';

/** Options of `runs`. */
export interface RunsOptions {
  failed?: boolean;
  limit: string;
  tz?: string;
}

/** The most runs `-n` may ask for. */
export const MAX_RUNS = 10_000;

export async function runsCommand(
  open: OpenStore,
  taskId: string | undefined,
  options: RunsOptions,
  out: Output,
): Promise<void> {
  const limit = parseLimit(options.limit);
  const tz = options.tz === undefined ? undefined : parseTimezone(options.tz, '--tz');
  const { store } = open;
  const query: RunQuery = { limit };
  if (taskId !== undefined) query.taskId = taskId;
  if (options.failed === true) query.outcomes = FAILED_OUTCOMES;
  const [runs, task] = await Promise.all([
    store.getRuns(query),
    taskId === undefined ? Promise.resolve(undefined) : store.getTask(taskId),
  ]);
  if (taskId !== undefined && task === undefined && !open.broken.has(taskId)) {
    // Records outlive their task for a while: an id with records is not unknown.
    const any = runs.length > 0 || (await store.getRuns({ taskId, limit: 1 })).length > 0;
    if (!any) throw badInput(`no task and no runs with id '${taskId}' in ${open.location.label}`);
  }
  warnBroken(open, out);
  if (out.json) {
    out.emitJson(runs.map(runJson));
    return;
  }
  const what = `${options.failed === true ? 'failed ' : ''}runs${taskId === undefined ? '' : ` of task '${taskId}'`}`;
  if (runs.length === 0) {
    out.lines([`no ${what} recorded`]);
    return;
  }
  const zone = displayZone(task?.trigger.toJSON(), tz);
  const { colours } = out;
  out.lines([
    colours.dim(runTableNote(zone)),
    ...renderTable(
      RUN_COLUMNS,
      runs.map((run) => runRow(run, zone, colours)),
      { width: out.width, headerPaint: colours.bold },
    ),
  ]);
}

function parseLimit(text: string): number {
  const limit = Number(text);
  if (!/^\d+$/.test(text.trim()) || limit < 1 || limit > MAX_RUNS) {
    throw badInput(`-n: expected a whole number from 1 to ${MAX_RUNS}, got '${text}'`);
  }
  return limit;
}
