/**
 * src/events.ts (API.md, "Events"): the event names are checked at run time (a typo is a ValueError, not a
 * listener that never fires), listeners are functions, and a listener that throws never reaches the emitter.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import {
  EventHub,
  isSchedulerEventName,
  SCHEDULER_EVENT_NAMES,
  type SchedulerEventName,
  type SchedulerEvents,
} from '../src/events.js';
import { ValueError } from '../src/index.js';
import { thrown } from './support/thrown.js';

const hub = () => new EventHub(() => pino({ level: 'silent' }));

describe('EventHub subscriptions', () => {
  it('an unknown event name is a ValueError naming it and the valid names, for on, once and off', () => {
    const events = hub();
    const cases: Array<[string, () => void]> = [
      ['Scheduler.on', () => events.on('bogus:event' as SchedulerEventName, () => {})],
      ['Scheduler.once', () => events.on('task:Added' as SchedulerEventName, () => {}, true)],
      ['Scheduler.off', () => events.off('task:wait' as SchedulerEventName, () => {})],
      ['Scheduler.on', () => events.on(42 as unknown as SchedulerEventName, () => {})],
    ];
    for (const [method, subscribe] of cases) {
      const error = thrown(subscribe);
      expect(error).toBeInstanceOf(ValueError);
      expect((error as Error).message).toMatch(new RegExp(`^${method}: unknown event `));
      expect((error as Error).message).toContain('task:added');
    }
    expect((thrown(cases[0]?.[1] as () => void) as Error).message).toContain('"bogus:event"');
  });

  it('a listener that is not a function is a ValueError naming the event and the value', () => {
    const events = hub();
    for (const bad of ['notfn', null, undefined, 5, {}]) {
      const error = thrown(() => events.on('task:added', bad as never));
      expect(error, String(bad)).toBeInstanceOf(ValueError);
      expect((error as Error).message).toContain("the listener of 'task:added' must be a function");
    }
    expect((thrown(() => events.on('task:added', 'notfn' as never)) as Error).message).toContain('"notfn"');
    expect(thrown(() => events.off('task:added', 'notfn' as never))).toBeInstanceOf(ValueError);
    expect(events.has('task:added')).toBe(false);
  });

  it('every name of SchedulerEvents is accepted, store:error included, and delivers its payload', () => {
    const events = hub();
    const seen: unknown[] = [];
    for (const name of SCHEDULER_EVENT_NAMES) events.on(name, (payload) => void seen.push([name, payload]));
    const payload: SchedulerEvents['store:error'] = { alias: 'default', error: new Error('disk full') };
    events.emit('store:error', payload);
    expect(seen).toEqual([['store:error', payload]]);
    expect(SCHEDULER_EVENT_NAMES).toContain('store:error');
    expect(SCHEDULER_EVENT_NAMES).toContain('task:waiting');
    expect(SCHEDULER_EVENT_NAMES).not.toContain('task:wait');
    expect(new Set(SCHEDULER_EVENT_NAMES).size).toBe(SCHEDULER_EVENT_NAMES.length);
    expect(isSchedulerEventName('task:executed')).toBe(true);
    expect(isSchedulerEventName('toString')).toBe(false);
  });

  it('once listeners fire once; off removes one registration; a throwing listener is isolated', () => {
    const events = hub();
    const calls: string[] = [];
    const listener = () => void calls.push('a');
    events.on('task:added', () => void calls.push('once'), true);
    events.on('task:added', () => {
      throw new Error('listener bug');
    });
    events.on('task:added', listener);
    events.emit('task:added', { taskId: 't', store: 'default' });
    events.off('task:added', listener);
    events.emit('task:added', { taskId: 't', store: 'default' });
    expect(calls).toEqual(['once', 'a']);
  });
});
