/**
 * Which days of a month a cron expression's day fields match, as a bitmask (bit `d` set: day `d`).
 *
 * The rules are cron-parser's (and Vixie cron's): when both the day-of-month and the day-of-week
 * fields are restricted, a day matching either one matches; when one of them is `*` (or `?`), the
 * other alone decides. Day of month takes numbers, `L` (the last day) and kairos' `nW` / `LW` (the
 * weekday nearest day n, within its month; the last weekday). Day of week takes weekdays (0 or 7 is
 * Sunday), `nL` (the last weekday n of the month) and `n#k` (the k-th weekday n of the month).
 */

/** The nearest-weekday rule of a `W` day field: the day of month named, or `'last'` for `LW`. */
export type NearestWeekday = number | 'last';

/** The parsed day fields, in the compact form `daysOfMonth` reads. */
export interface CronDayFields {
  /** The day-of-month field is `*` or `?` (it does not restrict the days). */
  readonly dayOfMonthWildcard: boolean;
  /** Bit `d` (1..31) set: day of month `d` is named. */
  readonly dayOfMonthMask: number;
  /** `L`: the last day of the month is named. */
  readonly lastDayOfMonth: boolean;
  /** `nW` or `LW`, or `null`. */
  readonly nearestWeekday: NearestWeekday | null;
  /** The day-of-week field is `*` or `?`. */
  readonly dayOfWeekWildcard: boolean;
  /** Bit `w` (0 = Sunday .. 6) set: weekday `w` is named. */
  readonly weekdayMask: number;
  /** `#k`: only the k-th of the named weekdays in the month (1..5); 0 for every one. */
  readonly nthWeekday: number;
  /** Bit `w` set: the last weekday `w` of the month is named (`wL`). */
  readonly lastWeekdayMask: number;
}

/** Bits 1..7, 8..14, ...: every seventh day from day 1, over 31 days. */
const EVERY_SEVENTH_DAY = 0b0_0000001_0000001_0000001_0000001_0000001_0;
/** The days of month lengths 28..31, as masks of bits 1..length. */
const MONTH_MASKS = new Map<number, number>([28, 29, 30, 31].map((length) => [length, fullMonth(length)]));

/** Per-month offsets of Sakamoto's weekday formula (0-based months). */
const SAKAMOTO_OFFSETS: readonly number[] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];

/** Days in a month (0-based month) of a year of the proleptic Gregorian calendar. */
export function daysInMonth(year: number, month: number): number {
  if (month === 1) return isLeapYear(year) ? 29 : 28;
  return month === 3 || month === 5 || month === 8 || month === 10 ? 30 : 31;
}

/** True for a leap year of the proleptic Gregorian calendar. */
export function isLeapYear(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

/** The weekday (0 = Sunday) of a date of the proleptic Gregorian calendar (0-based month). */
export function weekdayOf(year: number, month: number, day: number): number {
  // Sakamoto's method: no Date object, valid for every year from 1 on.
  const y = month < 2 ? year - 1 : year;
  const weekday =
    (y + Math.floor(y / 4) - Math.floor(y / 100) + Math.floor(y / 400) + SAKAMOTO_OFFSETS[month]! + day) % 7;
  return weekday < 0 ? weekday + 7 : weekday;
}

/** The days of a month (0-based) that the day fields match, as a mask of bits 1..31. */
export function daysOfMonth(fields: CronDayFields, year: number, month: number): number {
  const length = daysInMonth(year, month);
  const firstWeekday = weekdayOf(year, month, 1);
  if (fields.dayOfMonthWildcard && fields.dayOfWeekWildcard) return MONTH_MASKS.get(length)!;
  const byDay = fields.dayOfMonthWildcard ? 0 : namedDays(fields, length, firstWeekday);
  const byWeekday = fields.dayOfWeekWildcard ? 0 : namedWeekdays(fields, length, firstWeekday);
  return (byDay | byWeekday) & MONTH_MASKS.get(length)!;
}

/** The days of the month that the day-of-month field names. */
function namedDays(fields: CronDayFields, length: number, firstWeekday: number): number {
  let mask = fields.dayOfMonthMask;
  if (fields.lastDayOfMonth) mask |= 1 << length;
  if (fields.nearestWeekday !== null) {
    const day = nearestWeekdayIn(fields.nearestWeekday, length, firstWeekday);
    if (day !== null) mask |= 1 << day;
  }
  return mask;
}

/**
 * The day a `W` rule picks in a month: the named day when it is a weekday, else the nearest weekday
 * within the month (Saturday the 1st → Monday the 3rd; Sunday the last → Friday); `null` when the
 * month has no such day (31W in April).
 */
function nearestWeekdayIn(rule: NearestWeekday, length: number, firstWeekday: number): number | null {
  const named = rule === 'last' ? length : rule;
  if (named > length) return null;
  const weekday = (firstWeekday + named - 1) % 7;
  if (weekday === 6) return named > 1 ? named - 1 : named + 2;
  if (weekday === 0) return named < length ? named + 1 : named - 2;
  return named;
}

/** The days of the month that the day-of-week field names. */
function namedWeekdays(fields: CronDayFields, length: number, firstWeekday: number): number {
  let mask = 0;
  for (let weekday = 0; weekday < 7; weekday++) {
    const plain = (fields.weekdayMask >> weekday) & 1;
    const last = (fields.lastWeekdayMask >> weekday) & 1;
    if (plain === 0 && last === 0) continue;
    // The first day of the month with this weekday, then every seventh day.
    const firstDay = 1 + ((weekday - firstWeekday + 7) % 7);
    const days = EVERY_SEVENTH_DAY << (firstDay - 1);
    if (plain === 1) {
      mask |= fields.nthWeekday === 0 ? days : days & weekOfMonth(fields.nthWeekday);
    }
    if (last === 1) mask |= days & lastWeekOf(length);
  }
  return mask;
}

/** Days 7k-6 .. 7k of a month, as a mask (k = 1..5). */
function weekOfMonth(nth: number): number {
  return 0b1111111 << ((nth - 1) * 7 + 1);
}

/** The last seven days of a month of `length` days, as a mask. */
function lastWeekOf(length: number): number {
  return 0b1111111 << (length - 6);
}

/** Bits 1..length set. */
function fullMonth(length: number): number {
  return (2 ** (length + 1) - 2) | 0;
}

/** The first day at or after `day` set in `mask` (bits 1..31), or 0 when there is none. */
export function firstDayFrom(mask: number, day: number): number {
  if (day > 31) return 0;
  const left = (mask >>> day) << day;
  if (left === 0) return 0;
  return 31 - Math.clz32(left & -left);
}

/** The last day at or before `day` set in `mask` (bits 1..31), or 0 when there is none. */
export function lastDayUntil(mask: number, day: number): number {
  if (day < 1) return 0;
  const kept = day >= 31 ? mask : mask & ((2 ** (day + 1) - 1) | 0);
  if (kept === 0) return 0;
  return 31 - Math.clz32(kept);
}
