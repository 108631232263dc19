/**
 * CronTrigger (API.md, "Triggers"): expression forms, options, the Trigger contract of
 * src/triggers/trigger.ts, errors, and the DST rule in America/New_York and Europe/Berlin.
 */
import { CronExpressionParser } from 'cron-parser';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { systemTimezone } from '../../src/time.js';
import { CronTrigger } from '../../src/triggers/cron.js';
import { fireTimes, valueErrorExpecter } from '../support/triggers.js';

const expectValueError = valueErrorExpecter('CronTrigger');

const utc = (expression: string) => new CronTrigger(expression, { timezone: 'UTC' });

describe('CronTrigger expressions', () => {
  it('5 fields: minute hour day month dayOfWeek, seconds 0', () => {
    expect(fireTimes(utc('*/20 9 * * *'), '2024-05-01T09:10', 3)).toEqual([
      '2024-05-01T09:20:00Z',
      '2024-05-01T09:40:00Z',
      '2024-05-02T09:00:00Z',
    ]);
  });

  it('6 fields: a leading seconds field', () => {
    expect(fireTimes(utc('*/20 * * * * *'), '2024-05-01T09:00:01', 3)).toEqual([
      '2024-05-01T09:00:20Z',
      '2024-05-01T09:00:40Z',
      '2024-05-01T09:01:00Z',
    ]);
  });

  it('lists, ranges and stepped ranges', () => {
    expect(fireTimes(utc('10-30/10 1,3 * * *'), '2024-05-01T00:00', 4)).toEqual([
      '2024-05-01T01:10:00Z',
      '2024-05-01T01:20:00Z',
      '2024-05-01T01:30:00Z',
      '2024-05-01T03:10:00Z',
    ]);
  });

  it('month and weekday names; 0 and 7 are both Sunday', () => {
    expect(fireTimes(utc('0 12 * FEB MON-WED'), '2024-02-01T00:00', 2)).toEqual([
      '2024-02-05T12:00:00Z',
      '2024-02-06T12:00:00Z',
    ]);
    expect(fireTimes(utc('0 0 * * 7'), '2024-05-01T00:00', 1)).toEqual(
      fireTimes(utc('0 0 * * 0'), '2024-05-01', 1),
    );
  });

  it('day and dayOfWeek both restricted: either one matching fires (Vixie cron)', () => {
    expect(fireTimes(utc('0 0 13 * 5'), '2024-09-07T00:00', 3)).toEqual([
      '2024-09-13T00:00:00Z', // Friday the 13th
      '2024-09-20T00:00:00Z',
      '2024-09-27T00:00:00Z',
    ]);
  });

  it('nicknames: @yearly @annually @monthly @weekly @daily @midnight @hourly (any case)', () => {
    const from = '2024-05-15T10:30';
    expect(fireTimes(utc('@yearly'), from, 1)).toEqual(['2025-01-01T00:00:00Z']);
    expect(fireTimes(utc('@annually'), from, 1)).toEqual(['2025-01-01T00:00:00Z']);
    expect(fireTimes(utc('@monthly'), from, 1)).toEqual(['2024-06-01T00:00:00Z']);
    expect(fireTimes(utc('@weekly'), from, 1)).toEqual(['2024-05-19T00:00:00Z']);
    expect(fireTimes(utc('@daily'), from, 1)).toEqual(['2024-05-16T00:00:00Z']);
    expect(fireTimes(utc('@MIDNIGHT'), from, 1)).toEqual(['2024-05-16T00:00:00Z']);
    expect(fireTimes(utc('@hourly'), from, 2)).toEqual(['2024-05-15T11:00:00Z', '2024-05-15T12:00:00Z']);
  });

  it('L: last day of the month, and 5L the last Friday', () => {
    expect(fireTimes(utc('0 0 L * *'), '2024-02-01', 2)).toEqual([
      '2024-02-29T00:00:00Z',
      '2024-03-31T00:00:00Z',
    ]);
    expect(fireTimes(utc('0 0 * * 5L'), '2024-02-01', 1)).toEqual(['2024-02-23T00:00:00Z']);
  });

  it('W: the weekday nearest a day, within its month; LW the last weekday', () => {
    // 2024-06-15 is a Saturday (→ Friday 14th), 2024-09-15 a Sunday (→ Monday 16th).
    expect(fireTimes(utc('0 0 15W * *'), '2024-06-01', 4)).toEqual([
      '2024-06-14T00:00:00Z',
      '2024-07-15T00:00:00Z',
      '2024-08-15T00:00:00Z',
      '2024-09-16T00:00:00Z',
    ]);
    // 2024-06-01 is a Saturday: 1W is Monday the 3rd, not May 31.
    expect(fireTimes(utc('0 0 1W * *'), '2024-05-20', 1)).toEqual(['2024-06-03T00:00:00Z']);
    // 2024-08-31 is a Saturday.
    expect(fireTimes(utc('0 0 LW * *'), '2024-08-01', 1)).toEqual(['2024-08-30T00:00:00Z']);
    // 31W has no day in a 30-day month.
    expect(fireTimes(utc('0 0 31W * *'), '2024-04-01', 1)).toEqual(['2024-05-31T00:00:00Z']);
  });

  it('#: the nth weekday of the month', () => {
    expect(fireTimes(utc('0 0 * * 1#2'), '2024-07-01', 2)).toEqual([
      '2024-07-08T00:00:00Z',
      '2024-08-12T00:00:00Z',
    ]);
  });

  it('7 fields: a trailing year field restricts the years', () => {
    expect(fireTimes(utc('0 0 0 1 1 * 2026,2028-2030/2'), '2024-05-01', 5)).toEqual([
      '2026-01-01T00:00:00Z',
      '2028-01-01T00:00:00Z',
      '2030-01-01T00:00:00Z',
    ]);
    expect(utc('0 0 0 1 1 * 2020').getNextFireTime(null, new Date('2024-01-01T00:00:00Z'))).toBeNull();
  });

  it('keeps the expression with whitespace normalized', () => {
    expect(utc('  0   9 * * 1-5 ').expression).toBe('0 9 * * 1-5');
  });
});

