/**
 * `kairos next "<cron>" [--tz ZONE] [--start DATE] [-n 5]` and `kairos next --every DURATION [--start DATE]`:
 * the next fire times, each in the zone and in UTC, computed by the very trigger classes the scheduler uses
 * (`CronTrigger`, `IntervalTrigger`), so with its DST rule; fire times at a DST gap or overlap are marked.
 */

import { parseDate, parseTimezone, systemTimezone } from '../../time.js';
import { CronTrigger } from '../../triggers/cron.js';
import { IntervalTrigger } from '../../triggers/interval.js';
import type { Trigger } from '../../triggers/trigger.js';
import { dstMark } from '../dst.js';
import { intervalLength, parseDurationArg } from '../durations.js';
import { badInput } from '../errors.js';
import type { Output } from '../output.js';
import { type Column, type Row, renderTable } from '../table.js';
import { formatLocal, formatUtc, isoLocal, isoUtc, precisionFor } from '../time-format.js';
import { triggerInWords } from '../trigger-words.js';

/** The options of `kairos next`. */
export interface NextOptions {
  every?: string;
  start?: string;
  tz?: string;
  count: string;
}

/** The most fire times `-n` may ask for. */
export const MAX_COUNT = 1000;

/** One fire time, as `--json` writes it. */
export interface FireTimeJson {
  n: number;
  /** ISO 8601 with the zone's offset. */
  local: string;
  /** ISO 8601 in UTC. */
  utc: string;
  zone: string;
  dst: { kind: 'gap' | 'overlap' | 'change'; text: string } | null;
}

export async function nextCommand(
  expression: string | undefined,
  options: NextOptions,
  out: Output,
): Promise<void> {
  const count = parseCount(options.count);
  const zone = options.tz === undefined ? systemTimezone() : parseTimezone(options.tz, '--tz');
  const start = options.start === undefined ? undefined : parseDate(options.start, zone, '--start');
  const { trigger, wallTimeMatches } = buildTrigger(expression, options.every, zone, start);
  const from = start ?? new Date();
  const times: number[] = [];
  let previous: Date | null = null;
  while (times.length < count) {
    const next = trigger.getNextFireTime(previous, from);
    if (next === null) break;
    times.push(next.getTime());
    previous = next;
  }
  const rows: FireTimeJson[] = times.map((time, index) => {
    const before = index === 0 ? from.getTime() : (times[index - 1] as number);
    return {
      n: index + 1,
      local: isoLocal(time, zone),
      utc: isoUtc(time) as string,
      zone,
      dst: dstMark(time, before, zone, wallTimeMatches),
    };
  });
  if (out.json) {
    out.emitJson(rows);
    return;
  }
  const precision = precisionFor(times);
  const { colours } = out;
  const listed = times.length === 0 ? 'no fire time' : `next ${times.length}`;
  const since = formatLocal(from.getTime(), zone, precisionFor([from.getTime()]));
  const lines = [colours.bold(`${triggerInWords(trigger.toJSON())}: ${listed} from ${since}`)];
  if (times.length > 0) {
    // The NOTE column only when a fire time has a DST mark.
    const noted = rows.some((row) => row.dst !== null);
    const columns: Column[] = [
      { header: '#', align: 'right' },
      { header: zone, min: 16 },
      { header: 'UTC', min: 16 },
    ];
    if (noted) columns.push({ header: 'NOTE', min: 10 });
    const tableRows: Row[] = rows.map((row, index) => {
      const cells: Row['cells'] = [
        String(row.n),
        formatLocal(times[index] as number, zone, precision),
        formatUtc(times[index] as number, precision),
      ];
      if (noted) cells.push({ text: row.dst?.text ?? '', paint: colours.yellow });
      return { cells };
    });
    lines.push(...renderTable(columns, tableRows, { width: out.width, headerPaint: colours.dim }));
  }
  out.lines(lines);
}

/** `-n`: an integer from 1 to `MAX_COUNT`. */
function parseCount(text: string): number {
  const count = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(count) || count < 1 || count > MAX_COUNT) {
    throw badInput(`-n: expected a whole number from 1 to ${MAX_COUNT}, got '${text}'`);
  }
  return count;
}

/**
 * The trigger to list: a cron expression in `zone`, or an interval (starting at `start`, else one interval from
 * now, as `IntervalTrigger` does). For cron, also a test of whether a wall-clock time is one the expression asks
 * for (the same expression read in UTC, where wall time and instant coincide), to tell shifted fire times.
 */
function buildTrigger(
  expression: string | undefined,
  every: string | undefined,
  zone: string,
  start: Date | undefined,
): { trigger: Trigger; wallTimeMatches?: (wall: number) => boolean } {
  if (expression !== undefined && every !== undefined) {
    throw badInput('next: give either a cron expression or --every, not both');
  }
  if (every !== undefined) {
    const trigger = new IntervalTrigger(
      intervalLength(parseDurationArg(every, '--every')),
      start === undefined ? { timezone: zone } : { startAt: start, timezone: zone },
    );
    return { trigger };
  }
  if (expression === undefined) {
    throw badInput('next: give a cron expression (kairos next "0 9 * * 1-5") or --every DURATION');
  }
  const trigger = new CronTrigger(expression, { timezone: zone });
  const inUtc = new CronTrigger(expression, { timezone: 'UTC' });
  const wallTimeMatches = (wall: number) => inUtc.getNextFireTime(null, new Date(wall))?.getTime() === wall;
  return { trigger, wallTimeMatches };
}
