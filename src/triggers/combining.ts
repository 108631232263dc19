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
  return triggers.map((child, index) => {
    const trigger = toTrigger(child, `${kind}: triggers[${index}]`);
    if (trigger.toJSON().type === 'after') {
      throw new ValueError(
        `${kind}: triggers[${index}] is an after-trigger, which fires on other tasks' runs, not on the clock: it cannot be combined`,
      );
    }
    return trigger;
  });
}

/** What `AndTrigger` and `OrTrigger` share: their children, their spec, their definition and default zone. */
abstract class CombiningTrigger implements Trigger {
  /** The child triggers. */
  readonly triggers: readonly Trigger[];
  /** The spec's `type`. */
  abstract readonly type: 'and' | 'or';

  constructor(kind: string, triggers: ReadonlyArray<Trigger | TriggerSpec>) {
    this.triggers = Object.freeze(checkChildren(kind, triggers));
  }

  abstract getNextFireTime(previous: Date | null, now: Date): Date | null;

  /** A trigger of the same kind with these children. */
  protected abstract with(triggers: Trigger[]): CombiningTrigger;

  /** The plain-JSON form. */
  toJSON(): CombiningTriggerSpec {
    return { type: this.type, triggers: this.triggers.map((child) => child.toJSON()) };
  }

  /** The children's definitions (see `Trigger.definition`). */
  definition(): CombiningTriggerSpec {
    return { type: this.type, triggers: this.triggers.map(triggerDefinition) };
  }

  /** Fills in the zone of every child that has none. */
  withDefaultTimezone(timezone: string): CombiningTrigger {
    return this.with(this.triggers.map((child) => child.withDefaultTimezone?.(timezone) ?? child));
  }
}

/** Fires at the earliest instants on which every child trigger agrees. */
export class AndTrigger extends CombiningTrigger {
  readonly type = 'and';

  /** @example new AndTrigger([new CronTrigger('0 9 * * *'), new IntervalTrigger({ days: 2 })]) */
  constructor(triggers: ReadonlyArray<Trigger | TriggerSpec>) {
    super('AndTrigger', triggers);
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

  protected with(triggers: Trigger[]): AndTrigger {
    return new AndTrigger(triggers);
  }
}

/** Fires whenever any child trigger fires (at the earliest of their next times; shared times fire once). */
export class OrTrigger extends CombiningTrigger {
  readonly type = 'or';

  /** @example new OrTrigger([new CronTrigger('0 9 * * 1-5'), new CronTrigger('0 12 * * 6,0')]) */
  constructor(triggers: ReadonlyArray<Trigger | TriggerSpec>) {
    super('OrTrigger', triggers);
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

  protected with(triggers: Trigger[]): OrTrigger {
    return new OrTrigger(triggers);
  }
}
