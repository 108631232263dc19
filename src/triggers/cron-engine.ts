/**
 * The cron engine: the next (or previous) wall-clock time that a parsed cron pattern matches.
 *
 * Wall-clock times are encoded as UTC milliseconds (the frame of `src/wallclock.ts`, which has no
 * DST). A search jumps field by field, year → month → day → hour → minute → second: each field
 * looks up its first allowed value at or after the current one in a table, and a field that has
 * none left carries into the next larger unit. Days are matched a month at a time, as a bitmask
 * (`./cron-days.ts`). So a search costs a handful of look-ups whatever the gap to the match: a leap
 * day costs what a daily time does, and a far year is one look-up away.
 */
import { type CronDayFields, daysOfMonth, firstDayFrom, lastDayUntil } from './cron-days.js';
import type { ValueSet } from './cron-values.js';
import { MAX_YEAR, type YearSet } from './cron-years.js';

/** A parsed cron expression, in the compact form the engine searches. Immutable; share it freely. */
export interface CronPattern {
  /** Seconds, 0..59. */
  readonly seconds: ValueSet;
  /** Minutes, 0..59. */
  readonly minutes: ValueSet;
  /** Hours, 0..23. */
  readonly hours: ValueSet;
  /** Months, 0-based (0 = January). */
  readonly months: ValueSet;
  /** The day-of-month and day-of-week fields. */
  readonly days: CronDayFields;
  /** The years. */
  readonly years: YearSet;
}

const SECOND_MS = 1000;
/** Months in a year (months are 0-based). */
const MONTHS_IN_YEAR = 12;

