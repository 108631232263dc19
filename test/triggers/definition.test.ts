/**
 * Trigger declarations (API.md, "`replaceExisting` is a declaration"): `definition()` leaves out what a
 * trigger computed from the clock at construction, and `sameTriggerDeclaration` tells whether a stored
 * trigger (rebuilt from its spec, every value explicit) is the one a boot-time declaration makes.
 */
import { describe, expect, it } from 'vitest';
import { CalendarIntervalTrigger } from '../../src/triggers/calendar-interval.js';
import { AndTrigger, OrTrigger } from '../../src/triggers/combining.js';
import { CronTrigger } from '../../src/triggers/cron.js';
import { DateTrigger } from '../../src/triggers/date.js';
import { sameTriggerDeclaration, triggerDefinition } from '../../src/triggers/definition.js';
import { IntervalTrigger } from '../../src/triggers/interval.js';
import { triggerFromSpec } from '../../src/triggers/spec.js';
import type { Trigger } from '../../src/triggers/trigger.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');

/** The trigger as a store gives it back: rebuilt from its JSON, so every value is explicit. */
const stored = (trigger: Trigger) => triggerFromSpec(JSON.parse(JSON.stringify(trigger.toJSON())));
/** A moment for the clock to move, so that a default computed from it differs. */
const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('definition()', () => {
  it('IntervalTrigger leaves out a default startAt, keeps a given one', () => {
    const defaulted = new IntervalTrigger({ milliseconds: 200 }, { jitter: 10 });
    expect(defaulted.toJSON().startAt).toBeDefined();
    expect(defaulted.definition()).toEqual({ type: 'interval', milliseconds: 200, jitter: 10 });
    const given = new IntervalTrigger({ milliseconds: 200 }, { startAt: T0 });
    expect(given.definition()).toEqual(given.toJSON());
  });

  it('CalendarIntervalTrigger leaves out a default startAt (today), also after withDefaultTimezone', () => {
    const defaulted = new CalendarIntervalTrigger({ days: 2 }, { hour: 9 });
    const spec = { type: 'calendarinterval', days: 2, hour: 9, minute: 0, second: 0 };
    expect(defaulted.definition()).toEqual(spec);
    expect(defaulted.withDefaultTimezone('Asia/Tokyo').definition()).toEqual({
      ...spec,
      timezone: 'Asia/Tokyo',
    });
    const given = new CalendarIntervalTrigger({ days: 2 }, { startAt: '2026-01-01', timezone: 'UTC' });
    expect(given.definition()).toEqual(given.toJSON());
    expect(given.withDefaultTimezone('Asia/Tokyo').definition()).toEqual(given.toJSON());
  });

  it('And/Or triggers give their children’s definitions', () => {
    const children = [new IntervalTrigger({ seconds: 2 }), new CronTrigger('0 9 * * *', { timezone: 'UTC' })];
    const childDefinitions = [
      { type: 'interval', seconds: 2 },
      { type: 'cron', expression: '0 9 * * *', timezone: 'UTC' },
    ];
    expect(new AndTrigger(children).definition()).toEqual({ type: 'and', triggers: childDefinitions });
    expect(new OrTrigger(children).definition()).toEqual({ type: 'or', triggers: childDefinitions });
  });

  it('triggerDefinition: definition() when there is one, else toJSON()', () => {
    const cron = new CronTrigger('0 9 * * *', { timezone: 'UTC' });
    expect(triggerDefinition(cron)).toEqual(cron.toJSON());
    expect(triggerDefinition(new IntervalTrigger({ seconds: 1 }))).toEqual({ type: 'interval', seconds: 1 });
    const custom: Trigger = { getNextFireTime: () => null, toJSON: () => ({ type: 'shutdown' }) };
    expect(triggerDefinition(custom)).toEqual({ type: 'shutdown' });
  });
});

