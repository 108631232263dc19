import { Duration } from 'luxon';
import { ValueError } from '../errors.js';
import {
  type DateInput,
  type DurationInput,
  describeValue,
  parseDate,
  parseDuration,
  parseTimezone,
  systemTimezone,
} from '../time.js';
import type { FireTimeCount, IntervalTriggerSpec, Trigger } from './trigger.js';

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
  /** The last instant a fire time may have, if any. */
  readonly endAt: Date | null;
  /** The zone the user gave, if any. */
  readonly timezone: string | undefined;
  /** Maximum random delay added to each fire time, in milliseconds (0: none). */
  readonly jitterMs: number;

  /** @example new IntervalTrigger({ minutes: 5 }) */
  constructor(length: IntervalLength, options: IntervalTriggerOptions = {}) {
    if (typeof length !== 'object' || length === null) {
      throw new ValueError(
        `IntervalTrigger: the interval must be an object like { minutes: 5 }, got ${describeValue(length)}`,
      );
    }
    const kept: IntervalLength = {};
    for (const key of Object.keys(length)) {
      if (!(LENGTH_UNITS as readonly string[]).includes(key)) {
        throw new ValueError(
          `IntervalTrigger: unknown interval unit '${key}' (expected one of ${LENGTH_UNITS.join(', ')})`,
        );
      }
    }
    for (const unit of LENGTH_UNITS) {
      const value = length[unit];
      if (value === undefined) continue;
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        throw new ValueError(
          `IntervalTrigger: ${unit} must be a finite non-negative number, got ${describeValue(value)}`,
        );
      }
      kept[unit] = value;
    }
    this.length = Object.freeze(kept);
    this.intervalMs = Math.round(Duration.fromObject(kept).toMillis());
    if (!(this.intervalMs > 0)) {
      throw new ValueError(
        `IntervalTrigger: the interval ${describeValue(length)} is empty; it must be longer than 0 ms`,
      );
    }
    this.timezone =
      options.timezone === undefined
        ? undefined
        : parseTimezone(options.timezone, 'IntervalTrigger: timezone');
    const zone = () => this.timezone ?? systemTimezone();
    this.startAt =
      options.startAt === undefined
        ? new Date(Date.now() + this.intervalMs)
        : parseDate(options.startAt, zone, 'IntervalTrigger: startAt');
    this.endAt =
      options.endAt === undefined ? null : parseDate(options.endAt, zone, 'IntervalTrigger: endAt');
    if (this.endAt !== null && this.endAt < this.startAt) {
      throw new ValueError(
        `IntervalTrigger: endAt ${this.endAt.toISOString()} is before startAt ${this.startAt.toISOString()}`,
      );
    }
    this.jitterMs =
      options.jitter === undefined ? 0 : parseDuration(options.jitter, 'IntervalTrigger: jitter');
    if (this.jitterMs >= this.intervalMs) {
      throw new ValueError(
        `IntervalTrigger: jitter ${this.jitterMs} ms must be shorter than the interval (${this.intervalMs} ms)`,
      );
    }
  }

  /** Rebuilds an `IntervalTrigger` from its spec. */
  static fromJSON(spec: IntervalTriggerSpec): IntervalTrigger {
    const { type: _type, startAt, endAt, timezone, jitter, ...length } = spec;
    const options: IntervalTriggerOptions = {};
    if (startAt !== undefined) options.startAt = startAt;
    if (endAt !== undefined) options.endAt = endAt;
    if (timezone !== undefined) options.timezone = timezone;
    if (jitter !== undefined) options.jitter = jitter;
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
    if (this.endAt !== null && base > this.endAt.getTime()) return null;
    return new Date(this.jitterMs === 0 ? base : base + Math.floor(Math.random() * (this.jitterMs + 1)));
  }

  /** Grid points in `[from, until]`, in closed form: O(keepRecent), whatever the span. */
  countFireTimes(from: Date, until: Date, keepRecent: number): FireTimeCount {
    const start = this.startAt.getTime();
    const low = Math.max(from.getTime(), start);
    const high = this.endAt === null ? until.getTime() : Math.min(until.getTime(), this.endAt.getTime());
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
    const spec: IntervalTriggerSpec = {
      type: 'interval',
      ...this.length,
      startAt: this.startAt.toISOString(),
    };
    if (this.endAt !== null) spec.endAt = this.endAt.toISOString();
    if (this.timezone !== undefined) spec.timezone = this.timezone;
    if (this.jitterMs !== 0) spec.jitter = this.jitterMs;
    return spec;
  }
}
