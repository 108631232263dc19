import { pino } from 'pino';
import type { Scheduler, SchedulerEventName, SchedulerEvents } from '../../src/index.js';

/** A logger that prints nothing, for schedulers under test. */
export const silentLogger = pino({ level: 'silent' });

/** Records every payload of the named events, in order, as `[name, payload]`. */
export function recordEvents<E extends SchedulerEventName>(
  scheduler: Scheduler,
  ...names: E[]
): Array<[E, SchedulerEvents[E]]> {
  const seen: Array<[E, SchedulerEvents[E]]> = [];
  for (const name of names) scheduler.on(name, (event) => void seen.push([name, event]));
  return seen;
}

/** The payloads of one event name from a recording. */
export function payloads<E extends SchedulerEventName>(
  seen: ReadonlyArray<[SchedulerEventName, unknown]>,
  name: E,
): Array<SchedulerEvents[E]> {
  return seen.filter(([n]) => n === name).map(([, payload]) => payload as SchedulerEvents[E]);
}