describe('CronTrigger.fromFields (APScheduler defaulting)', () => {
  it('fields below the least significant given one take their minimum, those above are *', () => {
    expect(CronTrigger.fromFields({ hour: 3 }).expression).toBe('0 0 3 * * *');
    expect(CronTrigger.fromFields({ month: 6 }).expression).toBe('0 0 0 1 6 *');
    expect(CronTrigger.fromFields({ minute: '*/5' }).expression).toBe('0 */5 * * * *');
    expect(CronTrigger.fromFields({ day: 1, minute: 30 }).expression).toBe('0 30 * 1 * *');
    expect(CronTrigger.fromFields({ dayOfWeek: 'mon-fri', hour: 9 }).expression).toBe('0 0 9 * * mon-fri');
    expect(CronTrigger.fromFields({}).expression).toBe('* * * * * *');
  });

  it('a year becomes the 7th field and fires as the expression does', () => {
    const trigger = CronTrigger.fromFields({ year: 2027, month: 3 }, { timezone: 'UTC' });
    expect(trigger.expression).toBe('0 0 0 1 3 * 2027');
    expect(fireTimes(trigger, '2024-01-01', 2)).toEqual(['2027-03-01T00:00:00Z']);
  });
});

describe('CronTrigger, the Trigger contract (src/triggers/trigger.ts)', () => {
  const trigger = utc('0 * * * *');

  it('with previous null: the first fire time at or after now', () => {
    expect(trigger.getNextFireTime(null, new Date('2024-05-01T10:00:00Z'))?.toISOString()).toBe(
      '2024-05-01T10:00:00.000Z',
    );
    expect(trigger.getNextFireTime(null, new Date('2024-05-01T10:00:00.001Z'))?.toISOString()).toBe(
      '2024-05-01T11:00:00.000Z',
    );
  });

  it('with previous: the first fire time strictly after it, whatever now is', () => {
    const previous = new Date('2024-05-01T10:00:00Z');
    expect(trigger.getNextFireTime(previous, new Date('2030-01-01'))?.toISOString()).toBe(
      '2024-05-01T11:00:00.000Z',
    );
  });

  it('never before startAt; a string without offset is read in the trigger zone', () => {
    const bounded = new CronTrigger('0 * * * *', { timezone: 'Europe/Berlin', startAt: '2024-05-01T12:30' });
    expect(bounded.startAt?.toISOString()).toBe('2024-05-01T10:30:00.000Z');
    expect(bounded.getNextFireTime(null, new Date('2024-01-01'))?.toISOString()).toBe(
      '2024-05-01T11:00:00.000Z',
    );
  });

  it('a fire time equal to endAt fires; null after endAt', () => {
    const bounded = new CronTrigger('0 * * * *', { timezone: 'UTC', endAt: '2024-05-01T12:00:00Z' });
    const last = bounded.getNextFireTime(new Date('2024-05-01T11:00:00Z'), new Date(0));
    expect(last?.toISOString()).toBe('2024-05-01T12:00:00.000Z');
    expect(bounded.getNextFireTime(last, new Date(0))).toBeNull();
  });

  it('without a timezone, reads the system zone', () => {
    const local = new CronTrigger('30 8 * * *');
    const explicit = new CronTrigger('30 8 * * *', { timezone: systemTimezone() });
    const now = new Date('2024-05-01T00:00:00Z');
    expect(local.timezone).toBeUndefined();
    expect(local.getNextFireTime(null, now)).toEqual(explicit.getNextFireTime(null, now));
  });
});

