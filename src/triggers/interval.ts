import { Duration } from 'luxon';
import { ValueError } from '../errors.js';
import { type DateInput, type DurationInput, MAX_DURATION_MS, MAX_INSTANT_MS } from '../time.js';
import { describeValue } from '../validate.js';
import { checkKeys, checkSpec } from './options.js';
import type { FireTimeCount, IntervalTriggerSpec, Trigger } from './trigger.js';
import { INSTANTS, splitWindowSpec, TriggerWindow, WINDOW_KEYS } from './window.js';

/** The length of an `IntervalTrigger`; all parts add up (fixed real-time units: a day is 24 h). */
export interface IntervalLength {
  weeks?: number;
  days?: number;
  hours?: number;
  minutes?: number;
  seconds?: number;
  milliseconds?: number;
}

/** Options of `IntervalTrigger`. */
export interface IntervalTriggerOptions {
  /** The first fire time. @default one interval after the trigger is created */
  startAt?: DateInput;
  /** No fire time after this instant (inclusive). @default none */
  endAt?: DateInput;
  /** Zone in which `startAt`/`endAt` strings without offset are read. @default the scheduler's zone */
  timezone?: string;
  /** A random delay in `[0, jitter]` added to each fire time; must be shorter than the interval. */
  jitter?: DurationInput;
}

const LENGTH_UNITS = ['weeks', 'days', 'hours', 'minutes', 'seconds', 'milliseconds'] as const;
const OPTION_KEYS: ReadonlySet<string> = new Set(WINDOW_KEYS);
const SPEC_KEYS: ReadonlySet<string> = new Set(['type', ...LENGTH_UNITS, ...OPTION_KEYS]);

/**
 * Fires at `startAt + k·interval` for k = 0, 1, 2…: a fixed grid of real time that never drifts with
 * execution time. Calendar-aware steps (a month, a day across DST) are `CalendarIntervalTrigger`'s job.
 */
export class IntervalTrigger implements Trigger {
  /** The interval length in milliseconds. */
  readonly intervalMs: number;
  /** The parts the user gave, kept for `toJSON`. */
  readonly length: Readonly<IntervalLength>;
  /** The first fire time, the origin of the grid. */
  readonly startAt: Date;
  /** The last instant a fire time may have; `undefined`: none. */
  readonly endAt: Date | undefined;
  /** The zone the user gave, if any (only date strings are read in it). */
  readonly timezone: string | undefined;
  /** Maximum random delay added to each fire time, in milliseconds (0: none). */
  readonly jitterMs: number;
  /** The window: `startAt` (declared, or one interval after construction), `endAt`, zone, jitter. */
  readonly #window: TriggerWindow<Date, Date>;

