/**
 * Cron vectors ported from APScheduler 4 (tests/triggers/test_cron.py) and croner (test/pattern,
 * timezone, ocps-1.2 and ocps-1.3 tests): the facts only (expression, zone, start, expected fire
 * times), each re-derived by hand from the calendar and the zone's rules (weekdays and offsets were
 * checked with `Intl`, not with kairos). Where kairos' documented rules differ from the source library
 * (API.md: Vixie's OR of day and weekday, skipped wall times shifted forward, every repeated instant
 * fires when the hour is `*`), the vector says so and expects what API.md says.
 *
 * Expected times are local ISO strings with the zone's offset, as `fireTimes` prints them.
 */
import { describe, expect, it } from 'vitest';
import { CronTrigger, type CronTriggerOptions } from '../../src/triggers/cron.js';
import { fireTimes } from '../support/triggers.js';

/** One vector: a trigger, where to start (local ISO in its zone), and the fire times that follow. */
interface Vector {
  name: string;
  trigger: () => CronTrigger;
  from: string;
  expected: string[];
  /** The expected times are all there are: no fire time follows them. */
  complete?: boolean;
}

/** Checks a vector: its first fire times, and none after them when it is complete. */
function checkVector({ trigger, from, expected, complete }: Vector): void {
  expect(fireTimes(trigger(), from, expected.length + (complete === true ? 1 : 0))).toEqual(expected);
}

const BERLIN: CronTriggerOptions = { timezone: 'Europe/Berlin' };
const UTC: CronTriggerOptions = { timezone: 'UTC' };

