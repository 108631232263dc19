/**
 * Parsing of the time inputs of the public API (durations, dates, timezones) with luxon.
 * Every function here validates and throws `ValueError` naming the option and the bad value.
 */
import { DateTime, Duration, type DurationLikeObject, IANAZone } from 'luxon';
import { ValueError } from './errors.js';
import { describeValue } from './validate.js';
import { wallToInstant } from './wallclock.js';

/** A duration: milliseconds, a luxon duration object (`{ minutes: 5 }`), or an ISO 8601 string (`'PT30S'`). */
export type DurationInput = number | DurationLikeObject | string;

/** An instant: a `Date`, epoch milliseconds, an ISO 8601 string, or a luxon `DateTime`. */
export type DateInput = Date | number | string | DateTime;

/** The largest delay `setTimeout` accepts (2^31-1 ms, about 24.8 days). */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** The largest distance from the epoch a `Date` can hold, in ms (about 273,790 years either way). */
export const MAX_INSTANT_MS = 8.64e15;

/** The longest duration accepted, in ms: the largest safe integer (about 285,616 years). */
export const MAX_DURATION_MS = Number.MAX_SAFE_INTEGER;

/** Renders a user-supplied value for an error message (kept here for existing imports; see validate.ts). */
export { describeValue } from './validate.js';

/** The system zone as last read, and the `TZ` it was read under (reading it costs ~0.2 ms). */
let cachedSystemZone: { tz: string | undefined; zone: string } | undefined;

/** The zone the process runs in (from `TZ` or the OS), used only where the user gave none. */
export function systemTimezone(): string {
  if (cachedSystemZone === undefined || cachedSystemZone.tz !== process.env.TZ) {
    cachedSystemZone = { tz: process.env.TZ, zone: Intl.DateTimeFormat().resolvedOptions().timeZone };
  }
  return cachedSystemZone.zone;
}

/** Zone names already validated (luxon's check builds an `Intl.DateTimeFormat`, ~0.3 ms each). */
const validZones = new Set<string>();

/** Validates an IANA timezone name and returns it; an unknown zone is a `ValueError` naming it. */
export function parseTimezone(zone: unknown, what = 'timezone'): string {
  if (typeof zone === 'string' && validZones.has(zone)) return zone;
  if (typeof zone !== 'string' || zone === '' || !IANAZone.isValidZone(zone)) {
    throw new ValueError(
      `${what}: unknown timezone ${describeValue(zone)} (expected an IANA name such as 'Europe/Berlin')`,
    );
  }
  validZones.add(zone);
  return zone;
}

/**
 * Converts a `DurationInput` to whole milliseconds; negative, NaN, malformed input or one longer than
 * `MAX_DURATION_MS` is a `ValueError`.
 */
export function parseDuration(input: unknown, what = 'duration'): number {
  let ms: number;
  if (typeof input === 'number') {
    ms = input;
  } else if (typeof input === 'string') {
    const duration = Duration.fromISO(input);
    if (!duration.isValid) {
      throw new ValueError(
        `${what}: ${describeValue(input)} is not an ISO 8601 duration (expected e.g. 'PT30S')`,
      );
    }
    ms = duration.toMillis();
  } else if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
    let duration: Duration;
    try {
      duration = Duration.fromObject(input as DurationLikeObject);
    } catch (error) {
      throw new ValueError(
        `${what}: ${describeValue(input)} is not a duration object (${(error as Error).message})`,
      );
    }
    if (!duration.isValid) throw new ValueError(`${what}: ${describeValue(input)} is not a valid duration`);
    ms = duration.toMillis();
  } else {
    throw new ValueError(
      `${what}: ${describeValue(input)} is not a duration (expected milliseconds, { minutes: 5 } or 'PT5M')`,
    );
  }
  if (!Number.isFinite(ms) || ms < 0) {
    throw new ValueError(`${what}: ${describeValue(input)} must be a finite, non-negative duration`);
  }
  if (Math.round(ms) > MAX_DURATION_MS) {
    throw new ValueError(
      `${what}: ${describeValue(input)} is ${ms} ms, longer than the longest supported duration (${MAX_DURATION_MS} ms)`,
    );
  }
  return Math.round(ms);
}

/** A full ISO 8601 date-time with `Z` or a numeric offset, as `Date.prototype.toISOString` writes. */
const ISO_WITH_OFFSET = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?)(Z|([+-])(\d{2}):(\d{2}))$/;

/** The UTC offset at the end of an ISO date-time (`+05:30`, `+0530`, `+05`), in the forms luxon reads. */
const ISO_TRAILING_OFFSET = /[Tt][\d:.,]+([+-](\d{2})(?::?(\d{2}))?)$/;

