/**
 * `CalendarIntervalTrigger`: fires at one wall-clock time of day, every so many years, months,
 * weeks and days, in its timezone (APScheduler 4's `CalendarIntervalTrigger`).
 *
 * The dates are `startAt`, then each one stepped from the one before: years and months are added
 * keeping the day of month, again and again until the date exists (Jan 31 + 1 month is Mar 31:
 * Feb 31 is skipped), then weeks and days are added. Each date at `hour:minute:second` is a
 * wall-clock time that `src/wallclock.ts` maps to an instant: skipped by a spring-forward gap, it
 * fires shifted forward by the gap; repeated by a fall-back, it fires at its first occurrence.
 */
import { ValueError } from '../errors.js';
import { type DateInput, parseDate } from '../time.js';
import { describeValue } from '../validate.js';
import { wallClockAt, wallToInstant } from '../wallclock.js';
import { checkKeys, checkSpec } from './options.js';
import type { CalendarIntervalTriggerSpec, Trigger } from './trigger.js';
import { type BoundType, splitWindowSpec, TriggerWindow, WINDOW_KEYS } from './window.js';

/** The calendar step between two fire dates; at least one part must be positive. */
export interface CalendarInterval {
  /** @default 0 */
  years?: number;
  /** @default 0 */
  months?: number;
  /** @default 0 */
  weeks?: number;
  /** @default 0 */
  days?: number;
}

/** Options of a `CalendarIntervalTrigger`. */
export interface CalendarIntervalTriggerOptions {
  /** Hour of the fire time, 0-23. @default 0 */
  hour?: number;
  /** Minute of the fire time, 0-59. @default 0 */
  minute?: number;
  /** Second of the fire time, 0-59. @default 0 */
  second?: number;
  /**
   * The first fire date: a `YYYY-MM-DD` string, or any `DateInput`, whose date in `timezone` is used.
   * @default today in `timezone`
   */
  startAt?: DateInput;
  /**
   * The last date that may fire (inclusive), read like `startAt`.
   * @default no end
   */
  endAt?: DateInput;
  /**
   * IANA zone whose wall clock the fire times are in.
   * @default the scheduler's zone (see `withDefaultTimezone`), else the system zone
   */
  timezone?: string;
}

const DAY_MS = 86_400_000;
const INTERVAL_PARTS = ['years', 'months', 'weeks', 'days'] as const;
const INTERVAL_KEYS: ReadonlySet<string> = new Set(INTERVAL_PARTS);
/** The time of day, then the window's keys but `jitter` (a calendar interval has none). */
const OPTION_KEYS: ReadonlySet<string> = new Set([
  'hour',
  'minute',
  'second',
  ...WINDOW_KEYS.filter((key) => key !== 'jitter'),
]);
const SPEC_KEYS: ReadonlySet<string> = new Set(['type', ...INTERVAL_KEYS, ...OPTION_KEYS]);
/** The largest value of each interval part: about 10,000 years, the span of dates supported. */
const MAX_PARTS: Readonly<Record<(typeof INTERVAL_PARTS)[number], number>> = {
  years: 10_000,
  months: 120_000,
  weeks: 522_000,
  days: 3_653_000,
};
/** Window bounds that are calendar dates: days since 1970-01-01, written `YYYY-MM-DD`. */
const CALENDAR_DATES: BoundType<number> = { read: readDay, toNumber: (day) => day, write: formatDay };
/** The first and last dates supported, 0001-01-01 and 9999-12-31, as days since 1970-01-01. */
const MIN_DAY = utcDayNumber(1, 0, 1);
const MAX_DAY = utcDayNumber(9999, 11, 31);
/**
 * How far before the day of the search start a fire date may lie and still fire after it: a gap
 * shifts a fire time by at most a day, and offsets differ by at most a day across one.
 */
const SEARCH_MARGIN_DAYS = 3;

/** Fires at `hour:minute:second` on every date of a calendar step sequence, in its timezone. */
export class CalendarIntervalTrigger implements Trigger {
  /** Years per step. */
  readonly years: number;
  /** Months per step. */
  readonly months: number;
  /** Weeks per step. */
  readonly weeks: number;
  /** Days per step. */
  readonly days: number;
  /** Hour of the fire time. */
  readonly hour: number;
  /** Minute of the fire time. */
  readonly minute: number;
  /** Second of the fire time. */
  readonly second: number;
  /** The first fire date, `YYYY-MM-DD`. */
  readonly startAt: string;
  /** The last date that may fire, `YYYY-MM-DD`. */
  readonly endAt: string | undefined;
  /** The zone the user gave; `undefined` means the scheduler's (or the system's) zone. */
  readonly timezone: string | undefined;
  /** The zone the wall clock is read in. */
  readonly #zone: string;
  /** The options as given, so that `withDefaultTimezone` can re-read them in the new zone. */
  readonly #options: CalendarIntervalTriggerOptions;
  /**
   * The window, its bounds as days since 1970-01-01: `startAt` (declared, or today's date), `endAt`, zone.
   * Replaced only by `withDefaultTimezone`, to keep a default `startAt` undeclared.
   */
  #window: TriggerWindow<number, number>;

