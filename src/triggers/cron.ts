/**
 * `CronTrigger`: fires at the wall-clock times a cron expression matches, in its timezone.
 *
 * cron-parser finds the matching wall-clock times in a frame without DST (UTC, wall time encoded as
 * if it were UTC); `src/wallclock.ts` maps them to instants with the DST rule of API.md. Two parts of
 * the syntax that cron-parser lacks are added here as filters over its matches: a trailing year
 * field (7 fields, Quartz style) and the `W` (nearest weekday) day of month. Searches start in the
 * first allowed year, on the first day the month and day fields allow (`./cron-days.ts`), so that
 * cron-parser never steps through years of days that cannot match.
 */
import { type CronExpression, CronExpressionParser } from 'cron-parser';
import { ValueError } from '../errors.js';
import type { DateInput, DurationInput } from '../time.js';
import { describeValue } from '../validate.js';
import { firstFireInstant, type RepeatedWallTimes } from '../wallclock.js';
import { PossibleDays } from './cron-days.js';
import { checkKeys, checkSpec } from './options.js';
import type { CronTriggerSpec, Trigger } from './trigger.js';
import { INSTANTS, splitWindowSpec, TriggerWindow, WINDOW_KEYS } from './window.js';

/** Options of a `CronTrigger`. */
export interface CronTriggerOptions {
  /**
   * No fire time before this instant. A string without offset is read in `timezone`.
   * @default no lower bound
   */
  startAt?: DateInput;
  /**
   * No fire time after this instant (a fire time equal to it still fires).
   * @default no upper bound
   */
  endAt?: DateInput;
  /**
   * IANA zone whose wall clock the expression reads.
   * @default the scheduler's zone (see `withDefaultTimezone`), else the system zone
   */
  timezone?: string;
  /**
   * Each fire time is delayed by a random amount in `[0, jitter]`. Keep it smaller than the spacing
   * of the fire times: the next fire time is the first cron time after the jittered previous one.
   * @default 0
   */
  jitter?: DurationInput;
}

/**
 * The fields of `CronTrigger.fromFields`, each in cron syntax for that field (`'*\/5'`, `'1-5'`,
 * `'mon-fri'`, `'L'`, `'15W'`, `'1#2'`) or an integer. `dayOfWeek` counts as cron does: 0 or 7 is Sunday.
 * `year` accepts `*`, years, ranges and steps (`2025`, `'2025-2030/2'`), from 1970 to 9999.
 */
export interface CronFields {
  second?: string | number;
  minute?: string | number;
  hour?: string | number;
  day?: string | number;
  month?: string | number;
  dayOfWeek?: string | number;
  year?: string | number;
}

/** The fields from the most to the least significant, with APScheduler's defaults for fromFields. */
const FIELD_DEFAULTS: ReadonlyArray<[keyof CronFields, string]> = [
  ['year', '*'],
  ['month', '1'],
  ['day', '1'],
  ['dayOfWeek', '*'],
  ['hour', '0'],
  ['minute', '0'],
  ['second', '0'],
];

/** The names of the six fields that cron-parser reads, in expression order. */
const PARSER_FIELD_NAMES = ['second', 'minute', 'hour', 'day', 'month', 'dayOfWeek'] as const;

/** The nicknames and the 6-field expressions they stand for. */
const NICKNAMES: Readonly<Record<string, string>> = {
  '@yearly': '0 0 0 1 1 *',
  '@annually': '0 0 0 1 1 *',
  '@monthly': '0 0 0 1 * *',
  '@weekly': '0 0 0 * * 0',
  '@daily': '0 0 0 * * *',
  '@midnight': '0 0 0 * * *',
  '@hourly': '0 0 * * * *',
};

const OPTION_KEYS: ReadonlySet<string> = new Set(WINDOW_KEYS);
const SPEC_KEYS: ReadonlySet<string> = new Set(['type', 'expression', ...OPTION_KEYS]);

const MIN_YEAR = 1970;
const MAX_YEAR = 9999;
/** How many times the year and `W` filters may send cron-parser further before giving up. */
const MAX_FILTER_ROUNDS = 10_000;
/** cron-parser's error when it finds no match within its search limit. */
const CRON_PARSER_LOOP_LIMIT = 'loop limit exceeded';

/**
 * A fire-time rule in cron syntax, evaluated on the wall clock of its timezone. Across DST changes
 * (API.md): a wall time skipped by a gap fires once, shifted forward by the gap (an instant that is
 * already a fire time fires once); a wall time repeated by a fall-back fires at its first occurrence,
 * unless the hour field is `*` (or `?`, as in `@hourly`): then every real instant that matches fires,
 * in both occurrences, so `*\/15 * * * *` fires every 15 minutes through the change.
 */
