/**
 * The window of a time-windowed trigger (`IntervalTrigger`, `CronTrigger`, `CalendarIntervalTrigger`):
 * the bounds its fire times keep to (`startAt` and `endAt`, both inclusive), the zone it was given
 * (`timezone`, in which date strings without an offset are read) and the random delay added to each
 * fire time (`jitterMs`). Read here from options (`TriggerWindow.parse`) and specs (`splitWindowSpec`),
 * written here into specs (`toSpec`, `declared`) and applied here to fire times.
 *
 * "None" is `undefined` throughout: no `startAt`, no `endAt`, no zone given. No jitter is `jitterMs` 0.
 * The bounds are instants (`INSTANTS`), or calendar dates for `CalendarIntervalTrigger` (its `BoundType`).
 */
import { ValueError } from '../errors.js';
import {
  type DateInput,
  type DurationInput,
  MAX_INSTANT_MS,
  parseDate,
  parseDuration,
  parseTimezone,
  systemTimezone,
} from '../time.js';

/** The window's options, as the windowed triggers take them (each documents its own defaults). */
export interface WindowOptions {
  startAt?: DateInput;
  endAt?: DateInput;
  timezone?: string;
  jitter?: DurationInput;
}

/** The window's keys of a trigger spec: bounds as ISO 8601 strings (calendar: `YYYY-MM-DD`), jitter in ms. */
export interface WindowSpec {
  startAt?: string;
  endAt?: string;
  timezone?: string;
  jitter?: number;
}

/** The window's option (and spec) keys, in the order specs write them and errors list them. */
export const WINDOW_KEYS = ['startAt', 'endAt', 'timezone', 'jitter'] as const;

/** How a window reads, orders and writes its bounds: instants, or calendar dates. */
export interface BoundType<B> {
  /** Reads a `startAt`/`endAt` option, a string without offset in `zone()`; errors start with `what`. */
  read(input: unknown, zone: () => string, what: string): B;
  /** The number a bound is compared by, with fire times in the same unit (epoch ms for instants). */
  toNumber(bound: B): number;
  /** The bound as specs and error messages write it. */
  write(bound: B): string;
}

/** Bounds that are instants: read as `DateInput`s, written as ISO 8601 strings in UTC. */
export const INSTANTS: BoundType<Date> = {
  read: parseDate,
  toNumber: (instant) => instant.getTime(),
  write: (instant) => instant.toISOString(),
};

/** What a trigger tells `TriggerWindow.parse` about its window. */
export interface WindowRules<B> {
  /** The trigger class, the start of every error message (`'CronTrigger'`). */
  component: string;
  /** How the bounds are read, ordered and written. */
  bounds: BoundType<B>;
  /** The `startAt` when none is given, computed from the clock; without it, no `startAt` is no bound. */
  defaultStartAt?: (zone: () => string) => B;
}

/**
 * A trigger's window, immutable. `Start` is `B` for the triggers whose `startAt` is defaulted (interval,
 * calendar interval), `B | undefined` for the others (cron).
 */
export class TriggerWindow<B = Date, Start extends B | undefined = B | undefined> {
  /** No fire time before this bound (the default one, when the trigger has a default). */
  readonly startAt: Start;
  /** No fire time after this bound; `undefined`: no end. */
  readonly endAt: B | undefined;
  /** The zone the user gave; `undefined`: the scheduler's (see `withDefaultTimezone`), else the system's. */
  readonly timezone: string | undefined;
  /** The largest random delay added to each fire time, in whole ms; 0: none. */
  readonly jitterMs: number;
  /** Whether `startAt` was given, not defaulted from the clock (a defaulted one is left out of definitions). */
  readonly startAtDeclared: boolean;
  readonly #bounds: BoundType<B>;
  /** `startAt` as a number, `-Infinity` without one. */
  readonly #first: number;
  /** `endAt` as a number, `Infinity` without one. */
  readonly #last: number;

  private constructor(
    bounds: BoundType<B>,
    startAt: Start,
    endAt: B | undefined,
    timezone: string | undefined,
    jitterMs: number,
    startAtDeclared: boolean,
  ) {
    this.#bounds = bounds;
    this.startAt = startAt;
    this.endAt = endAt;
    this.timezone = timezone;
    this.jitterMs = jitterMs;
    this.startAtDeclared = startAtDeclared;
    this.#first = startAt === undefined ? Number.NEGATIVE_INFINITY : bounds.toNumber(startAt);
    this.#last = endAt === undefined ? Number.POSITIVE_INFINITY : bounds.toNumber(endAt);
  }

