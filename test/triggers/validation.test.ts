/**
 * API.md "Input types": every options object of a trigger (and every spec) rejects an unknown key with a
 * `ValueError` naming it, a non-object where an object is expected is a `ValueError` (never a TypeError),
 * and values too large for a date or a safe number are `ValueError`s naming them (never a RangeError).
 */
import { describe, expect, it, vi } from 'vitest';
import { ValueError } from '../../src/errors.js';
import { CalendarIntervalTrigger } from '../../src/triggers/calendar-interval.js';
import { AndTrigger, OrTrigger } from '../../src/triggers/combining.js';
import { CronTrigger } from '../../src/triggers/cron.js';
import { DateTrigger } from '../../src/triggers/date.js';
import { IntervalTrigger } from '../../src/triggers/interval.js';
import { ShutdownTrigger } from '../../src/triggers/shutdown.js';
import { toTrigger, triggerFromSpec } from '../../src/triggers/spec.js';
import type { TriggerSpec } from '../../src/triggers/trigger.js';
import { valueErrorExpecter } from '../support/triggers.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const cron = valueErrorExpecter('CronTrigger');
const interval = valueErrorExpecter('IntervalTrigger');
const calendar = valueErrorExpecter('CalendarIntervalTrigger');
const date = valueErrorExpecter('DateTrigger');
const and = valueErrorExpecter('AndTrigger');
const or = valueErrorExpecter('OrTrigger');
const shutdown = valueErrorExpecter('ShutdownTrigger');
/** A typo'd option, as a user would write it; the cast stands for a caller without type checking. */
const typo = <T>(options: object) => options as T;

describe('unknown option keys are ValueErrors naming the key', () => {
  it('CronTrigger: constructor, fromFields, fromJSON', () => {
    cron(
      () => new CronTrigger('* * * * *', typo({ timeZone: 'Asia/Tokyo' })),
      "unknown option 'timeZone'",
      'startAt, endAt, timezone, jitter',
    );
    cron(() => CronTrigger.fromFields({ hour: 3 }, typo({ start_at: T0 })), "unknown option 'start_at'");
    cron(
      () => CronTrigger.fromJSON(typo({ type: 'cron', expression: '* * * * *', timeZone: 'Asia/Tokyo' })),
      "unknown option 'timeZone'",
    );
  });

  it('IntervalTrigger: constructor and fromJSON', () => {
    interval(
      () => new IntervalTrigger({ minutes: 1 }, typo({ start_at: T0 })),
      "unknown option 'start_at'",
      'startAt, endAt, timezone, jitter',
    );
    interval(
      () => IntervalTrigger.fromJSON(typo({ type: 'interval', minutes: 1, jiter: 5 })),
      "unknown option 'jiter'",
    );
  });

  it('CalendarIntervalTrigger: interval, options and fromJSON', () => {
    calendar(() => new CalendarIntervalTrigger(typo({ days: 1, hours: 2 })), "unknown option 'hours'");
    calendar(
      () => new CalendarIntervalTrigger({ days: 1 }, typo({ timeZone: 'UTC' })),
      "unknown option 'timeZone'",
    );
    calendar(
      () => CalendarIntervalTrigger.fromJSON(typo({ type: 'calendarinterval', days: 1, minutes: 5 })),
      "unknown option 'minutes'",
    );
  });

  it('DateTrigger: options and fromJSON', () => {
    date(() => new DateTrigger(T0, typo({ timeZone: 'UTC' })), "unknown option 'timeZone'");
    date(
      () => DateTrigger.fromJSON(typo({ type: 'date', runAt: '2026-03-01T00:00:00Z', zone: 'UTC' })),
      "unknown option 'zone'",
    );
  });

  it('AndTrigger, OrTrigger and ShutdownTrigger specs', () => {
    const child = { type: 'date', runAt: '2026-03-01T00:00:00Z' };
    and(() => AndTrigger.fromJSON(typo({ type: 'and', triggers: [child], mode: 'all' })), "'mode'");
    or(() => OrTrigger.fromJSON(typo({ type: 'or', triggers: [child], extra: 1 })), "'extra'");
    shutdown(() => ShutdownTrigger.fromJSON(typo({ type: 'shutdown', when: 'now' })), "'when'");
  });

  it('a spec as addTask takes it (toTrigger / triggerFromSpec), nested ones included', () => {
    const spec = typo<TriggerSpec>({ type: 'cron', expression: '0 9 * * *', timeZone: 'Asia/Tokyo' });
    cron(() => toTrigger(spec), "unknown option 'timeZone'");
    cron(() => triggerFromSpec(spec), "unknown option 'timeZone'");
    const nested = typo<TriggerSpec>({ type: 'or', triggers: [spec] });
    expect(() => triggerFromSpec(nested)).toThrow(/CronTrigger: spec: unknown option 'timeZone'/);
  });

  it('the keys toJSON writes are all accepted back (round trip)', () => {
    const triggers = [
      new CronTrigger('0 9 * * *', { startAt: T0, endAt: T0 + 1e9, timezone: 'Asia/Tokyo', jitter: 5 }),
      new IntervalTrigger({ hours: 1 }, { startAt: T0, endAt: T0 + 1e9, timezone: 'UTC', jitter: 5 }),
      new CalendarIntervalTrigger(
        { years: 1, months: 1, weeks: 1, days: 1 },
        { hour: 1, minute: 2, second: 3, startAt: '2026-01-01', endAt: '2027-01-01', timezone: 'UTC' },
      ),
      new DateTrigger(T0, { timezone: 'UTC' }),
      new AndTrigger([new DateTrigger(T0)]),
      new OrTrigger([new DateTrigger(T0)]),
      new ShutdownTrigger(),
    ];
    for (const trigger of triggers) {
      expect(triggerFromSpec(JSON.parse(JSON.stringify(trigger))).toJSON()).toEqual(trigger.toJSON());
    }
  });
});