  /**
   * @example new IntervalTrigger({ minutes: 5 })
   * @throws ValueError naming the bad part: an unknown unit or option, a non-object, an empty interval or
   *   one longer than `MAX_DURATION_MS`, a bad date, `endAt` before `startAt`, jitter not below the interval.
   */
  constructor(length: IntervalLength, options: IntervalTriggerOptions = {}) {
    this.length = Object.freeze(checkLength(length));
    this.intervalMs = intervalMsOf(this.length, length);
    checkKeys(options, OPTION_KEYS, 'IntervalTrigger');
    this.#window = TriggerWindow.parse(options, {
      component: 'IntervalTrigger',
      bounds: INSTANTS,
      defaultStartAt: () => defaultStartAt(this.intervalMs, length),
    });
    this.startAt = this.#window.startAt;
    this.endAt = this.#window.endAt;
    this.timezone = this.#window.timezone;
    this.jitterMs = this.#window.jitterMs;
    if (this.jitterMs >= this.intervalMs) {
      throw new ValueError(
        `IntervalTrigger: jitter ${this.jitterMs} ms must be shorter than the interval (${this.intervalMs} ms)`,
      );
    }
  }

  /** Rebuilds an `IntervalTrigger` from its spec; an unknown key is a `ValueError` naming it. */
  static fromJSON(spec: IntervalTriggerSpec): IntervalTrigger {
    checkSpec(spec, 'interval', SPEC_KEYS, 'IntervalTrigger');
    const [{ type: _type, ...length }, options] = splitWindowSpec(spec);
    return new IntervalTrigger(length, options);
  }

  /** First grid point after `previous`, or at/after `now` when `previous` is null; jittered. */
  getNextFireTime(previous: Date | null, now: Date): Date | null {
    const start = this.startAt.getTime();
    let steps: number;
    if (previous !== null) {
      steps = previous.getTime() < start ? 0 : Math.floor((previous.getTime() - start) / this.intervalMs) + 1;
    } else {
      steps = now.getTime() <= start ? 0 : Math.ceil((now.getTime() - start) / this.intervalMs);
    }
    const base = start + steps * this.intervalMs;
    if (base > MAX_INSTANT_MS || this.#window.isAfterEnd(base)) return null;
    return this.#window.jittered(base);
  }

  /** Grid points in `[from, until]`, in closed form: O(keepRecent), whatever the span. */
  countFireTimes(from: Date, until: Date, keepRecent: number): FireTimeCount {
    const start = this.startAt.getTime();
    const low = this.#window.notBeforeStart(from.getTime());
    const high = Math.min(this.#window.notAfterEnd(until.getTime()), MAX_INSTANT_MS);
    if (high < low) return { count: 0, recent: [] };
    const firstStep = Math.ceil((low - start) / this.intervalMs);
    const lastStep = Math.floor((high - start) / this.intervalMs);
    const count = Math.max(0, lastStep - firstStep + 1);
    const recent: Date[] = [];
    for (let step = Math.max(firstStep, lastStep - keepRecent + 1); step <= lastStep; step++) {
      recent.push(new Date(start + step * this.intervalMs));
    }
    return { count, recent };
  }

  /** The plain-JSON form; `startAt` is always explicit so a stored grid never moves. */
  toJSON(): IntervalTriggerSpec {
    return { type: 'interval', ...this.length, ...this.#window.toSpec() };
  }

  /** `toJSON()` without `startAt` when it was not given (one interval after construction, not a declaration). */
  definition(): IntervalTriggerSpec {
    return this.#window.declared(this.toJSON());
  }
}

/** The interval's parts, checked: an object of known units, each a finite non-negative number. */
function checkLength(length: unknown): IntervalLength {
  if (typeof length !== 'object' || length === null || Array.isArray(length)) {
    throw new ValueError(
      `IntervalTrigger: the interval must be an object like { minutes: 5 }, got ${describeValue(length)}`,
    );
  }
  for (const key of Object.keys(length)) {
    if (!(LENGTH_UNITS as readonly string[]).includes(key)) {
      throw new ValueError(
        `IntervalTrigger: unknown interval unit '${key}' (expected one of ${LENGTH_UNITS.join(', ')})`,
      );
    }
  }
  const kept: IntervalLength = {};
  for (const unit of LENGTH_UNITS) {
    const value = (length as IntervalLength)[unit];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new ValueError(
        `IntervalTrigger: ${unit} must be a finite non-negative number, got ${describeValue(value)}`,
      );
    }
    kept[unit] = value;
  }
  return kept;
}

/** The length in whole ms: above 0 and at most `MAX_DURATION_MS` (`given` is quoted in errors). */
function intervalMsOf(length: IntervalLength, given: unknown): number {
  const ms = Math.round(Duration.fromObject(length).toMillis());
  if (!(ms > 0)) {
    throw new ValueError(
      `IntervalTrigger: the interval ${describeValue(given)} is empty; it must be longer than 0 ms`,
    );
  }
  if (!Number.isFinite(ms) || ms > MAX_DURATION_MS) {
    throw new ValueError(
      `IntervalTrigger: the interval ${describeValue(given)} is ${ms} ms, longer than the longest supported (${MAX_DURATION_MS} ms)`,
    );
  }
  return ms;
}

/** One interval from now, the default `startAt`; a `ValueError` when that is past the last valid date. */
function defaultStartAt(intervalMs: number, given: unknown): Date {
  const startAt = Date.now() + intervalMs;
  if (startAt > MAX_INSTANT_MS) {
    throw new ValueError(
      `IntervalTrigger: the interval ${describeValue(given)} is too long: one interval from now (the default startAt) is past the last valid date`,
    );
  }
  return new Date(startAt);
}