/**
 * Throws a `ValueError` when an ISO date-time ends in an offset that cannot exist (hours above 23 or
 * minutes above 59, the RFC 3339 bounds): `Date.parse` and luxon would read `+25:00` or `+05:60`.
 */
function checkIsoOffset(input: string, what: string): void {
  const match = ISO_TRAILING_OFFSET.exec(input);
  if (match === null) return;
  const [, offset, hours, minutes] = match as unknown as [string, string, string, string?];
  if (Number(hours) > 23 || Number(minutes ?? 0) > 59) {
    throw new ValueError(
      `${what}: ${describeValue(input)} has an impossible UTC offset '${offset}' (expected hours 00-23 and minutes 00-59)`,
    );
  }
}

/**
 * Epoch ms of an ISO date-time with an explicit offset (the form stores write), or null for any other
 * string or an impossible date: the fast path is taken only when the instant reproduces the wall-clock
 * fields exactly (`Date.parse` alone would roll 2026-02-30 over into March).
 */
function parseIsoWithOffset(input: string): number | null {
  const match = ISO_WITH_OFFSET.exec(input);
  if (match === null) return null;
  const ms = Date.parse(input);
  if (Number.isNaN(ms)) return null;
  const [, local, , sign, hours, minutes] = match as unknown as [
    string,
    string,
    string,
    string?,
    string?,
    string?,
  ];
  const offsetMs =
    sign === undefined ? 0 : (sign === '-' ? -1 : 1) * (Number(hours) * 60 + Number(minutes)) * 60_000;
  const wall = new Date(ms + offsetMs).toISOString();
  return wall.startsWith(local) || `${wall.slice(0, 16)}` === local ? ms : null;
}

/**
 * Converts a `DateInput` to a `Date`. An ISO string without an offset is read as wall-clock time in `zone`
 * (given, or computed only when needed).
 * An invalid input (an impossible offset included) is a `ValueError` naming `what`.
 */
export function parseDate(input: unknown, zone: string | (() => string), what = 'date'): Date {
  let ms: number;
  if (input instanceof Date) {
    ms = input.getTime();
  } else if (typeof input === 'number') {
    ms = input;
  } else if (typeof input === 'string') {
    ms = parseDateString(input, zone, what);
  } else if (DateTime.isDateTime(input)) {
    if (!input.isValid) throw new ValueError(`${what}: invalid luxon DateTime (${input.invalidReason})`);
    ms = input.toMillis();
  } else {
    throw new ValueError(
      `${what}: ${describeValue(input)} is not a date (expected a Date, epoch ms, ISO string or DateTime)`,
    );
  }
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_INSTANT_MS) {
    throw new ValueError(`${what}: ${describeValue(input)} is not a valid instant`);
  }
  return new Date(ms);
}

/**
 * The zone an ISO string is first read in: an offset-less string keeps it (so its fields read as a
 * UTC-encoded wall-clock time), one with an offset gets a fixed-offset zone instead.
 */
const WALL_FRAME = IANAZone.create('Etc/UTC');
/** Wall-clock times that `src/wallclock.ts` maps (years 1 to 9999, a day of margin either side). */
const FIRST_MAPPED_WALL = Date.parse('0001-01-02T00:00:00Z');
const LAST_MAPPED_WALL = Date.UTC(9999, 11, 30);

/**
 * Epoch ms of an ISO 8601 string. One without an offset is a wall-clock time in `zone`, mapped by
 * the DST rule of API.md (`src/wallclock.ts`): a time repeated by a fall-back is its first occurrence,
 * one skipped by a spring-forward gap is shifted forward by the gap's length.
 */
function parseDateString(input: string, zone: string | (() => string), what: string): number {
  checkIsoOffset(input, what);
  const withOffset = parseIsoWithOffset(input);
  if (withOffset !== null) return withOffset;
  const parsed = DateTime.fromISO(input, { zone: WALL_FRAME, setZone: true });
  if (!parsed.isValid) {
    throw new ValueError(`${what}: ${describeValue(input)} is not an ISO 8601 date-time`);
  }
  if (parsed.zone !== WALL_FRAME) return parsed.toMillis();
  const wall = parsed.toMillis();
  const zoneName = typeof zone === 'string' ? zone : zone();
  if (wall < FIRST_MAPPED_WALL || wall > LAST_MAPPED_WALL) {
    return DateTime.fromISO(input, { zone: zoneName }).toMillis();
  }
  return wallToInstant(wall, zoneName);
}