describe('a non-object where an object is expected is a ValueError, never a TypeError', () => {
  it.each<[unknown]>([[null], [5], ['UTC'], [[]]])('options %j', (bad) => {
    cron(() => new CronTrigger('* * * * *', bad as never), 'options must be an object');
    cron(() => CronTrigger.fromFields({ hour: 1 }, bad as never), 'options must be an object');
    interval(() => new IntervalTrigger({ minutes: 1 }, bad as never), 'options must be an object');
    calendar(() => new CalendarIntervalTrigger({ days: 1 }, bad as never), 'options must be an object');
    date(() => new DateTrigger(T0, bad as never), 'options must be an object');
  });

  it.each<[unknown]>([[null], [5], ['PT5M'], [[]]])('interval %j', (bad) => {
    interval(() => new IntervalTrigger(bad as never), 'the interval must be an object');
    calendar(() => new CalendarIntervalTrigger(bad as never), 'interval must be an object');
  });

  it.each([null, 5, 'cron'])('spec %j given to fromJSON', (bad) => {
    cron(() => CronTrigger.fromJSON(bad as never), 'not a cron trigger spec');
    interval(() => IntervalTrigger.fromJSON(bad as never), 'not an interval trigger spec');
    calendar(() => CalendarIntervalTrigger.fromJSON(bad as never), 'not a calendar interval trigger spec');
    date(() => DateTrigger.fromJSON(bad as never), 'not a date trigger spec');
    and(() => AndTrigger.fromJSON(bad as never), 'not an and trigger spec');
  });
});