/** APScheduler's `timezone` fixture is Europe/Berlin; `day_of_week` counts from Sunday = 0 there too. */
const APSCHEDULER: Vector[] = [
  {
    name: 'test_cron_trigger_1: year 2009/2, month 1-4/3, day 5-6',
    trigger: () => CronTrigger.fromFields({ year: '2009/2', month: '1-4/3', day: '5-6' }, BERLIN),
    from: '2008-12-01T00:00',
    expected: [
      '2009-01-05T00:00:00+01:00',
      '2009-01-06T00:00:00+01:00',
      '2009-04-05T00:00:00+02:00',
      '2009-04-06T00:00:00+02:00',
      '2011-01-05T00:00:00+01:00',
    ],
  },
  {
    name: 'test_cron_trigger_2: year 2009/2, month 1-3, day 5',
    trigger: () => CronTrigger.fromFields({ year: '2009/2', month: '1-3', day: 5 }, BERLIN),
    from: '2009-10-14T00:00',
    expected: [
      '2011-01-05T00:00:00+01:00',
      '2011-02-05T00:00:00+01:00',
      '2011-03-05T00:00:00+01:00',
      '2013-01-05T00:00:00+01:00',
    ],
  },
  {
    name: 'test_cron_trigger_3: year 2009, month feb-dec, hour 8-9',
    trigger: () => CronTrigger.fromFields({ year: 2009, month: 'feb-dec', hour: '8-9' }, BERLIN),
    from: '2009-01-01T00:00',
    expected: ['2009-02-01T08:00:00+01:00', '2009-02-01T09:00:00+01:00', '2009-02-02T08:00:00+01:00'],
  },
  {
    name: "test_cron_trigger_4: year 2012, month 2, day 'last' (L)",
    trigger: () => CronTrigger.fromFields({ year: 2012, month: 2, day: 'L' }, BERLIN),
    from: '2012-02-01T00:00',
    expected: ['2012-02-29T00:00:00+01:00'],
    complete: true,
  },
  {
    name: "test_last_weekday: year 2020, day 'last sun' (0L)",
    trigger: () => CronTrigger.fromFields({ year: 2020, dayOfWeek: '0L' }, BERLIN),
    from: '2020-01-01T00:00',
    expected: ['2020-01-26T00:00:00+01:00', '2020-02-23T00:00:00+01:00', '2020-03-29T00:00:00+01:00'],
  },
  {
    name: 'test_increment_weekday: hour 5-6 from 07:00',
    trigger: () => CronTrigger.fromFields({ hour: '5-6' }, BERLIN),
    from: '2009-09-25T07:00',
    expected: ['2009-09-26T05:00:00+02:00'],
  },
  {
    name: 'test_month_rollover: day 30 from February',
    trigger: () => CronTrigger.fromFields({ day: 30 }, BERLIN),
    from: '2016-02-01T00:00',
    expected: ['2016-03-30T00:00:00+02:00', '2016-04-30T00:00:00+02:00'],
  },
  {
    name: "test_weekday_positional: year 2009, month 1, day '4th wed' (3#4)",
    trigger: () => CronTrigger.fromFields({ year: 2009, month: 1, dayOfWeek: '3#4' }, BERLIN),
    from: '2009-01-01T00:00',
    expected: ['2009-01-28T00:00:00+01:00'],
    complete: true,
  },
  {
    name: 'test_end_time: hour 4, start 02:00, end 04:00 (inclusive)',
    trigger: () =>
      CronTrigger.fromFields(
        { hour: 4 },
        { ...BERLIN, startAt: '2014-04-13T02:00', endAt: '2014-04-13T04:00' },
      ),
    from: '2014-04-13T00:00',
    expected: ['2014-04-13T04:00:00+02:00'],
    complete: true,
  },
  {
    name: 'test_year_list: year 2009,2008 (then nothing)',
    trigger: () => CronTrigger.fromFields({ year: '2009,2008' }, BERLIN),
    from: '2009-01-01T00:00',
    expected: ['2009-01-01T00:00:00+01:00'],
    complete: true,
  },
  {
    name: 'test_dst_change absolute_spring: hour 8 across the US spring-forward',
    trigger: () => CronTrigger.fromFields({ hour: 8 }, { timezone: 'America/New_York' }),
    from: '2013-03-09T12:00',
    expected: ['2013-03-10T08:00:00-04:00'],
  },
  {
    name: 'test_dst_change absolute_autumn: hour 8 across the US fall-back',
    trigger: () => CronTrigger.fromFields({ hour: 8 }, { timezone: 'America/New_York' }),
    from: '2013-11-02T12:00',
    expected: ['2013-11-03T08:00:00-05:00'],
  },
  {
    // APScheduler skips the day (next 2013-03-11 02:00); API.md shifts the skipped 02:00 by the gap.
    name: 'test_dst_change spring_skip_hour: hour 2 on the spring-forward day (kairos: shifted to 03:00)',
    trigger: () => CronTrigger.fromFields({ hour: 2 }, { timezone: 'America/New_York' }),
    from: '2013-03-09T20:00',
    expected: ['2013-03-10T03:00:00-04:00', '2013-03-11T02:00:00-04:00'],
  },
  {
    name: 'test_dst_change interval_spring: minute */30 from 01:35 EST',
    trigger: () => CronTrigger.fromFields({ minute: '*/30' }, { timezone: 'America/New_York' }),
    from: '2013-03-10T01:35',
    expected: ['2013-03-10T03:00:00-04:00', '2013-03-10T03:30:00-04:00'],
  },
  {
    name: 'test_dst_change interval_autumn: minute */30 from 01:35 EDT (fold 0) → 01:00 EST (fold 1)',
    trigger: () => CronTrigger.fromFields({ minute: '*/30' }, { timezone: 'America/New_York' }),
    from: '2013-11-03T01:35-04:00',
    expected: ['2013-11-03T01:00:00-05:00', '2013-11-03T01:30:00-05:00', '2013-11-03T02:00:00-05:00'],
  },
  {
    name: 'test_dst_change2 dst_change_0: minute 0 through the Berlin fall-back, both 02:00',
    trigger: () => CronTrigger.fromFields({ minute: 0 }, BERLIN),
    from: '2024-10-27T02:00+02:00',
    expected: ['2024-10-27T02:00:00+02:00', '2024-10-27T02:00:00+01:00', '2024-10-27T03:00:00+01:00'],
  },
  {
    name: 'test_dst_change2 dst_change_1: minute 1 through the Berlin fall-back, both 02:01',
    trigger: () => CronTrigger.fromFields({ minute: 1 }, BERLIN),
    from: '2024-10-27T02:01+02:00',
    expected: ['2024-10-27T02:01:00+02:00', '2024-10-27T02:01:00+01:00', '2024-10-27T03:01:00+01:00'],
  },
  {
    name: 'test_dst_partial_gap half_hour_gap: 02:30 exists on Lord Howe’s 02:00 → 02:30 day',
    trigger: () =>
      CronTrigger.fromFields({ hour: 2, minute: 30, second: 0 }, { timezone: 'Australia/Lord_Howe' }),
    from: '2024-10-05T00:00',
    expected: ['2024-10-05T02:30:00+10:30', '2024-10-06T02:30:00+11:00', '2024-10-07T02:30:00+11:00'],
  },
  {
    // Troll jumps 01:00 → 03:00 (+00 → +02) on 2024-03-31. APScheduler fires once that day (03:00:59);
    // API.md shifts each skipped time by the gap: 01:00:59 → 03:00:59 (also a real fire time: once),
    // and 02:00:59 → 04:00:59.
    name: 'test_dst_partial_gap two_hour_gap: hour 1-3, second 59 on Antarctica/Troll (kairos: +04:00:59)',
    trigger: () =>
      CronTrigger.fromFields({ hour: '1-3', minute: 0, second: 59 }, { timezone: 'Antarctica/Troll' }),
    from: '2024-03-30T03:00',
    expected: [
      '2024-03-30T03:00:59+00:00',
      '2024-03-31T03:00:59+02:00',
      '2024-03-31T04:00:59+02:00',
      '2024-04-01T01:00:59+02:00',
    ],
  },
  {
    name: 'test_aware_start_time_timezone_conversion: hour 11, minute */5 in New York from 10:16 Chicago',
    trigger: () =>
      CronTrigger.fromFields(
        { hour: 11, minute: '*/5' },
        { timezone: 'America/New_York', startAt: '2009-09-26T10:16-05:00' },
      ),
    from: '2009-09-26T00:00',
    expected: ['2009-09-26T11:20:00-04:00'],
  },
  {
    name: 'test_from_crontab: 0-14 * 14-28 jul fri (Vixie OR: the 14th..28th or a Friday, in July)',
    trigger: () => new CronTrigger('0-14 * 14-28 jul fri', BERLIN),
    from: '2020-07-01T00:00',
    // 2020-07-03 is a Friday, before the 14th: OR lets it fire (APScheduler's AND would not).
    expected: ['2020-07-03T00:00:00+02:00', '2020-07-03T00:01:00+02:00'],
  },
];