  /**
   * @throws ValueError naming the bad part of the interval or the bad option: an unknown key, a
   *   non-object, a part above about 10,000 years, a date outside years 1 to 9999.
   */
  constructor(interval: CalendarInterval, options: CalendarIntervalTriggerOptions = {}) {
    checkKeys(interval, INTERVAL_KEYS, 'CalendarIntervalTrigger', 'interval');
    checkKeys(options, OPTION_KEYS, 'CalendarIntervalTrigger');
    this.years = countOption(interval.years, 'years');
    this.months = countOption(interval.months, 'months');
    this.weeks = countOption(interval.weeks, 'weeks');
    this.days = countOption(interval.days, 'days');
    if (this.years + this.months + this.weeks + this.days === 0) {
      throw new ValueError(
        `CalendarIntervalTrigger: the interval ${describeValue(interval)} is empty; give at least one of years, months, weeks, days above 0`,
      );
    }
    this.hour = timeOption(options.hour, 'hour', 23);
    this.minute = timeOption(options.minute, 'minute', 59);
    this.second = timeOption(options.second, 'second', 59);
    this.#options = { ...options };
    this.#window = TriggerWindow.parse(options, {
      component: 'CalendarIntervalTrigger',
      bounds: CALENDAR_DATES,
      defaultStartAt: (zone) => dayOfWall(wallClockAt(Date.now(), zone())),
    });
    this.timezone = this.#window.timezone;
    this.#zone = this.#window.zone();
    this.startAt = formatDay(this.#window.startAt);
    this.endAt = this.#window.endAt === undefined ? undefined : formatDay(this.#window.endAt);
  }

  /** Rebuilds a trigger from its `toJSON()` form; an unknown key is a `ValueError` naming it. */
  static fromJSON(spec: CalendarIntervalTriggerSpec): CalendarIntervalTrigger {
    checkSpec(spec, 'calendarinterval', SPEC_KEYS, 'CalendarIntervalTrigger', 'calendar interval');
    const interval = { years: spec.years, months: spec.months, weeks: spec.weeks, days: spec.days };
    const [, window] = splitWindowSpec(spec);
    return new CalendarIntervalTrigger(interval, {
      hour: spec.hour,
      minute: spec.minute,
      second: spec.second,
      ...window,
    });
  }

  /**
   * With `previous`: the first fire time strictly after it. Without: the first at or after `now`.
   * `null` once the dates pass `endAt`.
   */
  getNextFireTime(previous: Date | null, now: Date): Date | null {
    const from = previous === null ? now.getTime() : previous.getTime() + 1;
    let day = this.#firstDayOnOrAfter(dayOfWall(wallClockAt(from, this.#zone)) - SEARCH_MARGIN_DAYS);
    for (;;) {
      if (day > MAX_DAY || this.#window.isAfterEnd(day)) return null;
      const fireTime = wallToInstant(day * DAY_MS + this.#timeOfDayMs(), this.#zone);
      if (fireTime >= from) return new Date(fireTime);
      day = this.#nextDay(day);
    }
  }

  /** The plain-JSON form; `startAt`/`endAt` are `YYYY-MM-DD` dates in the trigger's zone. */
  toJSON(): CalendarIntervalTriggerSpec {
    const spec: CalendarIntervalTriggerSpec = { type: 'calendarinterval' };
    for (const part of INTERVAL_PARTS) {
      if (this[part] > 0) spec[part] = this[part];
    }
    return { ...spec, hour: this.hour, minute: this.minute, second: this.second, ...this.#window.toSpec() };
  }

  /** `toJSON()` without `startAt` when it was not given (today's date at construction, not a declaration). */
  definition(): CalendarIntervalTriggerSpec {
    return this.#window.declared(this.toJSON());
  }

  /**
   * This trigger with `timezone` set when none was given; a default `startAt` (today) is kept, and
   * still left out of `definition()`.
   */
  withDefaultTimezone(timezone: string): CalendarIntervalTrigger {
    if (this.timezone !== undefined) return this;
    const interval = { years: this.years, months: this.months, weeks: this.weeks, days: this.days };
    const trigger = new CalendarIntervalTrigger(interval, {
      ...this.#options,
      startAt: this.#options.startAt ?? this.startAt,
      timezone,
    });
    trigger.#window = trigger.#window.withStartAtDeclared(this.#window.startAtDeclared);
    return trigger;
  }

  #timeOfDayMs(): number {
    return ((this.hour * 60 + this.minute) * 60 + this.second) * 1000;
  }

  /** The first date of the sequence on or after `target` (days since 1970-01-01). */
  #firstDayOnOrAfter(target: number): number {
    if (target <= this.#window.startAt) return this.#window.startAt;
    if (this.years === 0 && this.months === 0) {
      const stepDays = this.weeks * 7 + this.days;
      return this.#window.startAt + Math.ceil((target - this.#window.startAt) / stepDays) * stepDays;
    }
    if (this.weeks === 0 && this.days === 0) return this.#firstMonthlyDayOnOrAfter(target);
    let day = this.#window.startAt;
    while (day < target && day <= MAX_DAY) day = this.#nextDay(day);
    return day;
  }

  /**
   * `#firstDayOnOrAfter` for a step of whole months (and years), in closed form: the dates are the start
   * date's day of month in every step-th month that has that day; the search starts a step before `target`.
   */
  #firstMonthlyDayOnOrAfter(target: number): number {
    const start = new Date(this.#window.startAt * DAY_MS);
    const dayOfMonth = start.getUTCDate();
    const startMonth = start.getUTCFullYear() * 12 + start.getUTCMonth();
    const targetDate = new Date(target * DAY_MS);
    const targetMonth = targetDate.getUTCFullYear() * 12 + targetDate.getUTCMonth();
    const step = this.years * 12 + this.months;
    for (let k = Math.max(0, Math.floor((targetMonth - startMonth) / step)); ; k++) {
      const monthIndex = startMonth + k * step;
      if (dayOfMonth > daysInMonth(monthIndex)) continue;
      const day = utcDayNumber(Math.floor(monthIndex / 12), monthIndex % 12, dayOfMonth);
      if (day >= target) return day;
    }
  }

  /** The date after `day` in the sequence: add years and months until the date exists, then weeks and days. */
  #nextDay(day: number): number {
    let next = day;
    if (this.years > 0 || this.months > 0) {
      const date = new Date(day * DAY_MS);
      const dayOfMonth = date.getUTCDate();
      let monthIndex = date.getUTCFullYear() * 12 + date.getUTCMonth();
      do {
        monthIndex += this.years * 12 + this.months;
      } while (dayOfMonth > daysInMonth(monthIndex));
      next = utcDayNumber(Math.floor(monthIndex / 12), monthIndex % 12, dayOfMonth);
    }
    return next + this.weeks * 7 + this.days;
  }
}