export class CronTrigger implements Trigger {
  /** The expression as given (whitespace normalized), or as built by `fromFields`. */
  readonly expression: string;
  /** No fire time before this instant. */
  readonly startAt: Date | undefined;
  /** No fire time after this instant. */
  readonly endAt: Date | undefined;
  /** The zone the user gave; `undefined` means the scheduler's (or the system's) zone. */
  readonly timezone: string | undefined;
  /** The largest random delay added to each fire time, in ms (0: none). */
  readonly jitterMs: number;
  /**
   * Fire times are distinct whole seconds, so at least 1 s apart, less the jitter (none if jitter reaches 1 s).
   */
  readonly minimumSpacingMs: number | undefined;
  /** The options as given, so that `withDefaultTimezone` can re-read zone-less date strings. */
  readonly #options: CronTriggerOptions;
  /** The window: `startAt`, `endAt`, zone and jitter. */
  readonly #window: TriggerWindow;
  /** The zone the wall clock is read in. */
  readonly #zone: string;
  /** The parsed expression: finds matching wall-clock times. */
  readonly #schedule: CronSchedule;

  /**
   * @param expression 5 fields (`minute hour day month dayOfWeek`), 6 (with leading seconds),
   *   7 (seconds first, year last), or a nickname: `@yearly`, `@annually`, `@monthly`, `@weekly`,
   *   `@daily`, `@midnight`, `@hourly`. Fields take `*`, `?`, lists, ranges, `/` steps, month and
   *   weekday names; the day takes `L` (last day), `nW` (the weekday nearest day n, within the month;
   *   no fire in a month without day n) and `LW`; dayOfWeek takes `5L` (last Friday) and `1#2` (second
   *   Monday), 0 or 7 being Sunday. When both day and dayOfWeek are restricted, either one matching is
   *   enough (as in Vixie cron). cron-parser's `H` is not supported.
   * @throws ValueError naming the bad part of the expression or the bad option (an unknown key included).
   */
  constructor(expression: string, options: CronTriggerOptions = {}) {
    if (typeof expression !== 'string') {
      throw new ValueError(`CronTrigger: expression must be a string, got ${describeValue(expression)}`);
    }
    checkKeys(options, OPTION_KEYS, 'CronTrigger');
    this.expression = expression.trim().split(/\s+/).join(' ');
    this.#schedule = new CronSchedule(this.expression);
    this.#options = { ...options };
    this.#window = TriggerWindow.parse(options, { component: 'CronTrigger', bounds: INSTANTS });
    this.startAt = this.#window.startAt;
    this.endAt = this.#window.endAt;
    this.timezone = this.#window.timezone;
    this.jitterMs = this.#window.jitterMs;
    this.#zone = this.#window.zone();
    this.minimumSpacingMs = this.jitterMs < 1000 ? 1000 - this.jitterMs : undefined;
  }

  /**
   * Builds a trigger from separate fields, as APScheduler's `CronTrigger(hour=..., ...)` does:
   * fields more significant than the least significant one given default to `*`, less significant
   * ones to their minimum (`{ hour: 3 }` fires daily at 03:00:00; `{ month: 6 }` on June 1 at midnight).
   * @throws ValueError naming the bad field and value.
   */
  static fromFields(fields: CronFields, options: CronTriggerOptions = {}): CronTrigger {
    return new CronTrigger(expressionFromFields(fields), options);
  }

  /** Rebuilds a trigger from its `toJSON()` form; an unknown key is a `ValueError` naming it. */
  static fromJSON(spec: CronTriggerSpec): CronTrigger {
    checkSpec(spec, 'cron', SPEC_KEYS, 'CronTrigger');
    const [{ expression }, options] = splitWindowSpec(spec);
    return new CronTrigger(expression, options);
  }

