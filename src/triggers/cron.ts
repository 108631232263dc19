/**
 * `CronTrigger`: fires at the wall-clock times a cron expression matches, in its timezone.
 *
 * The expression is read by `./cron-parse.ts` (cron-parser validates the six standard fields; kairos
 * adds the year field, `W`, and a few forms Vixie cron accepts) into a compact pattern, cached by
 * its text. `./cron-engine.ts` finds the matching wall-clock times in a frame without DST (UTC, wall
 * time encoded as if it were UTC), jumping field by field; `src/wallclock.ts` maps them to instants
 * with the DST rule of API.md.
 */
import { ValueError } from '../errors.js';
import type { DateInput, DurationInput } from '../time.js';
import { describeValue } from '../validate.js';
import { firstFireInstant } from '../wallclock.js';
import { PARSER_FIELD_NAMES, type ParsedCron, parseCronExpression } from './cron-parse.js';
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

const OPTION_KEYS: ReadonlySet<string> = new Set(WINDOW_KEYS);
const SPEC_KEYS: ReadonlySet<string> = new Set(['type', 'expression', ...OPTION_KEYS]);

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
  /** The parsed expression (shared by every trigger with the same expression): finds matching wall-clock times. */
  readonly #schedule: ParsedCron;

  /**
   * @param expression 5 fields (`minute hour day month dayOfWeek`), 6 (with leading seconds),
   *   7 (seconds first, year last), or a nickname: `@yearly`, `@annually`, `@monthly`, `@weekly`,
   *   `@daily`, `@midnight`, `@hourly`. Fields take `*`, `?`, lists (whose items may overlap, as in
   *   `8-18/2,12` or `0,7`), ranges, `/` steps (`5/20` is 5, 25, 45), month and weekday names in any
   *   case (a weekday range may end on Sunday: `MON-SUN`); the day takes `L` (last day), `nW` (the
   *   weekday nearest day n, within the month; no fire in a month without day n) and `LW`; dayOfWeek
   *   takes `5L` (last Friday) and `1#2` (second Monday), 0 or 7 being Sunday; `L` and `W` in any case.
   *   The year takes years, ranges, steps and lists (`2025/2`: every second year from 2025). When
   *   both day and dayOfWeek are restricted, either one matching is enough (as cron-parser and Vixie
   *   cron do). cron-parser's `H` is not supported.
   * @throws ValueError naming the bad part of the expression or the bad option (an unknown key included).
   */
  constructor(expression: string, options: CronTriggerOptions = {}) {
    if (typeof expression !== 'string') {
      throw new ValueError(`CronTrigger: expression must be a string, got ${describeValue(expression)}`);
    }
    checkKeys(options, OPTION_KEYS, 'CronTrigger');
    this.expression = expression.trim().split(/\s+/).join(' ');
    this.#schedule = parseCronExpression(this.expression);
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
    const schedule = this.#schedule;
    const repeated = schedule.everyHour ? 'every' : 'first';
    const fireTime = firstFireInstant(from, this.#zone, schedule.findWallTime, repeated);
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