const CRONER: Vector[] = [
  {
    name: 'pattern: 0 0 0 L 2 * from 2022-02-04 → Feb 28 2022',
    trigger: () => new CronTrigger('0 0 0 L 2 *', UTC),
    from: '2022-02-04T12:00',
    expected: ['2022-02-28T00:00:00Z'],
  },
  {
    name: 'pattern: 0 0 0 L 2 * from 2023-12-30 → Feb 29 2024',
    trigger: () => new CronTrigger('0 0 0 L 2 *', UTC),
    from: '2023-12-30T00:00',
    expected: ['2024-02-29T00:00:00Z', '2025-02-28T00:00:00Z'],
  },
  {
    name: 'pattern: SUN#L (0L) in February 2024 → 25th',
    trigger: () => new CronTrigger('0 0 0 * 2 0L', UTC),
    from: '2023-12-30T00:00',
    expected: ['2024-02-25T00:00:00Z'],
  },
  {
    name: 'pattern: THU#L (4L) in February 2024 → 29th',
    trigger: () => new CronTrigger('0 0 0 * 2 4L', UTC),
    from: '2023-12-30T00:00',
    expected: ['2024-02-29T00:00:00Z'],
  },
  {
    name: 'pattern: FRI#L (fril) in February 2024 → 23rd',
    trigger: () => new CronTrigger('0 0 0 * 2 fril', UTC),
    from: '2023-12-30T00:00',
    expected: ['2024-02-23T00:00:00Z'],
  },
  {
    name: 'pattern: THU-FRI#L (4L,5L) in February 2024 → 23rd, then 29th',
    trigger: () => new CronTrigger('0 0 0 * 2 4L,5L', UTC),
    from: '2023-12-30T00:00',
    expected: ['2024-02-23T00:00:00Z', '2024-02-29T00:00:00Z'],
  },
  {
    // croner's SAT-SUN#L,SUN#1 also names the first Sunday; cron-parser allows no `#` in a list.
    name: 'pattern: SAT-SUN#L (6L,0L) from 2023-08-09 (without croner’s SUN#1 item)',
    trigger: () => new CronTrigger('0 0 0 * * 6L,0L', UTC),
    from: '2023-08-09T23:16',
    expected: [
      '2023-08-26T00:00:00Z',
      '2023-08-27T00:00:00Z',
      '2023-09-24T00:00:00Z',
      '2023-09-30T00:00:00Z',
    ],
  },
  {
    name: 'pattern: 15W in July 2025 (a Tuesday) → 15th',
    trigger: () => new CronTrigger('0 0 0 15W 7 *', UTC),
    from: '2025-07-01T00:00',
    expected: ['2025-07-15T00:00:00Z'],
  },
  {
    name: 'pattern: 19W in July 2025 (a Saturday) → Friday 18th',
    trigger: () => new CronTrigger('0 0 0 19W 7 *', UTC),
    from: '2025-07-01T00:00',
    expected: ['2025-07-18T00:00:00Z'],
  },
  {
    name: 'pattern: 20W in July 2025 (a Sunday) → Monday 21st',
    trigger: () => new CronTrigger('0 0 0 20W 7 *', UTC),
    from: '2025-07-01T00:00',
    expected: ['2025-07-21T00:00:00Z'],
  },
  {
    name: 'pattern: 1W in June 2025 (1st a Sunday) → Monday 2nd',
    trigger: () => new CronTrigger('0 0 0 1W 6 *', UTC),
    from: '2025-05-01T00:00',
    expected: ['2025-06-02T00:00:00Z'],
  },
  {
    name: 'pattern: 31W in August 2025 (31st a Sunday) → Friday 29th, never across the month end',
    trigger: () => new CronTrigger('0 0 0 31W 8 *', UTC),
    from: '2025-08-01T00:00',
    expected: ['2025-08-29T00:00:00Z'],
  },
  {
    name: 'ocps-1.3: 0 12 19W 3 * from 2022-01-01 (March 19 2022 a Saturday) → 18th',
    trigger: () => new CronTrigger('0 12 19W 3 *', UTC),
    from: '2022-01-01T00:00',
    expected: ['2022-03-18T12:00:00Z'],
  },
  {
    name: 'ocps-1.2: year list 2027,2029',
    trigger: () => new CronTrigger('0 0 0 1 1 * 2027,2029', UTC),
    from: '2026-06-01T00:00',
    expected: ['2027-01-01T00:00:00Z', '2029-01-01T00:00:00Z'],
  },
  {
    name: 'ocps-1.2: year range with step 2026-2036/2',
    trigger: () => new CronTrigger('0 0 0 1 1 * 2026-2036/2', UTC),
    from: '2026-06-01T00:00',
    expected: ['2028-01-01T00:00:00Z', '2030-01-01T00:00:00Z', '2032-01-01T00:00:00Z'],
  },
  {
    name: 'ocps-1.2: seconds and year together: 30 0 0 1 1 * 2027',
    trigger: () => new CronTrigger('30 0 0 1 1 * 2027', UTC),
    from: '2026-06-01T00:00',
    expected: ['2027-01-01T00:00:30Z'],
  },
  {
    name: 'ocps-1.2: far years 5000 and 9999',
    trigger: () => new CronTrigger('0 0 0 1 1 * 5000,9999', UTC),
    from: '2026-06-01T00:00',
    expected: ['5000-01-01T00:00:00Z', '9999-01-01T00:00:00Z'],
    complete: true,
  },
  {
    name: 'timezone: 0 0 23 8 2 2 in Stockholm (Feb 8 2022 a Tuesday) → 22:00Z',
    trigger: () => new CronTrigger('0 0 23 8 2 2', { timezone: 'Europe/Stockholm' }),
    from: '2022-02-08T13:00',
    expected: ['2022-02-08T23:00:00+01:00'],
  },
  {
    name: 'timezone: 0 0 23 8 2 2 in New York → 04:00Z on the 9th',
    trigger: () => new CronTrigger('0 0 23 8 2 2', { timezone: 'America/New_York' }),
    from: '2022-02-08T07:00',
    expected: ['2022-02-08T23:00:00-05:00'],
  },
  {
    name: 'timezone: 0 0 12 1 11 * in New York, 2026 (DST ends that morning: EST)',
    trigger: () => new CronTrigger('0 0 12 1 11 *', { timezone: 'America/New_York' }),
    from: '2026-06-01T00:00',
    expected: ['2026-11-01T12:00:00-05:00'],
  },
  {
    name: 'timezone (OCPS 1.4): 0 30 2 * * * in New York on 2025-03-09 → shifted to 03:30 EDT',
    trigger: () => new CronTrigger('0 30 2 * * *', { timezone: 'America/New_York' }),
    from: '2025-03-09T01:00',
    expected: ['2025-03-09T03:30:00-04:00', '2025-03-10T02:30:00-04:00'],
  },
  {
    name: 'timezone (OCPS 1.4): 0 30 1 * * * in New York on 2025-11-02 → first occurrence only',
    trigger: () => new CronTrigger('0 30 1 * * *', { timezone: 'America/New_York' }),
    from: '2025-11-02T00:00',
    expected: ['2025-11-02T01:30:00-04:00', '2025-11-03T01:30:00-05:00'],
  },
  {
    name: 'timezone (OCPS 1.4): 0 30 1 * * * in London, spring (shifted to 02:30 BST)',
    trigger: () => new CronTrigger('0 30 1 * * *', { timezone: 'Europe/London' }),
    from: '2025-03-30T00:00',
    expected: ['2025-03-30T02:30:00+01:00', '2025-03-31T01:30:00+01:00'],
  },
  {
    name: 'timezone (OCPS 1.4): 0 30 1 * * * in London, fall (first occurrence, then the next day)',
    trigger: () => new CronTrigger('0 30 1 * * *', { timezone: 'Europe/London' }),
    from: '2025-10-26T00:00',
    expected: ['2025-10-26T01:30:00+01:00', '2025-10-27T01:30:00+00:00'],
  },
  {
    // croner skips the repeated hour (01:59 PDT → 02:00 PST); API.md fires every real minute.
    name: 'timezone issue #286: * * * * * in Los Angeles through the fall-back (kairos: every real minute)',
    trigger: () => new CronTrigger('* * * * *', { timezone: 'America/Los_Angeles' }),
    from: '2025-11-02T01:58:01-07:00',
    expected: ['2025-11-02T01:59:00-07:00', '2025-11-02T01:00:00-08:00', '2025-11-02T01:01:00-08:00'],
  },
];

describe('cron vectors ported from APScheduler 4 (tests/triggers/test_cron.py)', () => {
  it.each(APSCHEDULER)('$name', checkVector);
});

describe('cron vectors ported from croner (test/*.test.ts)', () => {
  it.each(CRONER)('$name', checkVector);
});
