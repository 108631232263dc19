// AfterTrigger as a trigger: its options and spec checks, its join progress, and that it never fires on the clock.
import { describe, expect, it } from 'vitest';
import { ValueError } from '../../src/errors.js';
import { AFTER_IDLE, AfterTrigger } from '../../src/triggers/after.js';
import { AndTrigger, OrTrigger } from '../../src/triggers/combining.js';
import { sameTriggerDeclaration } from '../../src/triggers/definition.js';
import { IntervalTrigger } from '../../src/triggers/interval.js';
import { triggerFromSpec } from '../../src/triggers/spec.js';

describe('AfterTrigger', () => {
  it('has no time of its own: every fire time is AFTER_IDLE, which no clock reaches', () => {
    const trigger = new AfterTrigger('extract');
    const now = new Date('2026-12-03T10:00:00Z');
    expect(trigger.getNextFireTime(null, now)?.getTime()).toBe(AFTER_IDLE);
    expect(trigger.getNextFireTime(now, now)?.getTime()).toBe(AFTER_IDLE);
    expect(new Date(AFTER_IDLE).getTime()).toBe(AFTER_IDLE);
  });

  it('round-trips its spec, with defaults and progress', () => {
    const trigger = new AfterTrigger(['a', 'b', 'a']);
    expect(trigger.toJSON()).toEqual({ type: 'after', tasks: ['a', 'b'], outcome: 'success', satisfied: [] });
    const progressed = trigger.satisfiedBy('b').trigger;
    const rebuilt = triggerFromSpec(JSON.parse(JSON.stringify(progressed.toJSON())));
    expect(rebuilt).toBeInstanceOf(AfterTrigger);
    expect(rebuilt.toJSON()).toEqual({
      type: 'after',
      tasks: ['a', 'b'],
      outcome: 'success',
      satisfied: ['b'],
    });
    expect(triggerFromSpec({ type: 'after', tasks: ['x'] }).toJSON()).toMatchObject({ outcome: 'success' });
  });

  it('a join fires once each task has been noted, then starts over', () => {
    let trigger = new AfterTrigger(['a', 'b', 'c']);
    let step = trigger.satisfiedBy('a');
    expect(step.fire).toBe(false);
    step = step.trigger.satisfiedBy('a');
    expect(step.fire).toBe(false);
    expect(step.trigger.satisfied).toEqual(['a']);
    step = step.trigger.satisfiedBy('c');
    expect(step.trigger.satisfied).toEqual(['a', 'c']);
    step = step.trigger.satisfiedBy('b');
    expect(step.fire).toBe(true);
    expect(step.trigger.satisfied).toEqual([]);
    trigger = step.trigger;
    expect(trigger.satisfiedBy('zzz')).toEqual({ fire: false, trigger });
    expect(new AfterTrigger('solo').satisfiedBy('solo').fire).toBe(true);
  });

  it('awaits the outcome it names', () => {
    expect(new AfterTrigger('a').awaits(true)).toBe(true);
    expect(new AfterTrigger('a').awaits(false)).toBe(false);
    expect(new AfterTrigger('a', { outcome: 'failure' }).awaits(false)).toBe(true);
    expect(new AfterTrigger('a', { outcome: 'failure' }).awaits(true)).toBe(false);
    expect(new AfterTrigger('a', { outcome: 'any' }).awaits(true)).toBe(true);
    expect(new AfterTrigger('a', { outcome: 'any' }).awaits(false)).toBe(true);
  });

  it('its progress is no part of its declaration (replaceExisting keeps a stored join going)', () => {
    const declared = new AfterTrigger(['a', 'b']);
    const stored = triggerFromSpec({
      type: 'after',
      tasks: ['a', 'b'],
      outcome: 'success',
      satisfied: ['a'],
    });
    expect(sameTriggerDeclaration(declared, stored)).toBe(true);
    expect(sameTriggerDeclaration(new AfterTrigger(['a']), stored)).toBe(false);
    expect(sameTriggerDeclaration(new AfterTrigger(['a', 'b'], { outcome: 'any' }), stored)).toBe(false);
  });

  it('bad input is a ValueError naming it', () => {
    expect(() => new AfterTrigger([])).toThrow(ValueError);
    expect(() => new AfterTrigger('')).toThrow(/task id/);
    expect(() => new AfterTrigger([1 as unknown as string])).toThrow(/got \[1\]/);
    expect(() => new AfterTrigger('a', { outcome: 'done' as 'success' })).toThrow(/"done"/);
    expect(() => new AfterTrigger('a', { outcomes: 'any' } as never)).toThrow(/outcomes/);
    expect(() => triggerFromSpec({ type: 'after', tasks: ['a'], satisfied: ['b'] })).toThrow(/satisfied/);
    expect(() => triggerFromSpec({ type: 'after', tasks: ['a'], extra: 1 } as never)).toThrow(/extra/);
  });

  it('cannot be combined with clock triggers', () => {
    const clock = new IntervalTrigger({ minutes: 1 });
    expect(() => new OrTrigger([clock, new AfterTrigger('a')])).toThrow(/triggers\[1\] is an after-trigger/);
    expect(() => new AndTrigger([{ type: 'after', tasks: ['a'] }, clock])).toThrow(ValueError);
  });
});