describe('sameTriggerDeclaration(declared, stored)', () => {
  it('an interval declared again later (its default startAt moved on) is the stored declaration', async () => {
    const earlier = stored(new IntervalTrigger({ milliseconds: 200 }));
    await tick();
    const declared = new IntervalTrigger({ milliseconds: 200 });
    expect(declared.toJSON()).not.toEqual(earlier.toJSON());
    expect(sameTriggerDeclaration(declared, earlier)).toBe(true);
  });

  it('a different interval, jitter or endAt is another declaration', () => {
    const earlier = stored(new IntervalTrigger({ milliseconds: 200 }));
    expect(sameTriggerDeclaration(new IntervalTrigger({ milliseconds: 300 }), earlier)).toBe(false);
    expect(sameTriggerDeclaration(new IntervalTrigger({ milliseconds: 200 }, { jitter: 5 }), earlier)).toBe(
      false,
    );
    const withEnd = stored(new IntervalTrigger({ milliseconds: 200 }, { endAt: T0 + 1e12 }));
    expect(sameTriggerDeclaration(new IntervalTrigger({ milliseconds: 200 }), withEnd)).toBe(false);
  });

  it('an explicit startAt must match the stored one', () => {
    const earlier = stored(new IntervalTrigger({ milliseconds: 200 }, { startAt: T0 }));
    expect(sameTriggerDeclaration(new IntervalTrigger({ milliseconds: 200 }, { startAt: T0 }), earlier)).toBe(
      true,
    );
    expect(
      sameTriggerDeclaration(new IntervalTrigger({ milliseconds: 200 }, { startAt: T0 + 1 }), earlier),
    ).toBe(false);
    // A stored grid that came from a default is not what an explicit startAt declares.
    const defaulted = stored(new IntervalTrigger({ milliseconds: 200 }));
    expect(
      sameTriggerDeclaration(new IntervalTrigger({ milliseconds: 200 }, { startAt: T0 }), defaulted),
    ).toBe(false);
  });

  it('cron: the same expression and zone is the same; another zone, expression or option is not', () => {
    const earlier = stored(new CronTrigger('0 9 * * 1-5', { timezone: 'Europe/Berlin' }));
    const same = new CronTrigger('0 9 * * 1-5', { timezone: 'Europe/Berlin' });
    expect(sameTriggerDeclaration(same, earlier)).toBe(true);
    expect(sameTriggerDeclaration(new CronTrigger('0 9 * * 1-5', { timezone: 'Asia/Tokyo' }), earlier)).toBe(
      false,
    );
    expect(
      sameTriggerDeclaration(new CronTrigger('0 10 * * 1-5', { timezone: 'Europe/Berlin' }), earlier),
    ).toBe(false);
    const withJitter = new CronTrigger('0 9 * * 1-5', { timezone: 'Europe/Berlin', jitter: 1000 });
    expect(sameTriggerDeclaration(withJitter, earlier)).toBe(false);
    expect(sameTriggerDeclaration(same, stored(withJitter))).toBe(false);
  });

  it('a calendar interval with a default start declared on another day is the same declaration', () => {
    const earlier = triggerFromSpec({
      type: 'calendarinterval',
      days: 2,
      hour: 9,
      minute: 0,
      second: 0,
      startAt: '2020-01-01',
      timezone: 'UTC',
    });
    const declared = new CalendarIntervalTrigger({ days: 2 }, { hour: 9 }).withDefaultTimezone('UTC');
    expect(sameTriggerDeclaration(declared, earlier)).toBe(true);
    const other = new CalendarIntervalTrigger({ days: 3 }, { hour: 9 }).withDefaultTimezone('UTC');
    expect(sameTriggerDeclaration(other, earlier)).toBe(false);
  });

  it('combining triggers compare child by child, defaults ignored at any depth', async () => {
    const build = () =>
      new OrTrigger([
        new AndTrigger([
          new IntervalTrigger({ milliseconds: 200 }),
          new CronTrigger('* * * * *', { timezone: 'UTC' }),
        ]),
        new DateTrigger(T0),
      ]);
    const earlier = stored(build());
    await tick();
    expect(sameTriggerDeclaration(build(), earlier)).toBe(true);
    const swapped = new OrTrigger([new DateTrigger(T0), new IntervalTrigger({ milliseconds: 200 })]);
    expect(sameTriggerDeclaration(swapped, earlier)).toBe(false);
    const fewer = new OrTrigger([new DateTrigger(T0)]);
    expect(
      sameTriggerDeclaration(fewer, stored(new OrTrigger([new DateTrigger(T0), new DateTrigger(T0)]))),
    ).toBe(false);
    expect(sameTriggerDeclaration(new AndTrigger([new DateTrigger(T0)]), stored(fewer))).toBe(false);
  });

  it('another trigger type is never the same', () => {
    const date = stored(new DateTrigger(T0));
    expect(sameTriggerDeclaration(new DateTrigger(T0), date)).toBe(true);
    expect(sameTriggerDeclaration(new DateTrigger(T0 + 1), date)).toBe(false);
    expect(sameTriggerDeclaration(new IntervalTrigger({ milliseconds: 200 }), date)).toBe(false);
  });
});