describe('CronTrigger jitter', () => {
  it('adds a random delay in [0, jitter], spread over the range', () => {
    const trigger = new CronTrigger('* * * * *', { timezone: 'UTC', jitter: { seconds: 10 } });
    const base = Date.parse('2024-05-01T10:00:00Z');
    const delays = Array.from(
      { length: 2000 },
      () => (trigger.getNextFireTime(null, new Date(base))?.getTime() ?? Number.NaN) - base,
    );
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...delays)).toBeLessThanOrEqual(10_000);
    const mean = delays.reduce((sum, delay) => sum + delay, 0) / delays.length;
    expect(mean).toBeGreaterThan(4000);
    expect(mean).toBeLessThan(6000);
    expect(Math.min(...delays)).toBeLessThan(1000);
    expect(Math.max(...delays)).toBeGreaterThan(9000);
  });

  it('does not drift: the next fire time follows the cron time after the jittered previous one', () => {
    const trigger = new CronTrigger('* * * * *', { timezone: 'UTC', jitter: 'PT10S' });
    let previous = new Date('2024-05-01T10:00:07Z'); // 10:00 jittered by 7 s
    for (let minute = 1; minute <= 50; minute++) {
      const next = trigger.getNextFireTime(previous, previous) as Date;
      const slot = Date.parse('2024-05-01T10:00:00Z') + minute * 60_000;
      expect(next.getTime()).toBeGreaterThanOrEqual(slot);
      expect(next.getTime()).toBeLessThanOrEqual(slot + 10_000);
      previous = next;
    }
  });
});

describe('CronTrigger serialization', () => {
  it('toJSON gives { type, expression, startAt?, endAt?, timezone?, jitter? } and fromJSON rebuilds it', () => {
    const trigger = new CronTrigger('0 9 * * 1-5', {
      timezone: 'Europe/Berlin',
      startAt: '2024-05-01T00:00',
      endAt: new Date('2025-01-01T00:00:00Z'),
      jitter: 'PT30S',
    });
    const spec = trigger.toJSON();
    expect(spec).toEqual({
      type: 'cron',
      expression: '0 9 * * 1-5',
      startAt: '2024-04-30T22:00:00.000Z',
      endAt: '2025-01-01T00:00:00.000Z',
      timezone: 'Europe/Berlin',
      jitter: 30_000,
    });
    const rebuilt = CronTrigger.fromJSON(JSON.parse(JSON.stringify(spec)));
    expect(rebuilt.toJSON()).toEqual(spec);
    expect(CronTrigger.fromJSON({ type: 'cron', expression: '@daily' }).toJSON()).toEqual({
      type: 'cron',
      expression: '@daily',
    });
  });

  it('withDefaultTimezone fills in a missing zone (re-reading zone-less strings) and keeps a given one', () => {
    const zoneless = new CronTrigger('0 9 * * *', { startAt: '2024-05-01T00:00' });
    const tokyo = zoneless.withDefaultTimezone('Asia/Tokyo');
    expect(tokyo.timezone).toBe('Asia/Tokyo');
    expect(tokyo.startAt?.toISOString()).toBe('2024-04-30T15:00:00.000Z');
    const berlin = new CronTrigger('0 9 * * *', { timezone: 'Europe/Berlin' });
    expect(berlin.withDefaultTimezone('Asia/Tokyo')).toBe(berlin);
  });
});