describe('values too large for a safe number or a date are ValueErrors naming them', () => {
  it('an interval longer than the largest safe number of ms', () => {
    interval(() => new IntervalTrigger({ weeks: 1e300 }), '{"weeks":1e+300}', 'longest supported');
    interval(() => new IntervalTrigger({ milliseconds: 1e16 }, { startAt: T0 }), '10000000000000000');
    interval(() => new IntervalTrigger({ days: 1e300 }, { startAt: T0 }), '{"days":1e+300}');
  });

  it('an interval whose default startAt (one interval from now) is past the last valid date', () => {
    interval(
      () => new IntervalTrigger({ milliseconds: 9e15 }),
      'default startAt',
      'past the last valid date',
    );
  });

  it('an interval close to the end of time has no fire time past it (no Invalid Date)', () => {
    const trigger = new IntervalTrigger({ milliseconds: 1e14 }, { startAt: 8.6e15 });
    expect(trigger.getNextFireTime(new Date(8.6e15), new Date(T0))).toBeNull();
    expect(trigger.countFireTimes(new Date(T0), new Date(8.64e15), 5).count).toBe(1);
  });

  it('jitter longer than the largest safe number of ms', () => {
    interval(() => new IntervalTrigger({ days: 1 }, { jitter: 1e300 }), 'jitter', '1e+300');
    cron(() => new CronTrigger('* * * * *', { jitter: 1e300 }), 'jitter', '1e+300', 'longest supported');
    cron(() => new CronTrigger('* * * * *', { jitter: { weeks: 1e300 } }), 'jitter', '{"weeks":1e+300}');
  });

  it('a cron jitter that pushes a fire time past the last valid date is capped, never an Invalid Date', () => {
    const trigger = new CronTrigger('0 0 0 1 1 * 9999', { timezone: 'UTC', jitter: 9e15 });
    const random = vi.spyOn(Math, 'random').mockReturnValue(0.999_999);
    let next: Date;
    try {
      next = trigger.getNextFireTime(null, new Date(T0)) as Date;
    } finally {
      random.mockRestore();
    }
    expect(Number.isNaN(next.getTime())).toBe(false);
    expect(next.getTime()).toBeGreaterThanOrEqual(Date.UTC(9999, 0, 1));
  });

  it('calendar interval parts above about 10,000 years', () => {
    calendar(() => new CalendarIntervalTrigger({ years: 1e300 }), 'years', '1e+300', 'at most 10000');
    calendar(() => new CalendarIntervalTrigger({ days: 1e300 }), 'days', '1e+300');
    calendar(() => new CalendarIntervalTrigger({ months: 2 ** 53 }), 'months', '9007199254740992');
  });

  it('calendar dates outside the years 1 to 9999', () => {
    calendar(
      () => new CalendarIntervalTrigger({ months: 1 }, { startAt: -6e15, timezone: 'UTC' }),
      'startAt',
      '-6000000000000000',
      'outside the years 1 to 9999',
    );
    calendar(
      () => new CalendarIntervalTrigger({ months: 1 }, { endAt: 8e15, timezone: 'UTC' }),
      'endAt',
      'outside the years 1 to 9999',
    );
  });

  it('a calendar step past the year 9999 ends the trigger (null), never a RangeError', () => {
    const trigger = new CalendarIntervalTrigger(
      { years: 10_000, months: 120_000, weeks: 522_000, days: 3_653_000 },
      { startAt: '2026-01-01', timezone: 'UTC' },
    );
    const first = trigger.getNextFireTime(null, new Date(T0 - 90 * 86_400_000));
    expect(first?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(trigger.getNextFireTime(first, new Date(T0))).toBeNull();
    const last = new CalendarIntervalTrigger({ days: 1 }, { startAt: '9999-12-30', timezone: 'UTC' });
    expect(last.getNextFireTime(new Date('9999-12-31T00:00:00Z'), new Date(T0))).toBeNull();
  });

  it('a calendar start in the years 1 to 99 is that year, not 1900 + year', () => {
    const trigger = new CalendarIntervalTrigger({ months: 1 }, { startAt: '0001-01-31', timezone: 'UTC' });
    const times = [trigger.getNextFireTime(null, new Date('0001-02-01T00:00:00Z'))];
    times.push(trigger.getNextFireTime(times[0] as Date, new Date(0)));
    expect(times.map((time) => time?.toISOString())).toEqual([
      '0001-03-31T00:00:00.000Z',
      '0001-05-31T00:00:00.000Z',
    ]);
  });

  it('errors are ValueErrors, so that addTask reports them as such', () => {
    expect(() => new IntervalTrigger({ weeks: 1e300 })).toThrow(ValueError);
    expect(() => new CronTrigger('* * * * *', null as never)).toThrow(ValueError);
  });
});
