import { ValueError } from '../errors.js';
import { describeValue } from '../validate.js';
import { triggerDefinition } from './definition.js';
import { checkSpec } from './options.js';
import { toTrigger } from './spec.js';
import type { CombiningTriggerSpec, Trigger, TriggerSpec } from './trigger.js';

const SPEC_KEYS: ReadonlySet<string> = new Set(['type', 'triggers']);

/** How many rounds `AndTrigger` tries before it gives up looking for a common fire time. */
export const AND_TRIGGER_MAX_ITERATIONS = 10_000;

function checkChildren(kind: string, triggers: ReadonlyArray<Trigger | TriggerSpec>): Trigger[] {
  if (!Array.isArray(triggers) || triggers.length === 0) {
    throw new ValueError(`${kind}: expected a non-empty array of triggers, got ${describeValue(triggers)}`);
  }
  return triggers.map((child, index) => toTrigger(child, `${kind}: triggers[${index}]`));
}

/** Fires at the earliest instants on which every child trigger agrees. */
export class AndTrigger implements Trigger {
  /** The child triggers. */
  readonly triggers: readonly Trigger[];

  /** @example new AndTrigger([new CronTrigger('0 9 * * *'), new IntervalTrigger({ days: 2 })]) */
  constructor(triggers: ReadonlyArray<Trigger | TriggerSpec>) {
    this.triggers = Object.freeze(checkChildren('AndTrigger', triggers));
  }

  /** Rebuilds an `AndTrigger` from its spec; an unknown key is a `ValueError` naming it. */
  static fromJSON(spec: CombiningTriggerSpec): AndTrigger {
    checkSpec(spec, 'and', SPEC_KEYS, 'AndTrigger');
    return new AndTrigger(spec.triggers);
  }

  /**
   * Asks every child for its next time and moves the laggards up to the latest, until all agree.
   * Throws `ValueError` if no agreement is found within `AND_TRIGGER_MAX_ITERATIONS` rounds.
   */
  getNextFireTime(previous: Date | null, now: Date): Date | null {
    let times = this.triggers.map((child) => child.getNextFireTime(previous, now));
    for (let round = 0; round < AND_TRIGGER_MAX_ITERATIONS; round++) {
      if (times.some((time) => time === null)) return null;
      const latest = Math.max(...times.map((time) => (time as Date).getTime()));
      if (times.every((time) => (time as Date).getTime() === latest)) return new Date(latest);
      times = this.triggers.map((child, index) => {
        const time = times[index] as Date;
        if (time.getTime() === latest) return time;
        const moved = child.getNextFireTime(null, new Date(latest));
        // A child that cannot reach `latest` (a past DateTrigger) can never agree.
        return moved !== null && moved.getTime() >= latest ? moved : null;
      });
    }
    throw new ValueError(
      `AndTrigger: no common fire time found within ${AND_TRIGGER_MAX_ITERATIONS} iterations of ${JSON.stringify(this.toJSON())}`,
    );
  }

  /** The plain-JSON form. */
  toJSON(): CombiningTriggerSpec {
    return { type: 'and', triggers: this.triggers.map((child) => child.toJSON()) };
  }

  /** The children's definitions (see `Trigger.definition`). */
  definition(): CombiningTriggerSpec {
    return { type: 'and', triggers: this.triggers.map(triggerDefinition) };
  }

  /** Fills in the zone of every child that has none. */
  withDefaultTimezone(timezone: string): AndTrigger {
    return new AndTrigger(this.triggers.map((child) => child.withDefaultTimezone?.(timezone) ?? child));
  }
}

/** Fires whenever any child trigger fires (at the earliest of their next times; shared times fire once). */
export class OrTrigger implements Trigger {
  /** The child triggers. */
  readonly triggers: readonly Trigger[];

  /** @example new OrTrigger([new CronTrigger('0 9 * * 1-5'), new CronTrigger('0 12 * * 6,0')]) */
  constructor(triggers: ReadonlyArray<Trigger | TriggerSpec>) {
    this.triggers = Object.freeze(checkChildren('OrTrigger', triggers));
  }

  /** Rebuilds an `OrTrigger` from its spec; an unknown key is a `ValueError` naming it. */
  static fromJSON(spec: CombiningTriggerSpec): OrTrigger {
    checkSpec(spec, 'or', SPEC_KEYS, 'OrTrigger');
    return new OrTrigger(spec.triggers);
  }

  /** The earliest next time of any child; null once every child is exhausted. */
  getNextFireTime(previous: Date | null, now: Date): Date | null {
    let earliest: Date | null = null;
    for (const child of this.triggers) {
      const time = child.getNextFireTime(previous, now);
      if (time !== null && (earliest === null || time < earliest)) earliest = time;
    }
    return earliest;
  }

  /** The plain-JSON form. */
  toJSON(): CombiningTriggerSpec {
    return { type: 'or', triggers: this.triggers.map((child) => child.toJSON()) };
  }

  /** The children's definitions (see `Trigger.definition`). */
  definition(): CombiningTriggerSpec {
    return { type: 'or', triggers: this.triggers.map(triggerDefinition) };
  }

  /** Fills in the zone of every child that has none. */
  withDefaultTimezone(timezone: string): OrTrigger {
    return new OrTrigger(this.triggers.map((child) => child.withDefaultTimezone?.(timezone) ?? child));
  }
}
