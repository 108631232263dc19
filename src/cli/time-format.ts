/** Instants as the command writes them: in a zone with its offset, in UTC, and as ISO 8601 for `--json`. */
import { DateTime } from 'luxon';

/** Whether a time is written to the minute or to the second. */
export type Precision = 'minute' | 'second' | 'millisecond';

const LOCAL_FORMATS: Readonly<Record<Precision, string>> = {
  minute: 'yyyy-MM-dd HH:mm ZZ',
  second: 'yyyy-MM-dd HH:mm:ss ZZ',
  millisecond: 'yyyy-MM-dd HH:mm:ss.SSS ZZ',
};

const UTC_FORMATS: Readonly<Record<Precision, string>> = {
  minute: "yyyy-MM-dd HH:mm 'UTC'",
  second: "yyyy-MM-dd HH:mm:ss 'UTC'",
  millisecond: "yyyy-MM-dd HH:mm:ss.SSS 'UTC'",
};

/** `2026-03-08 03:30 -04:00`: the wall clock of `zone` at `ms`, with its UTC offset. */
export function formatLocal(ms: number, zone: string, precision: Precision = 'minute'): string {
  return DateTime.fromMillis(ms, { zone }).toFormat(LOCAL_FORMATS[precision]);
}

/** `2026-03-08 07:30 UTC`. */
export function formatUtc(ms: number, precision: Precision = 'minute'): string {
  return DateTime.fromMillis(ms, { zone: 'utc' }).toFormat(UTC_FORMATS[precision]);
}

/** `HH:mm` (or `HH:mm:ss` when the seconds are not 0) of a wall-clock time encoded as UTC ms. */
export function formatWallTimeOfDay(wall: number): string {
  const time = DateTime.fromMillis(wall, { zone: 'utc' });
  return time.toFormat(time.second === 0 ? 'HH:mm' : 'HH:mm:ss');
}

/** ISO 8601 in UTC (`2026-03-08T07:30:00.000Z`), or null. */
export function isoUtc(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

/** ISO 8601 with the zone's offset (`2026-03-08T03:30:00.000-04:00`). */
export function isoLocal(ms: number, zone: string): string {
  return DateTime.fromMillis(ms, { zone }).toISO() as string;
}

/**
 * The precision tables show these instants with: to the minute, or to the second when one of them has seconds
 * (milliseconds are left to `--json`).
 */
export function precisionFor(instants: ReadonlyArray<number | null | undefined>): Precision {
  for (const ms of instants) {
    if (ms !== null && ms !== undefined && ms % 60_000 !== 0) return 'second';
  }
  return 'minute';
}

/** An offset in ms as `+1h`, `-30m`, `+5h45m`. */
export function formatOffsetChange(ms: number): string {
  const sign = ms < 0 ? '-' : '+';
  const minutes = Math.round(Math.abs(ms) / 60_000);
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  if (hours === 0) return `${sign}${rest}m`;
  return rest === 0 ? `${sign}${hours}h` : `${sign}${hours}h${String(rest).padStart(2, '0')}m`;
}