describe('CronTrigger errors: ValueError naming the bad part', () => {
  it('bad expression shapes', () => {
    expectValueError(() => utc(''), 'empty');
    expectValueError(() => utc('* * *'), '"* * *"', '3 fields');
    expectValueError(() => utc('* * * * * * * *'), '8 fields');
    expectValueError(() => utc('@reboot'), '"@reboot"');
    expectValueError(() => new CronTrigger(42 as unknown as string), 'expression', '42');
  });

  it('bad field values name the field and the value', () => {
    expectValueError(() => utc('61 * * * *'), 'minute', '"61"');
    expectValueError(() => utc('* 24 * * *'), 'hour', '"24"');
    expectValueError(() => utc('* * 32 * *'), 'day', '"32"');
    expectValueError(() => utc('* * * 13 *'), 'month', '"13"');
    expectValueError(() => utc('* * * FOO *'), 'month', '"FOO"');
    expectValueError(() => utc('* * * * 8'), 'dayOfWeek', '"8"');
    expectValueError(() => utc('60 * * * * *'), 'second', '"60"');
    expectValueError(() => utc('*/0 * * * *'), 'minute', '"*/0"');
    expectValueError(() => utc('H * * * *'), 'minute', '"H"');
  });

  it('bad W, year and impossible dates', () => {
    expectValueError(() => utc('0 0 1W,15W * *'), 'day', '"1W,15W"');
    expectValueError(() => utc('0 0 32W * *'), 'day', '"32W"');
    expectValueError(() => utc('0 0 15W * 1'), 'dayOfWeek', '"1"');
    expectValueError(() => utc('0 0 0 1 1 * 1800'), 'year', '"1800"');
    expectValueError(() => utc('0 0 0 1 1 * 2030-2020'), 'year', '"2030-2020"');
    expectValueError(() => utc('0 0 0 1 1 * soon'), 'year', '"soon"');
    expectValueError(() => utc('0 0 30 2 *'), '"0 0 30 2 *"');
    expectValueError(() => utc('0 0 31 4,6 *'), '"0 0 31 4,6 *"');
    expectValueError(() => utc('0 0 31W 2 *'), '"0 0 31W 2 *"');
  });

  it('bad fromFields input names the field', () => {
    expectValueError(() => CronTrigger.fromFields({ hour: 25 }), 'hour', '"25"');
    expectValueError(() => CronTrigger.fromFields({ minute: -1 }), 'minute', '-1');
    expectValueError(() => CronTrigger.fromFields({ minute: '1 2' }), 'minute', '"1 2"');
    expectValueError(() => CronTrigger.fromFields({ hours: 3 } as never), 'unknown field', '"hours"');
  });

  it('bad options name the option and the value', () => {
    expectValueError(
      () => new CronTrigger('* * * * *', { timezone: 'Mars/Olympus' }),
      'timezone',
      'Mars/Olympus',
    );
    expectValueError(() => new CronTrigger('* * * * *', { jitter: -5 }), 'jitter', '-5');
    expectValueError(() => new CronTrigger('* * * * *', { startAt: 'soon' }), 'startAt', '"soon"');
    expectValueError(
      () => new CronTrigger('* * * * *', { startAt: '2024-05-02T00:00:00Z', endAt: '2024-05-01T00:00:00Z' }),
      'endAt 2024-05-01T00:00:00.000Z is before startAt 2024-05-02T00:00:00.000Z',
    );
    expectValueError(() => CronTrigger.fromJSON({ type: 'interval' } as never), 'not a cron trigger spec');
  });
});

