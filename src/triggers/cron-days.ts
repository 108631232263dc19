/**
 * Skipping the days on which a cron expression cannot fire, before cron-parser searches.
 *
 * cron-parser finds a match by stepping through the calendar a day at a time (about 15 µs a step),
 * so a leap-day expression (`0 0 29 2 *`) would walk up to four years of days per fire time. The
 * month and day-of-month fields tell in closed form which days can match at all; the search starts
 * on the first of them, so a leap day or a yearly expression costs about what a daily one does.
 */
import type { CronFieldCollection } from 'cron-parser';

const DAY_MS = 86_400_000;
/** How many months ahead a possible day is looked for: Feb 29 recurs within 8 years (2096 → 2104). */
const MAX_MONTHS_AHEAD = 12 * 9;

/**
 * The days on which the month and day-of-month fields allow a match. Built only when the
 * day-of-week field is `*` or `?`: a restricted day of week matches days of its own (Vixie cron's
 * "either one") and every day stays possible.
 */
export class PossibleDays {
  /** Allowed months, 0-based. */
  readonly #months: ReadonlySet<number>;
  /** Allowed days of month, ascending. */
  readonly #days: readonly number[];
  /** The last day of each month is allowed (`L`). */
  readonly #lastDay: boolean;
  /** The latest time of day that the hour, minute and second fields match, in ms after midnight. */
  readonly #lastTimeOfDayMs: number;

  private constructor(months: number[], days: number[], lastDay: boolean, lastTimeOfDayMs: number) {
    this.#months = new Set(months.map((month) => month - 1));
    this.#days = [...days].sort((a, b) => a - b);
    this.#lastDay = lastDay;
    this.#lastTimeOfDayMs = lastTimeOfDayMs;
  }

  /** The possible days of a parsed expression, or `null` when every day is possible (nothing to skip). */
  static of(fields: CronFieldCollection): PossibleDays | null {
    if (!fields.dayOfWeek.isWildcard) return null;
    const months: number[] = [...fields.month.values];
    const everyDay = fields.dayOfMonth.isWildcard;
    if (everyDay && months.length === 12) return null;
    const dayValues: ReadonlyArray<number | string> = everyDay ? [] : fields.dayOfMonth.values;
    const days = everyDay
      ? Array.from({ length: 31 }, (_, index) => index + 1)
      : dayValues.filter((day): day is number => typeof day === 'number');
    const lastDay = dayValues.includes('L');
    // Anything else cron-parser may grow one day is not understood here: skip nothing.
    if (dayValues.some((day) => typeof day !== 'number' && day !== 'L')) return null;
    const latest = (values: ReadonlyArray<number | string>) =>
      Math.max(...values.filter((value): value is number => typeof value === 'number'));
    const lastTime =
      ((latest(fields.hour.values) * 60 + latest(fields.minute.values)) * 60 + latest(fields.second.values)) *
      1000;
    return new PossibleDays(months, days, lastDay, lastTime);
  }

  /**
   * The first wall time at or after `fromWall` (UTC-encoded) that may match: `fromWall` itself when its
   * day is possible and a time of day at or after it is left, else the midnight of the next possible day
   * (at most `MAX_MONTHS_AHEAD` months ahead; past that, the first day not yet ruled out).
   */
  firstFrom(fromWall: number): number {
    const dayStart = Math.floor(fromWall / DAY_MS) * DAY_MS;
    if (fromWall - dayStart <= this.#lastTimeOfDayMs && this.#firstDayFrom(dayStart) === dayStart) {
      return fromWall;
    }
    return this.#firstDayFrom(dayStart + DAY_MS);
  }

  /** The midnight of the first possible day at or after the day that starts at `dayStart`. */
  #firstDayFrom(dayStart: number): number {
    const date = new Date(dayStart);
    let year = date.getUTCFullYear();
    let month = date.getUTCMonth();
    let fromDay = date.getUTCDate();
    for (let scanned = 0; scanned < MAX_MONTHS_AHEAD; scanned++) {
      const day = this.#months.has(month) ? this.#firstDayInMonth(year, month, fromDay) : null;
      if (day !== null) return utcMidnight(year, month, day);
      fromDay = 1;
      month = (month + 1) % 12;
      if (month === 0) year++;
    }
    return utcMidnight(year, month, 1);
  }

  /** The first allowed day of a month on or after `fromDay`, or `null`. */
  #firstDayInMonth(year: number, month: number, fromDay: number): number | null {
    const length = utcMidnight(year, month + 1, 0) / DAY_MS - utcMidnight(year, month, 0) / DAY_MS;
    const day = this.#days.find((allowed) => allowed >= fromDay && allowed <= length);
    if (day !== undefined) return day;
    return this.#lastDay && length >= fromDay ? length : null;
  }
}

/** Midnight of a calendar date as UTC ms; months and days out of range roll over as in `Date.UTC`. */
function utcMidnight(year: number, month: number, day: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  return date.getTime();
}
