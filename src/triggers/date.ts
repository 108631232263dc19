import { type DateInput, parseDate, parseTimezone, systemTimezone } from '../time.js';
import { checkKeys, checkSpec } from './options.js';
import type { DateTriggerSpec, Trigger } from './trigger.js';

/** Options of `DateTrigger`. */
export interface DateTriggerOptions {
  /** Zone in which an ISO string without offset is read. @default the scheduler's zone */
  timezone?: string;
}

const OPTION_KEYS: ReadonlySet<string> = new Set(['timezone']);
const SPEC_KEYS: ReadonlySet<string> = new Set(['type', 'runAt', 'timezone']);

/** Fires once, at `runAt`. */
export class DateTrigger implements Trigger {
  /** The instant the trigger fires at. */
  readonly runAt: Date;
  /** The zone the user gave, if any. */
  readonly timezone: string | undefined;

  /**
   * @example new DateTrigger('2026-12-01T09:00', { timezone: 'Europe/Berlin' })
   * @throws ValueError naming a bad date, zone or an unknown option.
   */
  constructor(runAt: DateInput, options: DateTriggerOptions = {}) {
    checkKeys(options, OPTION_KEYS, 'DateTrigger');
    this.timezone =
      options.timezone === undefined ? undefined : parseTimezone(options.timezone, 'DateTrigger: timezone');
    // The zone matters only for a string without an offset; looking up the system zone costs a little.
    this.runAt = parseDate(runAt, () => this.timezone ?? systemTimezone(), 'DateTrigger: runAt');
  }

  /** Rebuilds a `DateTrigger` from its spec; an unknown key is a `ValueError` naming it. */
  static fromJSON(spec: DateTriggerSpec): DateTrigger {
    checkSpec(spec, 'date', SPEC_KEYS, 'DateTrigger');
    return new DateTrigger(spec.runAt, spec.timezone === undefined ? {} : { timezone: spec.timezone });
  }

  /**
   * `runAt` if nothing fired yet (even if it is past: misfire rules judge it) or if `previous` is before it
   * (inside an `OrTrigger`, `previous` may be another child's fire time); else null.
   */
  getNextFireTime(previous: Date | null, _now: Date): Date | null {
    return previous === null || previous.getTime() < this.runAt.getTime() ? this.runAt : null;
  }

  /** The plain-JSON form. */
  toJSON(): DateTriggerSpec {
    const spec: DateTriggerSpec = { type: 'date', runAt: this.runAt.toISOString() };
    if (this.timezone !== undefined) spec.timezone = this.timezone;
    return spec;
  }

  /** Exactly one fire time: counted in closed form. */
  countFireTimes(from: Date, until: Date, keepRecent: number) {
    const at = this.runAt.getTime();
    const inside = at >= from.getTime() && at <= until.getTime();
    return { count: inside ? 1 : 0, recent: inside && keepRecent > 0 ? [this.runAt] : [] };
  }
}
