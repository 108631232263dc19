/** Helpers shared by the trigger tests. */
import { DateTime } from 'luxon';
import { expect } from 'vitest';
import { ValueError } from '../../src/errors.js';
import type { Trigger } from '../../src/triggers/trigger.js';

/** The next `count` fire times from `from` (at or after it), as ISO strings with the zone's offset. */
export function fireTimes(
  trigger: Trigger & { timezone?: string | undefined },
  from: string,
  count: number,
  zone = trigger.timezone ?? 'UTC',
): string[] {
  const times: string[] = [];
  let next = trigger.getNextFireTime(null, DateTime.fromISO(from, { zone }).toJSDate());
  while (next !== null && times.length < count) {
    times.push(DateTime.fromJSDate(next, { zone }).toISO({ suppressMilliseconds: true }) as string);
    next = trigger.getNextFireTime(next, next);
  }
  return times;
}

/**
 * An assertion that `build` throws a ValueError whose message starts with `component:` and contains every
 * fragment.
 */
export function valueErrorExpecter(
  component: string,
): (build: () => unknown, ...fragments: string[]) => void {
  return (build, ...fragments) => {
    let caught: unknown;
    try {
      build();
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ValueError);
    const message = (caught as Error).message;
    expect(message.startsWith(`${component}:`), message).toBe(true);
    for (const fragment of fragments) expect(message).toContain(fragment);
  };
}
