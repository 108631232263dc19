/**
 * Durations on the command line: read (`--every 90m`, `--timeout 10s`) and written (`1.2s`, `3m05s`).
 *
 * Read: an ISO 8601 duration (`PT90M`, `P1D`) or the short form, one or more `<number><unit>` with the units
 * `w`, `d`, `h`, `m`, `s`, `ms` (`90m`, `1h30m`, `45s`, `2d`, `1.5h`, `500ms`); a day is 24 hours.
 */
import { parseDuration } from '../time.js';
import type { IntervalLength } from '../triggers/interval.js';
import { badInput } from './errors.js';

const UNIT_MS: Readonly<Record<string, number>> = {
  w: 604_800_000,
  d: 86_400_000,
  h: 3_600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
};

/** The short form, whole: one or more number-unit pairs, `ms` before `m` so that it is not read as minutes. */
const SHORT_FORM = /^(?:\d+(?:\.\d+)?(?:ms|w|d|h|m|s))+$/;
const SHORT_PART = /(\d+(?:\.\d+)?)(ms|w|d|h|m|s)/g;

/** What the help says a duration is. */
export const DURATION_FORMS = "90m, 1h30m, 45s, 2d, 500ms (units w d h m s ms) or ISO 8601 such as 'PT90M'";

/** A duration argument in ms; malformed, negative or (unless `allowZero`) zero is bad input naming `what`. */
export function parseDurationArg(text: string, what: string, allowZero = false): number {
  const trimmed = text.trim().toLowerCase();
  let ms: number;
  if (SHORT_FORM.test(trimmed)) {
    ms = 0;
    for (const [, amount, unit] of trimmed.matchAll(SHORT_PART))
      ms += Number(amount) * (UNIT_MS[unit as string] ?? 0);
    ms = Math.round(ms);
  } else if (/^p/.test(trimmed)) {
    try {
      ms = parseDuration(text.trim().toUpperCase(), what);
    } catch {
      throw badInput(`${what}: '${text}' is not a duration (expected ${DURATION_FORMS})`);
    }
  } else {
    throw badInput(`${what}: '${text}' is not a duration (expected ${DURATION_FORMS})`);
  }
  if (!Number.isSafeInteger(ms)) throw badInput(`${what}: '${text}' is too long`);
  if (ms === 0 && !allowZero) throw badInput(`${what}: '${text}' is empty; it must be longer than 0 ms`);
  return ms;
}

/**
 * A duration for people: `850ms`, `1.2s`, `42s`, `3m05s`, `2h07m`, `3d04h`. Sub-minute values keep one decimal
 * below 10 s.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 10_000) return `${Math.floor(ms / 100) / 10}s`;
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${pad(seconds % 60)}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h${pad(minutes % 60)}m`;
  return `${Math.floor(hours / 24)}d${pad(hours % 24)}h`;
}

/**
 * A duration as words for trigger descriptions: `5 minutes`, `1 hour 30 minutes`, `90 seconds`, `250 ms`
 * (the largest units that divide it exactly, weeks down to milliseconds).
 */
export function durationInWords(ms: number): string {
  const units: Array<[number, string]> = [
    [604_800_000, 'week'],
    [86_400_000, 'day'],
    [3_600_000, 'hour'],
    [60_000, 'minute'],
    [1000, 'second'],
  ];
  const parts: string[] = [];
  let left = Math.round(ms);
  for (const [size, name] of units) {
    const count = Math.floor(left / size);
    if (count > 0) {
      parts.push(`${count} ${name}${count === 1 ? '' : 's'}`);
      left -= count * size;
    }
  }
  if (left > 0 || parts.length === 0) parts.push(`${left} ms`);
  return parts.join(' ');
}

/** `ms` as an interval's parts, in the largest units that divide it (`5_400_000` is `{ hours: 1, minutes: 30 }`). */
export function intervalLength(ms: number): IntervalLength {
  const length: IntervalLength = {};
  let left = ms;
  for (const [unit, size] of LENGTH_UNITS) {
    const count = Math.floor(left / size);
    if (count > 0) {
      length[unit] = count;
      left -= count * size;
    }
  }
  return length;
}

const LENGTH_UNITS: ReadonlyArray<[keyof IntervalLength, number]> = [
  ['weeks', 604_800_000],
  ['days', 86_400_000],
  ['hours', 3_600_000],
  ['minutes', 60_000],
  ['seconds', 1000],
  ['milliseconds', 1],
];

function pad(value: number): string {
  return String(value).padStart(2, '0');
}