  /**
   * Reads the window's options, in this order: `timezone`, `startAt` (else the rules' default), `endAt`,
   * then `jitter`. Keys are not checked here (the trigger checks its options object as a whole).
   * @throws ValueError naming the trigger, the option and the bad value: an unknown zone, a bad date or
   *   duration, `endAt` before `startAt`.
   */
  static parse<B>(
    options: WindowOptions,
    rules: WindowRules<B> & { defaultStartAt: (zone: () => string) => B },
  ): TriggerWindow<B, B>;
  static parse<B>(options: WindowOptions, rules: WindowRules<B>): TriggerWindow<B>;
  static parse<B>(options: WindowOptions, rules: WindowRules<B>): TriggerWindow<B> {
    const { component, bounds } = rules;
    const timezone =
      options.timezone === undefined ? undefined : parseTimezone(options.timezone, `${component}: timezone`);
    // The zone matters only for a string without an offset; looking up the system zone costs a little.
    const zone = () => timezone ?? systemTimezone();
    const startAt =
      options.startAt === undefined
        ? rules.defaultStartAt?.(zone)
        : bounds.read(options.startAt, zone, `${component}: startAt`);
    const endAt =
      options.endAt === undefined ? undefined : bounds.read(options.endAt, zone, `${component}: endAt`);
    if (startAt !== undefined && endAt !== undefined && bounds.toNumber(endAt) < bounds.toNumber(startAt)) {
      throw new ValueError(
        `${component}: endAt ${bounds.write(endAt)} is before startAt ${bounds.write(startAt)}`,
      );
    }
    const jitterMs = options.jitter === undefined ? 0 : parseDuration(options.jitter, `${component}: jitter`);
    return new TriggerWindow(bounds, startAt, endAt, timezone, jitterMs, options.startAt !== undefined);
  }

  /** The zone wall-clock times are computed in: the one given, else the system's. */
  zone(): string {
    return this.timezone ?? systemTimezone();
  }

  /** `time`, or the window's start when that is later (`time` in the unit of `BoundType.toNumber`). */
  notBeforeStart(time: number): number {
    return Math.max(time, this.#first);
  }

  /** `time`, or the window's end when that is earlier. */
  notAfterEnd(time: number): number {
    return Math.min(time, this.#last);
  }

  /** True when `time` is past the window's end (a time equal to `endAt` is inside). */
  isAfterEnd(time: number): boolean {
    return time > this.#last;
  }

  /**
   * The fire time `fireTime` (epoch ms) delayed by a random whole number of ms in `[0, jitterMs]`, never
   * past the last valid instant. Without jitter, `Math.random` is not called.
   */
  jittered(fireTime: number): Date {
    const delay = this.jitterMs > 0 ? Math.floor(Math.random() * (this.jitterMs + 1)) : 0;
    return new Date(Math.min(fireTime + delay, MAX_INSTANT_MS));
  }

  /** The window's keys of the trigger's spec, in `WINDOW_KEYS` order; what is none is left out. */
  toSpec(): WindowSpec {
    const spec: WindowSpec = {};
    if (this.startAt !== undefined) spec.startAt = this.#bounds.write(this.startAt);
    if (this.endAt !== undefined) spec.endAt = this.#bounds.write(this.endAt);
    if (this.timezone !== undefined) spec.timezone = this.timezone;
    if (this.jitterMs > 0) spec.jitter = this.jitterMs;
    return spec;
  }

  /**
   * `spec` (the trigger's `toJSON()`) as a definition: without `startAt` when it was defaulted from the
   * clock, which is not part of what the user declared (see `Trigger.definition`). Changes `spec`.
   */
  declared<S extends WindowSpec>(spec: S): S {
    if (!this.startAtDeclared) delete spec.startAt;
    return spec;
  }

  /**
   * This window, its `startAt` counted as declared or not: `withDefaultTimezone` passes a defaulted
   * `startAt` on as an option, to keep its date, and this keeps it out of the definition.
   */
  withStartAtDeclared(declared: boolean): TriggerWindow<B, Start> {
    if (declared === this.startAtDeclared) return this;
    return new TriggerWindow(this.#bounds, this.startAt, this.endAt, this.timezone, this.jitterMs, declared);
  }
}

/**
 * Splits a spec into its other keys (in their order) and its window's options: the window keys the
 * spec has (not `undefined`), as `fromJSON` passes them to the trigger's constructor.
 */
export function splitWindowSpec<S extends WindowSpec>(spec: S): [Omit<S, keyof WindowSpec>, WindowOptions] {
  const { startAt, endAt, timezone, jitter, ...rest } = spec;
  const options: WindowOptions = {};
  if (startAt !== undefined) options.startAt = startAt;
  if (endAt !== undefined) options.endAt = endAt;
  if (timezone !== undefined) options.timezone = timezone;
  if (jitter !== undefined) options.jitter = jitter;
  return [rest, options];
}
