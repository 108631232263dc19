/**
 * CalendarIntervalTrigger (API.md, "Triggers"; semantics of APScheduler 4): calendar steps at one
 * wall-clock time, nonexistent dates skipped, the DST rule, serialization and errors.
 */
import { describe, expect, it } from 'vitest';
import { CalendarIntervalTrigger } from '../../src/triggers/calendar-interval.js';
import { fireTimes, valueErrorExpecter } from '../support/triggers.js';

const expectValueError = valueErrorExpecter('CalendarIntervalTrigger');

const utcFrom = (startAt: string) => ({ startAt, timezone: 'UTC' });

describe('CalendarIntervalTrigger steps (APScheduler 4 semantics)', () => {
  it('fires on startAt at hour:minute:second, then every step', () => {
    const trigger = new CalendarIntervalTrigger(
      { weeks: 2 },
      { ...utcFrom('2024-05-01'), hour: 9, minute: 30 },
    );
    expect(fireTimes(trigger, '2024-01-01', 3)).toEqual([
      '2024-05-01T09:30:00Z',
      '2024-05-15T09:30:00Z',
      '2024-05-29T09:30:00Z',
    ]);
  });

  it('months keep the day of month; a date that does not exist is skipped (Jan 31 + 1 month is Mar 31)', () => {
    const trigger = new CalendarIntervalTrigger({ months: 1 }, utcFrom('2024-01-31'));
    expect(fireTimes(trigger, '2024-01-01', 7)).toEqual([
      '2024-01-31T00:00:00Z',
      '2024-03-31T00:00:00Z',
      '2024-05-31T00:00:00Z',
      '2024-07-31T00:00:00Z',
      '2024-08-31T00:00:00Z',
      '2024-10-31T00:00:00Z',
      '2024-12-31T00:00:00Z',
    ]);
  });

  it('years from Feb 29 fire on leap days only', () => {
    const trigger = new CalendarIntervalTrigger({ years: 1 }, utcFrom('2024-02-29'));
    expect(fireTimes(trigger, '2024-01-01', 2)).toEqual(['2024-02-29T00:00:00Z', '2028-02-29T00:00:00Z']);
  });

  it('months and days together: months first (until the date exists), then days', () => {
    const trigger = new CalendarIntervalTrigger({ months: 1, days: 1 }, utcFrom('2024-01-30'));
    expect(fireTimes(trigger, '2024-01-01', 4)).toEqual([
      '2024-01-30T00:00:00Z',
      '2024-03-31T00:00:00Z',
      '2024-06-01T00:00:00Z',
      '2024-07-02T00:00:00Z',
    ]);
  });

  it('with previous null: the first fire time at or after now, on the step sequence', () => {
    const trigger = new CalendarIntervalTrigger({ days: 3 }, { ...utcFrom('2024-05-01'), hour: 9 });
    expect(trigger.getNextFireTime(null, new Date('2024-05-08T12:00:00Z'))?.toISOString()).toBe(
      '2024-05-10T09:00:00.000Z',
    );
    expect(trigger.getNextFireTime(null, new Date('2024-05-10T09:00:00Z'))?.toISOString()).toBe(
      '2024-05-10T09:00:00.000Z',
    );
  });

  it('with previous: the first fire time strictly after it, whatever now is', () => {
    const trigger = new CalendarIntervalTrigger({ days: 1 }, utcFrom('2024-05-01'));
    expect(
      trigger.getNextFireTime(new Date('2024-05-02T00:00:00Z'), new Date('2030-01-01'))?.toISOString(),
    ).toBe('2024-05-03T00:00:00.000Z');
  });

  it('endAt is the last date that may fire (inclusive)', () => {
    const trigger = new CalendarIntervalTrigger(
      { days: 1 },
      { ...utcFrom('2024-05-01'), endAt: '2024-05-03' },
    );
    expect(fireTimes(trigger, '2024-01-01', 5)).toEqual([
      '2024-05-01T00:00:00Z',
      '2024-05-02T00:00:00Z',
      '2024-05-03T00:00:00Z',
    ]);
  });

  it('startAt defaults to today in the zone', () => {
    const trigger = new CalendarIntervalTrigger({ days: 1 }, { timezone: 'UTC' });
    const now = new Date();
    expect(trigger.startAt).toBe(now.toISOString().slice(0, 10));
    const tomorrow = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
    expect(trigger.getNextFireTime(null, new Date(tomorrow - 1))?.getTime()).toBe(tomorrow);
  });

  it('a date-time startAt counts by its date in the trigger zone', () => {
    const trigger = new CalendarIntervalTrigger(
      { days: 1 },
      { startAt: new Date('2024-03-10T23:30:00-05:00'), timezone: 'Asia/Tokyo' },
    );
    expect(trigger.startAt).toBe('2024-03-11');
  });
});