/** The number of days in the month `monthIndex` (year * 12 + zero-based month). */
function daysInMonth(monthIndex: number): number {
  const year = Math.floor(monthIndex / 12);
  const month = monthIndex % 12;
  return utcDayNumber(year, month + 1, 1) - utcDayNumber(year, month, 1);
}

/** A calendar date as days since 1970-01-01 (years below 100 are years, not 1900 + year as in `Date.UTC`). */
function utcDayNumber(year: number, month: number, day: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  return date.getTime() / DAY_MS;
}

/** The date of a wall-clock time, as days since 1970-01-01. */
function dayOfWall(wall: number): number {
  return Math.floor(wall / DAY_MS);
}

function formatDay(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

/**
 * Reads a date option: a `DateInput` (a `YYYY-MM-DD` string is midnight in `zone`), as its date in `zone`;
 * a date outside years 1 to 9999 is a `ValueError`.
 */
function readDay(input: unknown, zoneOf: () => string, what: string): number {
  const zone = zoneOf();
  const instant = parseDate(input, zone, what);
  // Outside this window the zone's wall clock is not read (the date is out of range anyway).
  const inRange = Math.abs(instant.getTime()) <= (MAX_DAY + 2) * DAY_MS;
  const day = inRange ? dayOfWall(wallClockAt(instant.getTime(), zone)) : Number.NaN;
  if (!(day >= MIN_DAY && day <= MAX_DAY)) {
    throw new ValueError(`${what}: ${describeValue(input)} is outside the years 1 to 9999`);
  }
  return day;
}

/** A non-negative integer part of the interval, at most `MAX_PARTS[name]` (`undefined` is 0). */
function countOption(value: unknown, name: (typeof INTERVAL_PARTS)[number]): number {
  if (value === undefined) return 0;
  const max = MAX_PARTS[name];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new ValueError(
      `CalendarIntervalTrigger: ${name} must be a non-negative integer of at most ${max}, got ${describeValue(value)}`,
    );
  }
  return value;
}

/** An integer time-of-day part in `[0, max]` (`undefined` is 0). */
function timeOption(value: unknown, name: string, max: number): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new ValueError(
      `CalendarIntervalTrigger: ${name} must be an integer from 0 to ${max}, got ${describeValue(value)}`,
    );
  }
  return value;
}
