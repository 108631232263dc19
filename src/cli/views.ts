/**
 * Tasks and runs as the commands show them: as JSON for `--json` (ISO 8601 times, every stored field), and as
 * table rows (times in a display zone and UTC, the trigger in words, outcomes painted).
 */
import type { StoredRunRecord } from '../history.js';
import type { TaskRecord } from '../store.js';
import { systemTimezone } from '../time.js';
import { AFTER_IDLE } from '../triggers/after.js';
import type { TriggerSpec } from '../triggers/trigger.js';
import { outcomePaint, type Palette } from './colour.js';
import { formatDuration } from './durations.js';
import type { Column, Row } from './table.js';
import { formatLocal, formatUtc, isoLocal, isoUtc, type Precision } from './time-format.js';
import { triggerInWords, triggerZone } from './trigger-words.js';

/** The zone a task's times are shown in: `--tz`, else the zone its trigger computes in, else the system's. */
export function displayZone(spec: TriggerSpec | undefined, tz: string | undefined): string {
  return tz ?? (spec === undefined ? undefined : triggerZone(spec)) ?? systemTimezone();
}

/** True for a task that is paused (no next run time), as opposed to one that only fires at shutdown. */
export function isPaused(record: TaskRecord): boolean {
  return record.nextRunTime === null && record.trigger.toJSON().type !== 'shutdown';
}

/** A run record as JSON: its instants as ISO 8601 in UTC, every other field as stored. */
export function runJson(run: StoredRunRecord): Record<string, unknown> {
  return {
    ...run,
    scheduledRunTime: isoUtc(run.scheduledRunTime),
    startedAt: isoUtc(run.startedAt),
    endedAt: isoUtc(run.endedAt),
  };
}

/** The last run of a task as the task listing shows it (JSON). */
export function lastRunJson(run: StoredRunRecord | undefined): Record<string, unknown> | null {
  if (run === undefined) return null;
  const json: Record<string, unknown> = {
    runId: run.runId,
    outcome: run.outcome,
    endedAt: isoUtc(run.endedAt),
    durationMs: run.durationMs,
  };
  if (run.error !== undefined) json.error = `${run.error.name}: ${run.error.message}`;
  return json;
}

/** A task as JSON: every stored field (instants as ISO 8601), with its trigger in words and its state. */
export function taskJson(record: TaskRecord, zone: string): Record<string, unknown> {
  const spec = record.trigger.toJSON();
  return {
    id: record.id,
    name: record.name,
    function: typeof record.fn === 'string' ? record.fn : '(function)',
    trigger: spec,
    triggerText: triggerInWords(spec),
    args: record.args,
    executor: record.executor,
    coalesce: record.coalesce,
    misfireGraceTime: record.misfireGraceTime,
    maxInstances: record.maxInstances,
    nextRunTime: awaitsUpstream(record) ? null : isoUtc(record.nextRunTime),
    nextRunTimeLocal:
      record.nextRunTime === null || awaitsUpstream(record) ? null : isoLocal(record.nextRunTime, zone),
    awaitsUpstream: awaitsUpstream(record),
    zone,
    paused: isPaused(record),
    retries: record.retries,
    timeout: record.timeout,
    tags: record.tags,
    hooks: record.hooks,
  };
}

/** True for a task with an after-trigger that waits for runs of its upstream tasks (it has no time of its own). */
export function awaitsUpstream(record: TaskRecord): boolean {
  return record.nextRunTime === AFTER_IDLE;
}

/** A task's next run time, on two lines: in `zone` (with offset) and in UTC; or why it has none. */
export function nextRunText(record: TaskRecord, zone: string, precision: Precision): string {
  if (record.nextRunTime === null) return isPaused(record) ? '-' : 'at shutdown';
  if (awaitsUpstream(record)) return 'after upstream';
  return `${formatLocal(record.nextRunTime, zone, precision)}\n${formatUtc(record.nextRunTime, precision)}`;
}

/** The columns of the run tables (`runs`, `show`). */
export const RUN_COLUMNS: readonly Column[] = [
  { header: 'SCHEDULED' },
  { header: 'TASK', min: 6, maxLines: 2 },
  { header: 'STARTED', min: 7 },
  { header: 'TOOK', align: 'right' },
  { header: 'OUTCOME' },
  { header: 'TRIES', align: 'right' },
];

/**
 * A run as a table row: when it was scheduled (in `zone`, with its offset), its task, how long after its scheduled time
 * it started, how long it took, its outcome and attempts; below, its run id (and what it replays), and its error.
 */
export function runRow(run: StoredRunRecord, zone: string, colours: Palette): Row {
  const started =
    run.startedAt === null ? '-' : `+${formatDuration(Math.max(0, run.startedAt - run.scheduledRunTime))}`;
  const outcome =
    run.outcome === 'missed' && run.missedCount !== undefined && run.missedCount > 1
      ? `missed x${run.missedCount}`
      : run.outcome;
  const details = [
    {
      text: `run ${run.runId}${run.replayOf === undefined ? '' : `, replay of ${run.replayOf}`}`,
      paint: colours.dim,
    },
  ];
  if (run.error !== undefined)
    details.push({ text: `${run.error.name}: ${run.error.message}`, paint: colours.red });
  return {
    cells: [
      formatLocal(run.scheduledRunTime, zone, 'second'),
      run.taskId,
      started,
      run.durationMs === null ? '-' : formatDuration(run.durationMs),
      { text: outcome, paint: outcomePaint(colours, run.outcome) },
      String(run.attempts),
    ],
    details,
  };
}

/** The line above a run table: the zone its times are in, and what STARTED says. */
export function runTableNote(zone: string): string {
  return `times in ${zone}; STARTED: how long after its scheduled time a run started`;
}
