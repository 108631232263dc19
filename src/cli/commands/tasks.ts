/**
 * `kairos tasks`: every task of the store, with its trigger in words, its next run time (in its zone and in UTC),
 * whether it is paused, and its last run's outcome and duration. `kairos show ID`: every field of one task and
 * its last 5 runs.
 */
import type { StoredRunRecord } from '../../history.js';
import type { TaskRecord } from '../../store.js';
import { parseTimezone } from '../../time.js';
import { outcomePaint } from '../colour.js';
import { formatDuration } from '../durations.js';
import { badInput, failed } from '../errors.js';
import type { Output } from '../output.js';
import type { OpenStore } from '../store-open.js';
import { renderTable } from '../table.js';
import { formatLocal, formatUtc, precisionFor } from '../time-format.js';
import { triggerInWords } from '../trigger-words.js';
import {
  awaitsUpstream,
  displayZone,
  isPaused,
  lastRunJson,
  nextRunText,
  RUN_COLUMNS,
  runJson,
  runRow,
  runTableNote,
  taskJson,
} from '../views.js';

/** Options of `tasks` and `show`. */
export interface ViewOptions {
  tz?: string;
}

/** How many runs `show` lists. */
export const SHOW_RUNS = 5;

export async function tasksCommand(open: OpenStore, options: ViewOptions, out: Output): Promise<void> {
  const tz = options.tz === undefined ? undefined : parseTimezone(options.tz, '--tz');
  const { store } = open;
  const records = await store.getTasks();
  const lastRuns = await Promise.all(
    records.map(async (record) => (await store.getRuns({ taskId: record.id, limit: 1 }))[0]),
  );
  warnBroken(open, out);
  if (out.json) {
    out.emitJson(
      records.map((record, index) => ({
        ...taskJson(record, displayZone(record.trigger.toJSON(), tz)),
        lastRun: lastRunJson(lastRuns[index]),
      })),
    );
    return;
  }
  if (records.length === 0) {
    out.lines([`no tasks in ${open.location.label}`]);
    return;
  }
  const { colours } = out;
  const precision = precisionFor(records.map((record) => record.nextRunTime));
  const lines = renderTable(
    [
      { header: 'ID / NAME', min: 10, maxLines: 4 },
      { header: 'TRIGGER', min: 14, maxLines: 4 },
      { header: 'NEXT RUN' },
      { header: 'PAUSED' },
      { header: 'LAST', min: 7, maxLines: 2 },
    ],
    records.map((record, index) => {
      const last = lastRuns[index];
      const zone = displayZone(record.trigger.toJSON(), tz);
      return {
        cells: [
          record.name === record.id ? record.id : `${record.id}\n${record.name}`,
          triggerInWords(record.trigger.toJSON()),
          nextRunText(record, zone, precision),
          { text: isPaused(record) ? 'yes' : 'no', paint: isPaused(record) ? colours.yellow : undefined },
          {
            text: last === undefined ? '-' : lastRunText(last),
            paint: last === undefined ? undefined : outcomePaint(colours, last.outcome),
          },
        ],
      };
    }),
    { width: out.width, headerPaint: colours.bold },
  );
  out.lines(lines);
}

export async function showCommand(
  open: OpenStore,
  id: string,
  options: ViewOptions,
  out: Output,
): Promise<void> {
  const tz = options.tz === undefined ? undefined : parseTimezone(options.tz, '--tz');
  const record = await findTask(open, id);
  const runs = await open.store.getRuns({ taskId: id, limit: SHOW_RUNS });
  const zone = displayZone(record.trigger.toJSON(), tz);
  if (out.json) {
    out.emitJson({ ...taskJson(record, zone), runs: runs.map(runJson) });
    return;
  }
  const { colours } = out;
  const json = taskJson(record, zone);
  const precision = precisionFor([record.nextRunTime]);
  const fields: Array<[string, string]> = [
    ['id', record.id],
    ['name', record.name],
    ['function', String(json.function)],
    ['trigger', triggerInWords(record.trigger.toJSON())],
    ['trigger spec', JSON.stringify(record.trigger.toJSON())],
    [
      'next run',
      record.nextRunTime === null
        ? isPaused(record)
          ? '- (paused)'
          : 'at shutdown'
        : awaitsUpstream(record)
          ? 'when its upstream tasks have run'
          : `${formatLocal(record.nextRunTime, zone, precision)}  (${formatUtc(record.nextRunTime, precision)})`,
    ],
    ['paused', isPaused(record) ? 'yes' : 'no'],
    ['args', JSON.stringify(record.args)],
    ['executor', record.executor],
    ['coalesce', String(record.coalesce)],
    [
      'misfire grace',
      record.misfireGraceTime === null
        ? 'none (any lateness is fine)'
        : formatDuration(record.misfireGraceTime),
    ],
    ['max instances', String(record.maxInstances)],
    ['retries', retriesText(record)],
    ['timeout', record.timeout === null ? 'none' : formatDuration(record.timeout)],
    ['tags', record.tags.length === 0 ? 'none' : record.tags.join(', ')],
    [
      'hooks',
      record.hooks === null
        ? 'none'
        : Object.entries(record.hooks)
            .map(([kind, hook]) => `${kind}: ${typeof hook === 'string' ? hook : '(function)'}`)
            .join(', '),
    ],
  ];
  const label = Math.max(...fields.map(([name]) => name.length)) + 2;
  const lines = fields.map(([name, value]) => `${colours.bold(`${name}:`.padEnd(label))}${value}`);
  lines.push('');
  if (runs.length === 0) {
    lines.push(`no runs recorded`);
  } else {
    lines.push(
      colours.bold(`last ${runs.length} run${runs.length === 1 ? '' : 's'}`),
      colours.dim(runTableNote(zone)),
    );
    lines.push(
      ...renderTable(
        RUN_COLUMNS,
        runs.map((run) => runRow(run, zone, colours)),
        { width: out.width, headerPaint: colours.bold },
      ),
    );
  }
  out.lines(lines);
}

/** A task by id; unknown: bad input; a record the store cannot read: a failure that says why. */
export async function findTask(open: OpenStore, id: string): Promise<TaskRecord> {
  const record = await open.store.getTask(id);
  if (record !== undefined) return record;
  const broken = open.broken.get(id);
  if (broken !== undefined) throw failed(`cannot read task '${id}' in the store: ${broken.message}`);
  throw badInput(`no task with id '${id}' in ${open.location.label}`);
}

/** Says which records the store could not read (kept untouched in the store). */
export function warnBroken(open: OpenStore, out: Output): void {
  for (const [id, error] of open.broken)
    out.warn(`left out task '${id}', which cannot be read: ${error.message}`);
}

function lastRunText(run: StoredRunRecord): string {
  return run.durationMs === null ? run.outcome : `${run.outcome}\n${formatDuration(run.durationMs)}`;
}

function retriesText(record: TaskRecord): string {
  const retries = record.retries;
  if (retries === null || retries.max === 0) return 'none';
  const parts = [`up to ${retries.max}`, `delay ${formatDuration(retries.delayMs)}`];
  if (retries.backoff !== 1)
    parts.push(`x${retries.backoff} each`, `at most ${formatDuration(retries.maxDelayMs)}`);
  if (retries.jitter) parts.push('jittered');
  return parts.join(', ');
}