/** A calendar position being searched; fields carry over (`hour` 24 means the next day). */
interface Cursor {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/**
 * The first wall time at or after `fromWall` (UTC-encoded ms; rounded up to a whole second) that
 * `pattern` matches, or `null` when there is none up to the end of year 9999.
 */
export function nextMatch(pattern: CronPattern, fromWall: number): number | null {
  const at = cursorAt(Math.ceil(fromWall / SECOND_MS) * SECOND_MS);
  let maskYear = Number.NaN;
  let maskMonth = -1;
  let mask = 0;
  for (;;) {
    const year = pattern.years.next(at.year);
    if (year === null || year > MAX_YEAR) return null;
    if (year !== at.year) startYear(at, year);
    const month = pattern.months.next(at.month);
    if (month < 0) {
      startYear(at, at.year + 1);
      continue;
    }
    if (month !== at.month) startMonth(at, month);
    if (maskYear !== at.year || maskMonth !== at.month) {
      maskYear = at.year;
      maskMonth = at.month;
      mask = daysOfMonth(pattern.days, at.year, at.month);
    }
    const day = firstDayFrom(mask, at.day);
    if (day === 0) {
      if (at.month + 1 === MONTHS_IN_YEAR) startYear(at, at.year + 1);
      else startMonth(at, at.month + 1);
      continue;
    }
    if (day !== at.day) startDay(at, day);
    const hour = pattern.hours.next(at.hour);
    if (hour < 0) {
      startDay(at, at.day + 1);
      continue;
    }
    if (hour !== at.hour) startHour(at, hour);
    const minute = pattern.minutes.next(at.minute);
    if (minute < 0) {
      startHour(at, at.hour + 1);
      continue;
    }
    if (minute !== at.minute) startMinute(at, minute);
    const second = pattern.seconds.next(at.second);
    if (second < 0) {
      startMinute(at, at.minute + 1);
      continue;
    }
    return wallTime(at.year, at.month, at.day, at.hour, at.minute, second);
  }
}

/**
 * The last wall time at or before `fromWall` (UTC-encoded ms; rounded down to a whole second) that
 * `pattern` matches, or `null` when there is none from year 1 on.
 */
export function previousMatch(pattern: CronPattern, fromWall: number): number | null {
  const at = cursorAt(Math.floor(fromWall / SECOND_MS) * SECOND_MS);
  if (at.year > MAX_YEAR) endYear(at, MAX_YEAR);
  let maskYear = Number.NaN;
  let maskMonth = -1;
  let mask = 0;
  for (;;) {
    const year = pattern.years.previous(at.year);
    if (year === null || year < 1) return null;
    if (year !== at.year) endYear(at, year);
    const month = pattern.months.previous(at.month);
    if (month < 0) {
      endYear(at, at.year - 1);
      continue;
    }
    if (month !== at.month) endMonth(at, month);
    if (maskYear !== at.year || maskMonth !== at.month) {
      maskYear = at.year;
      maskMonth = at.month;
      mask = daysOfMonth(pattern.days, at.year, at.month);
    }
    const day = lastDayUntil(mask, at.day);
    if (day === 0) {
      if (at.month === 0) endYear(at, at.year - 1);
      else endMonth(at, at.month - 1);
      continue;
    }
    if (day !== at.day) endDay(at, day);
    const hour = pattern.hours.previous(at.hour);
    if (hour < 0) {
      endDay(at, at.day - 1);
      continue;
    }
    if (hour !== at.hour) endHour(at, hour);
    const minute = pattern.minutes.previous(at.minute);
    if (minute < 0) {
      endHour(at, at.hour - 1);
      continue;
    }
    if (minute !== at.minute) endMinute(at, minute);
    const second = pattern.seconds.previous(at.second);
    if (second < 0) {
      endMinute(at, at.minute - 1);
      continue;
    }
    return wallTime(at.year, at.month, at.day, at.hour, at.minute, second);
  }
}

/** The calendar fields of a UTC-encoded wall time. */
function cursorAt(wall: number): Cursor {
  const date = new Date(wall);
  return {
    year: date.getUTCFullYear(),
    month: date.getUTCMonth(),
    day: date.getUTCDate(),
    hour: date.getUTCHours(),
    minute: date.getUTCMinutes(),
    second: date.getUTCSeconds(),
  };
}

/** Moves to the start of `year`. */
function startYear(at: Cursor, year: number): void {
  at.year = year;
  startMonth(at, 0);
}

/** Moves to the start of `month` of the cursor's year. */
function startMonth(at: Cursor, month: number): void {
  at.month = month;
  startDay(at, 1);
}

/** Moves to the start of `day` (past the month's end is fine: no day matches there). */
function startDay(at: Cursor, day: number): void {
  at.day = day;
  startHour(at, 0);
}

/** Moves to the start of `hour` (24: no hour matches, so the search moves on to the next day). */
function startHour(at: Cursor, hour: number): void {
  at.hour = hour;
  startMinute(at, 0);
}

/** Moves to the start of `minute` (60: the search moves on to the next hour). */
function startMinute(at: Cursor, minute: number): void {
  at.minute = minute;
  at.second = 0;
}

/** Moves to the end of `year`. */
function endYear(at: Cursor, year: number): void {
  at.year = year;
  endMonth(at, MONTHS_IN_YEAR - 1);
}

/** Moves to the end of `month` (its day 31: the day mask holds only the month's real days). */
function endMonth(at: Cursor, month: number): void {
  at.month = month;
  endDay(at, 31);
}

/** Moves to the end of `day` (0: no day matches, so the search moves on to the month before). */
function endDay(at: Cursor, day: number): void {
  at.day = day;
  endHour(at, 23);
}

/** Moves to the end of `hour` (-1: the search moves on to the day before). */
function endHour(at: Cursor, hour: number): void {
  at.hour = hour;
  endMinute(at, 59);
}

/** Moves to the end of `minute` (-1: the search moves on to the hour before). */
function endMinute(at: Cursor, minute: number): void {
  at.minute = minute;
  at.second = 59;
}

/** A wall time as UTC ms; years below 100 are taken literally (not as 19xx, as `Date.UTC` would). */
function wallTime(year: number, month: number, day: number, hour: number, minute: number, second: number) {
  const ms = Date.UTC(year, month, day, hour, minute, second);
  if (year >= 100) return ms;
  const date = new Date(ms);
  date.setUTCFullYear(year);
  return date.getTime();
}
