/**
 * API.md, "Input types": a date string without offset that a DST change repeats is its FIRST
 * occurrence; one that a gap skips is shifted forward by the gap's length. For `runAt` of
 * `DateTrigger` and for `startAt` / `endAt` of interval and cron triggers alike (issue #18).
 */
import { describe, expect, it } from 'vitest';
import { CronTrigger, DateTrigger, IntervalTrigger } from '../../src/index.js';

// Expectations from the zones' rules (see test/time.test.ts): New York falls back 2025-11-02
// 02:00 EDT → 01:00 EST and springs forward 2025-03-09 02:00 EST → 03:00 EDT; Lord Howe falls back
// 2025-04-06 02:00 (+11) → 01:30 (+10:30) and springs forward 2025-10-05 02:00 → 02:30 (+11).

describe('DateTrigger runAt in a DST change', () => {
  it('a repeated local time fires at its first occurrence (New York: 05:30Z, not 06:30Z)', () => {
    const trigger = new DateTrigger('2025-11-02T01:30', { timezone: 'America/New_York' });
    expect(trigger.runAt.toISOString()).toBe('2025-11-02T05:30:00.000Z');
    expect(DateTrigger.fromJSON(trigger.toJSON()).runAt.toISOString()).toBe('2025-11-02T05:30:00.000Z');
  });

  it('Lord Howe (30-minute change): first occurrence in the overlap, shifted by 30 minutes in the gap', () => {
    const overlap = new DateTrigger('2025-04-06T01:40', { timezone: 'Australia/Lord_Howe' });
    expect(overlap.runAt.toISOString()).toBe('2025-04-05T14:40:00.000Z'); // 01:40 +11
    const gap = new DateTrigger('2025-10-05T02:10', { timezone: 'Australia/Lord_Howe' });
    expect(gap.runAt.toISOString()).toBe('2025-10-04T15:40:00.000Z'); // 02:40 +11
  });

  it('a skipped local time is shifted forward by the gap (New York 02:30 → 03:30 EDT)', () => {
    const trigger = new DateTrigger('2025-03-09T02:30', { timezone: 'America/New_York' });
    expect(trigger.runAt.toISOString()).toBe('2025-03-09T07:30:00.000Z');
  });

  it('southern hemisphere (Santiago, changes at midnight): first occurrence / shifted', () => {
    // -3 → -4 at 2025-04-06 00:00 (back to 23:00 on the 5th); -4 → -3 at 2025-09-07 00:00.
    expect(new DateTrigger('2025-04-05T23:15', { timezone: 'America/Santiago' }).runAt.toISOString()).toBe(
      '2025-04-06T02:15:00.000Z',
    );
    expect(new DateTrigger('2025-09-07T00:15', { timezone: 'America/Santiago' }).runAt.toISOString()).toBe(
      '2025-09-07T04:15:00.000Z',
    );
  });
});

describe('startAt and endAt of interval and cron triggers in a DST change', () => {
  it('IntervalTrigger: startAt in the overlap is its first occurrence, endAt in a gap is shifted', () => {
    const trigger = new IntervalTrigger(
      { minutes: 30 },
      { timezone: 'America/New_York', startAt: '2025-11-02T01:30', endAt: '2025-11-02T01:45' },
    );
    expect(trigger.startAt.toISOString()).toBe('2025-11-02T05:30:00.000Z');
    expect(trigger.endAt?.toISOString()).toBe('2025-11-02T05:45:00.000Z');
    const spring = new IntervalTrigger(
      { minutes: 30 },
      { timezone: 'Australia/Lord_Howe', startAt: '2025-10-05T01:00', endAt: '2025-10-05T02:20' },
    );
    expect(spring.endAt?.toISOString()).toBe('2025-10-04T15:50:00.000Z'); // 02:50 +11
  });

  it('CronTrigger: startAt in the overlap lets the first occurrence fire', () => {
    const trigger = new CronTrigger('*/15 * * * *', {
      timezone: 'America/New_York',
      startAt: '2025-11-02T01:30',
    });
    expect(trigger.startAt?.toISOString()).toBe('2025-11-02T05:30:00.000Z');
    expect(trigger.getNextFireTime(null, new Date('2025-11-01T00:00:00Z'))?.toISOString()).toBe(
      '2025-11-02T05:30:00.000Z',
    );
    const bounded = new CronTrigger('0 * * * *', {
      timezone: 'Australia/Lord_Howe',
      startAt: '2025-04-06T01:45',
      endAt: '2025-04-06T01:50',
    });
    expect(bounded.startAt?.toISOString()).toBe('2025-04-05T14:45:00.000Z');
    expect(bounded.endAt?.toISOString()).toBe('2025-04-05T14:50:00.000Z');
  });
});