describe('CronTrigger across DST (API.md rule), America/New_York and Europe/Berlin', () => {
  const newYork = (expression: string) => new CronTrigger(expression, { timezone: 'America/New_York' });
  const berlin = (expression: string) => new CronTrigger(expression, { timezone: 'Europe/Berlin' });

  it('30 2 * * *: skipped 02:30 fires once at 03:30 (New York spring); nothing repeats in the fall', () => {
    expect(fireTimes(newYork('30 2 * * *'), '2024-03-09T00:00', 3)).toEqual([
      '2024-03-09T02:30:00-05:00',
      '2024-03-10T03:30:00-04:00',
      '2024-03-11T02:30:00-04:00',
    ]);
    expect(fireTimes(newYork('30 2 * * *'), '2024-11-02T00:00', 3)).toEqual([
      '2024-11-02T02:30:00-04:00',
      '2024-11-03T02:30:00-05:00',
      '2024-11-04T02:30:00-05:00',
    ]);
  });

  it('30 2 * * *: Berlin, skipped in spring (→ 03:30 CEST), first occurrence only in the fall', () => {
    expect(fireTimes(berlin('30 2 * * *'), '2024-03-30T00:00', 3)).toEqual([
      '2024-03-30T02:30:00+01:00',
      '2024-03-31T03:30:00+02:00',
      '2024-04-01T02:30:00+02:00',
    ]);
    expect(fireTimes(berlin('30 2 * * *'), '2024-10-26T00:00', 3)).toEqual([
      '2024-10-26T02:30:00+02:00',
      '2024-10-27T02:30:00+02:00',
      '2024-10-28T02:30:00+01:00',
    ]);
  });

  it('30 1 * * *: the repeated 01:30 fires once, at its first occurrence (New York fall)', () => {
    expect(fireTimes(newYork('30 1 * * *'), '2024-11-02T00:00', 3)).toEqual([
      '2024-11-02T01:30:00-04:00',
      '2024-11-03T01:30:00-04:00',
      '2024-11-04T01:30:00-05:00',
    ]);
    expect(fireTimes(newYork('30 1 * * *'), '2024-03-09T00:00', 3)).toEqual([
      '2024-03-09T01:30:00-05:00',
      '2024-03-10T01:30:00-05:00',
      '2024-03-11T01:30:00-04:00',
    ]);
    expect(fireTimes(berlin('30 1 * * *'), '2024-10-26T00:00', 2)).toEqual([
      '2024-10-26T01:30:00+02:00',
      '2024-10-27T01:30:00+02:00',
    ]);
  });

  it('0 9-17 * * 1-5: office hours keep their wall clock across both changes', () => {
    expect(fireTimes(newYork('0 9-17 * * 1-5'), '2024-03-08T17:00', 2)).toEqual([
      '2024-03-08T17:00:00-05:00',
      '2024-03-11T09:00:00-04:00',
    ]);
    expect(fireTimes(newYork('0 9-17 * * 1-5'), '2024-11-01T17:00', 2)).toEqual([
      '2024-11-01T17:00:00-04:00',
      '2024-11-04T09:00:00-05:00',
    ]);
    expect(fireTimes(berlin('0 9-17 * * 1-5'), '2024-03-29T17:00', 2)).toEqual([
      '2024-03-29T17:00:00+01:00',
      '2024-04-01T09:00:00+02:00',
    ]);
    expect(fireTimes(berlin('0 9-17 * * 1-5'), '2024-10-25T17:00', 2)).toEqual([
      '2024-10-25T17:00:00+02:00',
      '2024-10-28T09:00:00+01:00',
    ]);
  });

  it('*/15 * * * *: every 15 real minutes through a fall-back, in both occurrences', () => {
    expect(fireTimes(newYork('*/15 * * * *'), '2024-11-03T01:30-04:00', 7)).toEqual([
      '2024-11-03T01:30:00-04:00',
      '2024-11-03T01:45:00-04:00',
      '2024-11-03T01:00:00-05:00',
      '2024-11-03T01:15:00-05:00',
      '2024-11-03T01:30:00-05:00',
      '2024-11-03T01:45:00-05:00',
      '2024-11-03T02:00:00-05:00',
    ]);
    expect(fireTimes(berlin('*/15 * * * *'), '2024-10-27T02:30+02:00', 6)).toEqual([
      '2024-10-27T02:30:00+02:00',
      '2024-10-27T02:45:00+02:00',
      '2024-10-27T02:00:00+01:00',
      '2024-10-27T02:15:00+01:00',
      '2024-10-27T02:30:00+01:00',
      '2024-10-27T02:45:00+01:00',
    ]);
  });

  it('*/15 * * * *: through a spring-forward the skipped times land on real ones, fired once', () => {
    expect(fireTimes(newYork('*/15 * * * *'), '2024-03-10T01:30', 4)).toEqual([
      '2024-03-10T01:30:00-05:00',
      '2024-03-10T01:45:00-05:00',
      '2024-03-10T03:00:00-04:00',
      '2024-03-10T03:15:00-04:00',
    ]);
    expect(fireTimes(berlin('*/15 * * * *'), '2024-03-31T01:45', 3)).toEqual([
      '2024-03-31T01:45:00+01:00',
      '2024-03-31T03:00:00+02:00',
      '2024-03-31T03:15:00+02:00',
    ]);
  });

  it('0 * * * *: hourly through both changes (the repeated hour fires twice, the skipped one once)', () => {
    expect(fireTimes(newYork('0 * * * *'), '2024-11-03T00:00', 4)).toEqual([
      '2024-11-03T00:00:00-04:00',
      '2024-11-03T01:00:00-04:00',
      '2024-11-03T01:00:00-05:00',
      '2024-11-03T02:00:00-05:00',
    ]);
    expect(fireTimes(newYork('0 * * * *'), '2024-03-10T00:00', 3)).toEqual([
      '2024-03-10T00:00:00-05:00',
      '2024-03-10T01:00:00-05:00',
      '2024-03-10T03:00:00-04:00',
    ]);
    expect(fireTimes(berlin('0 * * * *'), '2024-10-27T01:00', 4)).toEqual([
      '2024-10-27T01:00:00+02:00',
      '2024-10-27T02:00:00+02:00',
      '2024-10-27T02:00:00+01:00',
      '2024-10-27T03:00:00+01:00',
    ]);
    expect(fireTimes(berlin('0 * * * *'), '2024-03-31T01:00', 2)).toEqual([
      '2024-03-31T01:00:00+01:00',
      '2024-03-31T03:00:00+02:00',
    ]);
  });

  it('* * * * * *: steps one real second at a time through every change, fast', () => {
    const starts = [
      ['America/New_York', '2024-03-10T06:50:00Z'],
      ['America/New_York', '2024-11-03T05:50:00Z'],
      ['Europe/Berlin', '2024-03-31T00:50:00Z'],
      ['Europe/Berlin', '2024-10-27T00:50:00Z'],
    ] as const;
    const started = performance.now();
    for (const [zone, start] of starts) {
      const trigger = new CronTrigger('* * * * * *', { timezone: zone });
      let previous = trigger.getNextFireTime(null, new Date(start)) as Date;
      expect(previous.toISOString()).toBe(new Date(start).toISOString());
      for (let step = 0; step < 1500; step++) {
        const next = trigger.getNextFireTime(previous, previous) as Date;
        expect(next.getTime() - previous.getTime()).toBe(1000);
        previous = next;
      }
    }
    // 6000 steps: microseconds each, not a scan of hours (generous bound for a loaded machine).
    expect(performance.now() - started).toBeLessThan(3000);
  });
});

