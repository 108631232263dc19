/** Turning `TriggerSpec`s (plain JSON, as users write them and stores persist them) into triggers. */
import { ValueError } from '../errors.js';
import { describeValue } from '../validate.js';
import { AfterTrigger } from './after.js';
import { CalendarIntervalTrigger } from './calendar-interval.js';
import { AndTrigger, OrTrigger } from './combining.js';
import { CronTrigger } from './cron.js';
import { DateTrigger } from './date.js';
import { IntervalTrigger } from './interval.js';
import { ShutdownTrigger } from './shutdown.js';
import type { Trigger, TriggerSpec } from './trigger.js';

/** Rebuilds a trigger from its spec; an unknown `type` or bad field is a `ValueError`. */
export function triggerFromSpec(spec: TriggerSpec): Trigger {
  switch (spec?.type) {
    case 'date':
      return DateTrigger.fromJSON(spec);
    case 'interval':
      return IntervalTrigger.fromJSON(spec);
    case 'cron':
      return CronTrigger.fromJSON(spec);
    case 'calendarinterval':
      return CalendarIntervalTrigger.fromJSON(spec);
    case 'and':
      return AndTrigger.fromJSON(spec);
    case 'or':
      return OrTrigger.fromJSON(spec);
    case 'shutdown':
      return ShutdownTrigger.fromJSON(spec);
    case 'after':
      return AfterTrigger.fromJSON(spec);
    default:
      throw new ValueError(
        `trigger: unknown trigger type ${describeValue((spec as { type?: unknown } | undefined)?.type)} in ${describeValue(spec)}`,
      );
  }
}

/** True for objects that implement the `Trigger` interface. */
export function isTrigger(value: unknown): value is Trigger {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Trigger).getNextFireTime === 'function' &&
    typeof (value as Trigger).toJSON === 'function'
  );
}

/** Accepts a trigger or a spec, as `addTask` does; anything else is a `ValueError` naming `what`. */
export function toTrigger(input: unknown, what = 'trigger'): Trigger {
  if (isTrigger(input)) return input;
  if (typeof input === 'object' && input !== null && typeof (input as { type?: unknown }).type === 'string') {
    return triggerFromSpec(input as TriggerSpec);
  }
  throw new ValueError(
    `${what}: expected a Trigger or a trigger spec like { type: 'cron', expression: '0 9 * * *' }, got ${describeValue(input)}`,
  );
}