  /**
   * With `previous`: the first fire time strictly after it (jitter included in `previous` is no
   * problem: the cron time after it is the next one). Without: the first at or after `now`.
   * Never before `startAt`; `null` once past `endAt`. Jitter is added after the `endAt` check.
   */
  getNextFireTime(previous: Date | null, now: Date): Date | null {
    const from = this.#window.notBeforeStart(previous === null ? now.getTime() : previous.getTime() + 1);
    const fireTime = firstFireInstant(from, this.#zone, this.#schedule.findWallTime, this.#schedule.repeated);
    if (fireTime === null || this.#window.isAfterEnd(fireTime)) return null;
    return this.#window.jittered(fireTime);
  }

  /** The plain-JSON form: `{ type: 'cron', expression, startAt?, endAt?, timezone?, jitter? }`. */
  toJSON(): CronTriggerSpec {
    return { type: 'cron', expression: this.expression, ...this.#window.toSpec() };
  }

  /** This trigger with `timezone` set when none was given (date strings without offset are re-read in it). */
  withDefaultTimezone(timezone: string): CronTrigger {
    if (this.timezone !== undefined) return this;
    return new CronTrigger(this.expression, { ...this.#options, timezone });
  }
}

/**
 * A parsed cron expression that finds matching wall-clock times (encoded as UTC ms). cron-parser
 * matches the six standard fields; the year field and the `W` day are filters over its matches.
 */
class CronSchedule {
  /** Which occurrences of a repeated wall time fire: every one when the hour field is `*`. */
  readonly repeated: RepeatedWallTimes;
  /** The first matching wall time at or after a given one; bound, to hand to `firstFireInstant`. */
  readonly findWallTime: (fromWall: number) => number | null;
  /** cron-parser's iterator over the six standard fields, in UTC (reset before each search). */
  readonly #matcher: CronExpression;
  /** The allowed years, ascending; `null` when every year is allowed. */
  readonly #years: number[] | null;
  /** The `W` rule of the day field, if any. */
  readonly #nearestWeekday: NearestWeekdayRule | null;
  /** The days the month and day fields allow, to start searches on; `null` when every day is possible. */
  readonly #possibleDays: PossibleDays | null;

  constructor(expression: string) {
    const fields = splitExpression(expression);
    rejectHashedValues(fields);
    this.#years = parseYearField(fields.year);
    this.#nearestWeekday = parseNearestWeekday(fields.day, fields.dayOfWeek);
    if (this.#nearestWeekday === null) {
      this.#matcher = parseWithCronParser(fields, expression);
    } else {
      // cron-parser rejects a day that no month of the month field has (31W in February).
      parseWithCronParser({ ...fields, day: this.#nearestWeekday.namedDayField }, expression);
      this.#matcher = parseWithCronParser({ ...fields, day: '*' }, expression);
    }
    this.#possibleDays = PossibleDays.of(this.#matcher.fields);
    this.repeated = fields.hour === '*' || fields.hour === '?' ? 'every' : 'first';
    this.findWallTime = (fromWall) => this.#firstWallTimeFrom(fromWall);
  }

  /**
   * The first wall time at or after `fromWall` that all fields, year and `W` included, match; `null`
   * when there is none up to the end of year 9999. A search starts in the first allowed year, on the
   * first possible day, so a far year or a leap day costs what a near, daily one does.
   */
  #firstWallTimeFrom(fromWall: number): number | null {
    let from: number | null = this.#firstPossibleWallTime(fromWall);
    for (let round = 0; round < MAX_FILTER_ROUNDS && from !== null; round++) {
      const candidate = this.#cronParserMatchFrom(from);
      if (candidate === null) return null;
      const date = new Date(candidate);
      if (date.getUTCFullYear() > MAX_YEAR) return null;
      if (this.#years !== null && !this.#years.includes(date.getUTCFullYear())) {
        from = this.#firstPossibleWallTime(Date.UTC(date.getUTCFullYear() + 1, 0, 1));
      } else if (this.#nearestWeekday !== null && !this.#nearestWeekday.matches(date)) {
        from = this.#firstPossibleWallTime(this.#nearestWeekday.nextPossibleDay(date));
      } else {
        return candidate;
      }
    }
    return null;
  }

  /**
   * The first wall time at or after `fromWall` that is in an allowed year and on a possible day (the
   * start of that year or day when it is later); `null` when no allowed year is left.
   */
  #firstPossibleWallTime(fromWall: number): number | null {
    const from = this.#firstAllowedWallTime(fromWall);
    return from === null || this.#possibleDays === null ? from : this.#possibleDays.firstFrom(from);
  }

  /** `fromWall`, or the start of the first allowed year after it when its year is not allowed; `null`: none. */
  #firstAllowedWallTime(fromWall: number): number | null {
    const year = new Date(fromWall).getUTCFullYear();
    if (this.#years === null || this.#years.includes(year)) return fromWall;
    const nextYear = this.#years.find((allowed) => allowed > year);
    return nextYear === undefined ? null : Date.UTC(nextYear, 0, 1);
  }

  /**
   * cron-parser's first match at or after `fromWall` (it searches strictly after its start, to the
   * second); `null` if it finds none within its search limit.
   */
  #cronParserMatchFrom(fromWall: number): number | null {
    this.#matcher.reset(new Date(fromWall - 1));
    try {
      return this.#matcher.next().getTime();
    } catch (error) {
      if (error instanceof Error && error.message.includes(CRON_PARSER_LOOP_LIMIT)) return null;
      throw error;
    }
  }
}

/** The seven fields of an expression; `second` is '0' for 5 fields, `year` '*' unless given. */
type ExpressionFields = Record<(typeof PARSER_FIELD_NAMES)[number] | 'year', string>;

/** Splits a 5-, 6- or 7-field expression (or a nickname) into named fields. */
function splitExpression(expression: string): ExpressionFields {
  if (expression === '') throw new ValueError('CronTrigger: the expression is empty');
  if (expression.startsWith('@')) return splitExpression(expandNickname(expression));
  const parts = expression.split(' ');
  if (parts.length === 5) parts.unshift('0');
  if (parts.length === 6) parts.push('*');
  if (parts.length !== 7) {
    throw new ValueError(
      `CronTrigger: expression ${describeValue(expression)} has ${expression.split(' ').length} fields; ` +
        'expected 5 (minute hour day month dayOfWeek), 6 (second first) or 7 (second first, year last)',
    );
  }
  const [second, minute, hour, day, month, dayOfWeek, year] = parts as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  return { second, minute, hour, day, month, dayOfWeek, year };
}

function expandNickname(nickname: string): string {
  const expansion = NICKNAMES[nickname.toLowerCase()];
  if (expansion === undefined) {
    throw new ValueError(
      `CronTrigger: unknown nickname ${describeValue(nickname)} (expected one of ${Object.keys(NICKNAMES).join(', ')})`,
    );
  }
  return expansion;
}

/** cron-parser's `H` (hashed random values) is not part of kairos' syntax: it would not survive a store. */
function rejectHashedValues(fields: ExpressionFields): void {
  for (const name of PARSER_FIELD_NAMES) {
    const withoutNames = fields[name].replace(/[a-z]{3}/gi, '');
    if (/h/i.test(withoutNames)) {
      throw new ValueError(
        `CronTrigger: bad ${name} field ${describeValue(fields[name])}: 'H' values are not supported`,
      );
    }
  }
}

/** Parses the six standard fields with cron-parser; an error names the first field that fails alone. */
function parseWithCronParser(fields: ExpressionFields, expression: string): CronExpression {
  const parserExpression = PARSER_FIELD_NAMES.map((name) => fields[name]).join(' ');
  try {
    return CronExpressionParser.parse(parserExpression, { tz: 'UTC', currentDate: 0 });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const badField = PARSER_FIELD_NAMES.find((name) => !parsesAlone(name, fields[name]));
    const part =
      badField === undefined ? 'expression' : `${badField} field ${describeValue(fields[badField])} in`;
    throw new ValueError(`CronTrigger: bad ${part} ${describeValue(expression)}: ${reason}`, {
      cause: error,
    });
  }
}

/** True when cron-parser accepts `value` as field `name` with every other field `*`. */
function parsesAlone(name: (typeof PARSER_FIELD_NAMES)[number], value: string): boolean {
  const probe = PARSER_FIELD_NAMES.map((other) => (other === name ? value : '*')).join(' ');
  try {
    CronExpressionParser.parse(probe, { tz: 'UTC', currentDate: 0 });
    return true;
  } catch {
    return false;
  }
}

/** Parses the year field (cron-parser has none): `*`, `2025`, `2025-2030`, `*\/2`, `2025-2035/5`, lists. */
function parseYearField(field: string): number[] | null {
  if (field === '*' || field === '?') return null;
  const years = new Set<number>();
  for (const item of field.split(',')) {
    const match = /^(?:(\*)|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(item);
    if (match === null) throw badYear(field, `${describeValue(item)} is not a year, range or step`);
    const first = match[1] === '*' ? MIN_YEAR : Number(match[2]);
    const last = match[1] === '*' ? MAX_YEAR : match[3] === undefined ? first : Number(match[3]);
    const step = match[4] === undefined ? 1 : Number(match[4]);
    if (first < MIN_YEAR || last > MAX_YEAR || first > last) {
      throw badYear(field, `${describeValue(item)} is outside ${MIN_YEAR}-${MAX_YEAR} or reversed`);
    }
    if (step < 1) throw badYear(field, `step ${step} must be positive`);
    for (let year = first; year <= last; year += step) years.add(year);
  }
  return [...years].sort((a, b) => a - b);
}

function badYear(field: string, reason: string): ValueError {
  return new ValueError(`CronTrigger: bad year field ${describeValue(field)}: ${reason}`);
}

/** `nW` (the weekday nearest day n, within its month) or `LW` (the month's last weekday). */
class NearestWeekdayRule {
  /** The day of month named, or `'last'`. */
  readonly #day: number | 'last';

  constructor(day: number | 'last') {
    this.#day = day;
  }

  /** The named day as a plain cron day field (`15`, `L`). */
  get namedDayField(): string {
    return this.#day === 'last' ? 'L' : String(this.#day);
  }

  /** True when `date` (a UTC-encoded wall time) falls on the day this rule picks in its month. */
  matches(date: Date): boolean {
    return this.#dayIn(date.getUTCFullYear(), date.getUTCMonth()) === date.getUTCDate();
  }

  /** The wall time to search from after `date` failed: the picked day of its month, else the next month. */
  nextPossibleDay(date: Date): number {
    const year = date.getUTCFullYear();
    const month = date.getUTCMonth();
    const picked = this.#dayIn(year, month);
    if (picked !== null && picked > date.getUTCDate()) return Date.UTC(year, month, picked);
    return Date.UTC(year, month + 1, 1);
  }

  /** The day of month the rule picks in a month, or `null` when the named day does not exist in it. */
  #dayIn(year: number, month: number): number | null {
    const daysInMonth = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
    const named = this.#day === 'last' ? daysInMonth : this.#day;
    if (named > daysInMonth) return null;
    const weekday = new Date(Date.UTC(year, month, named)).getUTCDay();
    if (weekday === 6) return named > 1 ? named - 1 : named + 2;
    if (weekday === 0) return named < daysInMonth ? named + 1 : named - 2;
    return named;
  }
}

/** Reads a `W` day field; `null` when the day field has no `W`. */
function parseNearestWeekday(day: string, dayOfWeek: string): NearestWeekdayRule | null {
  if (!/w/i.test(day)) return null;
  const match = /^(\d{1,2}|L)W$/i.exec(day);
  const named = match?.[1]?.toUpperCase() === 'L' ? 'last' : Number(match?.[1]);
  if (match === null || (named !== 'last' && (named < 1 || named > 31))) {
    throw new ValueError(
      `CronTrigger: bad day field ${describeValue(day)}: W takes one day of month (1W to 31W) or L (LW)`,
    );
  }
  if (dayOfWeek !== '*' && dayOfWeek !== '?') {
    throw new ValueError(
      `CronTrigger: day field ${describeValue(day)} cannot be combined with dayOfWeek ${describeValue(dayOfWeek)}`,
    );
  }
  return new NearestWeekdayRule(named);
}

/** Builds the expression of `fromFields`, with APScheduler's defaulting of the fields not given. */
function expressionFromFields(fields: CronFields): string {
  if (typeof fields !== 'object' || fields === null) {
    throw new ValueError(`CronTrigger: fromFields expects an object of fields, got ${describeValue(fields)}`);
  }
  const known = new Set<string>(FIELD_DEFAULTS.map(([name]) => name));
  const unknown = Object.keys(fields).filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new ValueError(
      `CronTrigger: unknown field ${describeValue(unknown[0])} (expected ${[...known].join(', ')})`,
    );
  }
  const given = FIELD_DEFAULTS.filter(([name]) => fields[name] !== undefined).map(([name]) => name);
  const leastSignificantGiven = given.at(-1);
  const values = new Map<keyof CronFields, string>();
  let pastLastGiven = false;
  for (const [name, defaultValue] of FIELD_DEFAULTS) {
    const value = fields[name];
    if (value !== undefined) values.set(name, fieldText(name, value));
    else values.set(name, pastLastGiven ? defaultValue : '*');
    if (name === leastSignificantGiven) pastLastGiven = true;
  }
  const standard = PARSER_FIELD_NAMES.map((name) => values.get(name)).join(' ');
  const year = values.get('year');
  return year === '*' ? standard : `${standard} ${year}`;
}

/** One field of `fromFields` as cron text: a non-negative integer or a string without spaces. */
function fieldText(name: string, value: string | number): string {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return String(value);
  if (typeof value === 'string' && /^\S+$/.test(value.trim())) return value.trim();
  throw new ValueError(
    `CronTrigger: field ${name} must be a non-negative integer or a cron field without spaces, got ${describeValue(value)}`,
  );
}