describe('CronTrigger far years, leap days and sparse days (expectations from luxon and cron-parser)', () => {
  const zones = ['UTC', 'Europe/Berlin', 'America/New_York', 'Pacific/Kiritimati', 'Asia/Kathmandu'];
  /** The instant of a wall-clock time in a zone, computed by luxon (independent of src/wallclock.ts). */
  const luxonInstant = (zone: string, year: number, month: number, day: number, hour = 0) =>
    DateTime.fromObject({ year, month, day, hour }, { zone }).toJSDate();
  const from = new Date('2026-01-01T00:00:00Z');

  it('a year field jumps to its year: 0 0 0 29 2 * 9996 and 0 0 0 1 1 * 9999', () => {
    for (const zone of zones) {
      const leap = new CronTrigger('0 0 0 29 2 * 9996', { timezone: zone });
      const first = leap.getNextFireTime(null, from);
      expect(first, zone).toEqual(luxonInstant(zone, 9996, 2, 29));
      expect(leap.getNextFireTime(first, first as Date), zone).toBeNull();
      const lastYear = new CronTrigger('0 0 0 1 1 * 9999', { timezone: zone });
      expect(lastYear.getNextFireTime(null, from), zone).toEqual(luxonInstant(zone, 9999, 1, 1));
    }
  });

  it('a list of a near and a far year fires in both, then never', () => {
    const trigger = new CronTrigger('0 0 12 29 2 * 2028,9996', { timezone: 'Europe/Berlin' });
    const times = [trigger.getNextFireTime(null, from)];
    times.push(trigger.getNextFireTime(times[0] as Date, times[0] as Date));
    times.push(trigger.getNextFireTime(times[1] as Date, times[1] as Date));
    expect(times).toEqual([
      luxonInstant('Europe/Berlin', 2028, 2, 29, 12),
      luxonInstant('Europe/Berlin', 9996, 2, 29, 12),
      null,
    ]);
  });

  it('a leap day fires on every Feb 29 (2100 is no leap year), each from the one before', () => {
    for (const zone of zones) {
      const trigger = new CronTrigger('0 6 29 2 *', { timezone: zone });
      let previous = trigger.getNextFireTime(null, new Date('2090-01-01T00:00:00Z'));
      const years: number[] = [];
      while (previous !== null && years.length < 5) {
        expect(previous, zone).toEqual(luxonInstant(zone, previous.getUTCFullYear(), 2, 29, 6));
        years.push(DateTime.fromJSDate(previous, { zone }).year);
        previous = trigger.getNextFireTime(previous, previous);
      }
      expect(years, zone).toEqual([2092, 2096, 2104, 2108, 2112]);
    }
  });

  it('nothing after the end of year 9999 (no fire time in year 10000)', () => {
    const everySecond = new CronTrigger('* * * * * *', { timezone: 'UTC' });
    expect(everySecond.getNextFireTime(new Date('9999-12-31T23:59:59Z'), from)).toBeNull();
    const yearly = new CronTrigger('0 0 1 1 *', { timezone: 'Pacific/Honolulu' });
    expect(yearly.getNextFireTime(null, new Date('9999-06-01T00:00:00Z'))).toBeNull();
  });

  it('sparse month and day fields match cron-parser’s own iteration, from many starting points', () => {
    const expressions = [
      '0 0 29 2 *',
      '0 12 L 2 *',
      '30 6 31 * *',
      '0 0 1,15 1,7 *',
      '*/30 22-23 30,L 2,4 *',
      '0 0 ? 2 *',
      '15 10 L * *',
      '0 0 29 2 1',
      '59 59 23 31 12 *',
      '0 0 0 1-3 JUN,DEC *',
    ];
    const starts = [
      '2024-02-29T00:00:00Z',
      '2024-02-29T23:59:59Z',
      '2025-07-01T12:34:56.789Z',
      '2027-12-31T23:59:59.500Z',
    ];
    for (const expression of expressions) {
      const ours = new CronTrigger(expression, { timezone: 'UTC' });
      const theirs = CronExpressionParser.parse(expression, { tz: 'UTC', currentDate: 0 });
      for (const start of starts) {
        theirs.reset(new Date(Date.parse(start) - 1));
        const expected = Array.from({ length: 12 }, () => theirs.next().toDate().toISOString());
        const actual: string[] = [];
        let previous: Date | null = null;
        for (let i = 0; i < 12; i++) {
          previous = ours.getNextFireTime(previous, new Date(start));
          actual.push((previous as Date).toISOString());
        }
        expect(actual, `${expression} from ${start}`).toEqual(expected);
      }
    }
  });
});