describe('CalendarIntervalTrigger across DST (API.md rule)', () => {
  const daily = (zone: string, hour: number, minute: number, startAt: string) =>
    new CalendarIntervalTrigger({ days: 1 }, { hour, minute, startAt, timezone: zone });

  it('New York 02:30 daily: the skipped 02:30 fires at 03:30 EDT', () => {
    expect(fireTimes(daily('America/New_York', 2, 30, '2024-03-08'), '2024-03-09', 3)).toEqual([
      '2024-03-09T02:30:00-05:00',
      '2024-03-10T03:30:00-04:00',
      '2024-03-11T02:30:00-04:00',
    ]);
  });

  it('New York 01:30 daily: the repeated 01:30 fires once, at its first occurrence', () => {
    expect(fireTimes(daily('America/New_York', 1, 30, '2024-11-01'), '2024-11-02', 3)).toEqual([
      '2024-11-02T01:30:00-04:00',
      '2024-11-03T01:30:00-04:00',
      '2024-11-04T01:30:00-05:00',
    ]);
  });

  it('Berlin 02:30 daily: shifted to 03:30 in spring, first occurrence in the fall', () => {
    expect(fireTimes(daily('Europe/Berlin', 2, 30, '2024-03-01'), '2024-03-30', 3)).toEqual([
      '2024-03-30T02:30:00+01:00',
      '2024-03-31T03:30:00+02:00',
      '2024-04-01T02:30:00+02:00',
    ]);
    expect(fireTimes(daily('Europe/Berlin', 2, 30, '2024-10-01'), '2024-10-26', 3)).toEqual([
      '2024-10-26T02:30:00+02:00',
      '2024-10-27T02:30:00+02:00',
      '2024-10-28T02:30:00+01:00',
    ]);
  });
});

describe('CalendarIntervalTrigger serialization', () => {
  it('toJSON gives the spec with YYYY-MM-DD dates, and fromJSON rebuilds it', () => {
    const trigger = new CalendarIntervalTrigger(
      { months: 1, days: 2 },
      {
        hour: 8,
        minute: 15,
        second: 5,
        startAt: '2024-05-01',
        endAt: '2025-05-01',
        timezone: 'Europe/Berlin',
      },
    );
    const spec = trigger.toJSON();
    expect(spec).toEqual({
      type: 'calendarinterval',
      months: 1,
      days: 2,
      hour: 8,
      minute: 15,
      second: 5,
      startAt: '2024-05-01',
      endAt: '2025-05-01',
      timezone: 'Europe/Berlin',
    });
    const rebuilt = CalendarIntervalTrigger.fromJSON(JSON.parse(JSON.stringify(spec)));
    expect(rebuilt.toJSON()).toEqual(spec);
    expect(fireTimes(rebuilt, '2024-01-01', 2)).toEqual(fireTimes(trigger, '2024-01-01', 2));
  });

  it('withDefaultTimezone fills in a missing zone and keeps a given one', () => {
    const zoneless = new CalendarIntervalTrigger({ days: 1 }, { startAt: '2024-05-01', hour: 6 });
    const tokyo = zoneless.withDefaultTimezone('Asia/Tokyo');
    expect(tokyo.timezone).toBe('Asia/Tokyo');
    expect(tokyo.getNextFireTime(null, new Date('2024-01-01'))?.toISOString()).toBe(
      '2024-04-30T21:00:00.000Z',
    );
    const berlin = new CalendarIntervalTrigger({ days: 1 }, { timezone: 'Europe/Berlin' });
    expect(berlin.withDefaultTimezone('Asia/Tokyo')).toBe(berlin);
  });
});

describe('CalendarIntervalTrigger errors: ValueError naming the bad part', () => {
  it('an empty, negative or fractional interval', () => {
    expectValueError(() => new CalendarIntervalTrigger({}), 'empty', '{}');
    expectValueError(() => new CalendarIntervalTrigger({ days: 0, weeks: 0 }), 'empty');
    expectValueError(() => new CalendarIntervalTrigger({ days: -1 }), 'days', '-1');
    expectValueError(() => new CalendarIntervalTrigger({ months: 1.5 }), 'months', '1.5');
    expectValueError(() => new CalendarIntervalTrigger({ weeks: '1' as unknown as number }), 'weeks', '"1"');
    expectValueError(() => new CalendarIntervalTrigger(null as never), 'interval', 'null');
  });

  it('a bad time of day', () => {
    expectValueError(() => new CalendarIntervalTrigger({ days: 1 }, { hour: 24 }), 'hour', '24');
    expectValueError(() => new CalendarIntervalTrigger({ days: 1 }, { hour: 1.5 }), 'hour', '1.5');
    expectValueError(() => new CalendarIntervalTrigger({ days: 1 }, { minute: 60 }), 'minute', '60');
    expectValueError(() => new CalendarIntervalTrigger({ days: 1 }, { second: -1 }), 'second', '-1');
  });

  it('a bad zone, dates, or spec', () => {
    expectValueError(
      () => new CalendarIntervalTrigger({ days: 1 }, { timezone: 'Mars/Olympus' }),
      'Mars/Olympus',
    );
    expectValueError(
      () => new CalendarIntervalTrigger({ days: 1 }, { startAt: 'soon' }),
      'startAt',
      '"soon"',
    );
    expectValueError(
      () =>
        new CalendarIntervalTrigger(
          { days: 1 },
          { startAt: '2024-05-02', endAt: '2024-05-01', timezone: 'UTC' },
        ),
      'endAt 2024-05-01 is before startAt 2024-05-02',
    );
    expectValueError(
      () => CalendarIntervalTrigger.fromJSON({ type: 'cron' } as never),
      'not a calendar interval',
    );
  });
});