describe('CronTrigger, issue #18 regressions (each failed before the cron engine of src/triggers/cron-engine.ts)', () => {
  it('a step on a year applies as on any field: 2025/2 is 2025, 2027, 2029, ...', () => {
    const trigger = utc('0 0 0 1 1 * 2025/2');
    expect(fireTimes(trigger, '2025-06-16', 3)).toEqual([
      '2027-01-01T00:00:00Z',
      '2029-01-01T00:00:00Z',
      '2031-01-01T00:00:00Z',
    ]);
    expect(fireTimes(utc('0 0 12 29 2 * 2024/4'), '2024-01-01', 3)).toEqual([
      '2024-02-29T12:00:00Z',
      '2028-02-29T12:00:00Z',
      '2032-02-29T12:00:00Z',
    ]);
    expect(fireTimes(utc('0 0 0 1 1 * 9990/5'), '2025-01-01', 3)).toEqual([
      '9990-01-01T00:00:00Z',
      '9995-01-01T00:00:00Z',
    ]);
  });

  it('lists whose items overlap are accepted, as Vixie cron does (8-18/2,12; 0,7)', () => {
    // 2025-06-16 is a Monday.
    expect(fireTimes(utc('0 8-18/2,12 * * 1-5'), '2025-06-16', 7)).toEqual([
      '2025-06-16T08:00:00Z',
      '2025-06-16T10:00:00Z',
      '2025-06-16T12:00:00Z',
      '2025-06-16T14:00:00Z',
      '2025-06-16T16:00:00Z',
      '2025-06-16T18:00:00Z',
      '2025-06-17T08:00:00Z',
    ]);
    expect(fireTimes(utc('0 0 * * 0,7'), '2025-06-16', 2)).toEqual([
      '2025-06-22T00:00:00Z',
      '2025-06-29T00:00:00Z',
    ]);
    expect(fireTimes(utc('0,0,30 */20,10-20/10 * * *'), '2025-06-16T00:05', 4)).toEqual([
      '2025-06-16T00:30:00Z',
      '2025-06-16T10:00:00Z',
      '2025-06-16T10:30:00Z',
      '2025-06-16T20:00:00Z',
    ]);
    expect(fireTimes(utc('0 0 1,1-3,L,L * *'), '2025-06-02', 3)).toEqual([
      '2025-06-02T00:00:00Z',
      '2025-06-03T00:00:00Z',
      '2025-06-30T00:00:00Z',
    ]);
  });

  it('a bad item in an overlapping list is still a ValueError naming its field', () => {
    expectValueError(() => utc('0 8-18/2,12,25 * * *'), 'hour', '"8-18/2,12,25"');
    expectValueError(() => utc('0 8 * * 0,7,9'), 'dayOfWeek', '"0,7,9"');
    expectValueError(() => utc('0 8 * * 1,1,x'), 'dayOfWeek', '"1,1,x"');
  });

  it('a weekday range may end on SUN (7): MON-SUN, fri-sun, 5-7', () => {
    const everyDay = fireTimes(utc('0 9 * * MON-SUN'), '2025-06-16', 7);
    expect(everyDay).toEqual(fireTimes(utc('0 9 * * *'), '2025-06-16', 7));
    const weekend = [
      '2025-06-20T00:00:00Z',
      '2025-06-21T00:00:00Z',
      '2025-06-22T00:00:00Z',
      '2025-06-27T00:00:00Z',
    ];
    expect(
      fireTimes(CronTrigger.fromFields({ dayOfWeek: 'fri-sun' }, { timezone: 'UTC' }), '2025-06-16', 4),
    ).toEqual(weekend);
    expect(fireTimes(utc('0 0 * * 5-7'), '2025-06-16', 4)).toEqual(weekend);
    expect(fireTimes(utc('0 0 * * sat-sun/1'), '2025-06-16', 2)).toEqual(weekend.slice(1, 3));
    // SUN-SUN is Sunday alone, not the whole week.
    expect(fireTimes(utc('0 0 * * SUN-SUN'), '2025-06-16', 2)).toEqual([
      '2025-06-22T00:00:00Z',
      '2025-06-29T00:00:00Z',
    ]);
  });

  it('lowercase l is L, in the day and dayOfWeek fields', () => {
    expect(fireTimes(utc('0 0 l * *'), '2025-02-01', 2)).toEqual([
      '2025-02-28T00:00:00Z',
      '2025-03-31T00:00:00Z',
    ]);
    // The last Friday of June and July 2025.
    expect(fireTimes(utc('0 0 * * fril'), '2025-06-16', 2)).toEqual([
      '2025-06-27T00:00:00Z',
      '2025-07-25T00:00:00Z',
    ]);
    expect(fireTimes(utc('0 0 * * 5l'), '2025-06-16', 1)).toEqual(['2025-06-27T00:00:00Z']);
    expect(fireTimes(utc('0 0 lw * *'), '2025-08-01', 1)).toEqual(['2025-08-29T00:00:00Z']);
  });

  it('a far year answers at once, and so does an exhausted year list', () => {
    const trigger = new CronTrigger('0 0 0 1 1 * 9999', { timezone: 'America/New_York' });
    const started = performance.now();
    const first = trigger.getNextFireTime(null, new Date('2025-06-16T00:00:00Z'));
    expect(first?.toISOString()).toBe('9999-01-01T05:00:00.000Z');
    expect(trigger.getNextFireTime(first, first as Date)).toBeNull();
    expect(utc('0 0 0 29 2 * 2025-2027').getNextFireTime(null, new Date('2025-01-01'))).toBeNull();
    expect(utc('0 0 0 29 2 * */4').getNextFireTime(null, new Date('2025-01-01'))).toBeNull(); // 1970, 1974, ...: none leap
    // A loose bound on a loaded machine: the old search took seconds for shapes like these.
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('triggers with the same expression share one parsed pattern, and rebuild from JSON to the same fire times', () => {
    const spec = new CronTrigger('15 4 1 * *', {
      timezone: 'America/New_York',
      startAt: '2025-01-01',
    }).toJSON();
    const a = CronTrigger.fromJSON(spec);
    const b = CronTrigger.fromJSON(JSON.parse(JSON.stringify(spec)));
    expect(fireTimes(a, '2025-01-01', 3)).toEqual([
      '2025-01-01T04:15:00-05:00',
      '2025-02-01T04:15:00-05:00',
      '2025-03-01T04:15:00-05:00',
    ]);
    expect(fireTimes(b, '2025-01-01', 3)).toEqual(fireTimes(a, '2025-01-01', 3));
  });
});
