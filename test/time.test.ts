/**
 * src/time.ts (API.md, "Input types"): dates and durations as users give them; bad ones are ValueErrors
 * naming the option and the value.
 */
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { ValueError } from '../src/index.js';
import { MAX_DURATION_MS, parseDate, parseDuration } from '../src/time.js';
import { thrown } from './support/thrown.js';

const what = 'startAt';

describe('parseDate: ISO strings with an offset', () => {
  it.each([
    ['2026-01-01T00:00:00+14:00', '2025-12-31T10:00:00.000Z'],
    ['2026-01-01T00:00:00-12:00', '2026-01-01T12:00:00.000Z'],
    ['2026-01-01T00:00:00+05:30', '2025-12-31T18:30:00.000Z'],
    ['2026-01-01T00:00:00+0545', '2025-12-31T18:15:00.000Z'],
    ['2026-01-01T00:00+09', '2025-12-31T15:00:00.000Z'],
    ['2026-01-01T00:00:00.250-00:30', '2026-01-01T00:30:00.250Z'],
    ['2026-01-01T00:00:00+23:59', '2025-12-31T00:01:00.000Z'],
    ['2026-01-01T00:00:00Z', '2026-01-01T00:00:00.000Z'],
  ])('%s is %s', (input, expected) => {
    expect(parseDate(input, 'UTC', what).toISOString()).toBe(expected);
  });

  it.each([
    ['2026-01-01T00:00:00+25:00', "'+25:00'"],
    ['2026-01-01T00:00:00-24:00', "'-24:00'"],
    ['2026-01-01T00:00:00+05:60', "'+05:60'"],
    ['2026-01-01T00:00:00+99:99', "'+99:99'"],
    ['2026-01-01T00:00:00.000+2500', "'+2500'"],
    ['2026-01-01T00:00+25', "'+25'"],
    ['2026-01-01T00:00:00-0075', "'-0075'"],
    ['20260101T000000+2500', "'+2500'"],
  ])('%s (an offset that cannot exist) is a ValueError naming it', (input, offset) => {
    const error = thrown(() => parseDate(input, 'UTC', what));
    expect(error).toBeInstanceOf(ValueError);
    expect((error as Error).message).toContain(`startAt: ${JSON.stringify(input)}`);
    expect((error as Error).message).toContain(offset);
  });

  it('a date-only string or one without offset is still read in the zone (its "-01" is no offset)', () => {
    expect(parseDate('2026-07-01', 'Europe/Berlin').toISOString()).toBe('2026-06-30T22:00:00.000Z');
    expect(parseDate('2026-07-01T09:00', 'Europe/Berlin').toISOString()).toBe('2026-07-01T07:00:00.000Z');
  });

  it('Dates, epoch ms and luxon DateTimes are unchanged', () => {
    const ms = Date.parse('2026-07-01T09:00:00Z');
    expect(parseDate(new Date(ms), 'UTC').getTime()).toBe(ms);
    expect(parseDate(ms, 'UTC').getTime()).toBe(ms);
    expect(parseDate(DateTime.fromMillis(ms), 'UTC').getTime()).toBe(ms);
  });
});

describe('parseDuration', () => {
  it('accepts up to the largest safe number of ms, and rejects longer with a ValueError naming the value', () => {
    expect(parseDuration(MAX_DURATION_MS, 'timeout')).toBe(MAX_DURATION_MS);
    expect(parseDuration({ days: 30 }, 'timeout')).toBe(30 * 86_400_000);
    for (const input of [1e300, { weeks: 1e300 }, 'P1000000000Y']) {
      const error = thrown(() => parseDuration(input, 'timeout'));
      expect(error, JSON.stringify(input)).toBeInstanceOf(ValueError);
      expect((error as Error).message).toMatch(/^timeout: /);
    }
    expect(thrown(() => parseDuration(1e300, 'timeout'))).toHaveProperty(
      'message',
      expect.stringContaining('1e+300'),
    );
  });
});

describe('parseDate: a local date-time in a DST change follows the rule of API.md ("Input types")', () => {
  // Each expectation is worked out from the zone's published rules, not from kairos or luxon:
  // New York: EDT -4 ends 2025-11-02 02:00 (→ 01:00 EST -5), starts 2025-03-09 02:00 EST (→ 03:00 EDT).
  // Lord Howe: +11 ends 2025-04-06 02:00 (→ 01:30 +10:30), starts 2025-10-05 02:00 +10:30 (→ 02:30 +11).
  // Santiago: -3 ends 2025-04-06 00:00 (→ 23:00 on the 5th, -4), starts 2025-09-07 00:00 -4 (→ 01:00 -3).
  // Sydney: +11 ends 2025-04-06 03:00 (→ 02:00 +10), starts 2025-10-05 02:00 +10 (→ 03:00 +11).
  it.each([
    ['America/New_York', '2025-11-02T01:30', '2025-11-02T05:30:00.000Z'],
    ['America/New_York', '2025-11-02T01:00', '2025-11-02T05:00:00.000Z'],
    ['America/New_York', '2025-11-02T01:59:59', '2025-11-02T05:59:59.000Z'],
    ['Australia/Lord_Howe', '2025-04-06T01:45', '2025-04-05T14:45:00.000Z'],
    ['Australia/Lord_Howe', '2025-04-06T01:30', '2025-04-05T14:30:00.000Z'],
    ['America/Santiago', '2025-04-05T23:30', '2025-04-06T02:30:00.000Z'],
    ['Australia/Sydney', '2025-04-06T02:30', '2025-04-05T15:30:00.000Z'],
  ])('%s %s (repeated by a fall-back) is its first occurrence, %s', (zone, local, expected) => {
    expect(parseDate(local, zone, what).toISOString()).toBe(expected);
  });

  it.each([
    ['America/New_York', '2025-03-09T02:30', '2025-03-09T07:30:00.000Z'], // 03:30 EDT
    ['America/New_York', '2025-03-09T02:00', '2025-03-09T07:00:00.000Z'], // 03:00 EDT
    ['Australia/Lord_Howe', '2025-10-05T02:15', '2025-10-04T15:45:00.000Z'], // 02:45 +11
    ['Australia/Lord_Howe', '2025-10-05T02:00', '2025-10-04T15:30:00.000Z'], // 02:30 +11
    ['America/Santiago', '2025-09-07T00:30', '2025-09-07T04:30:00.000Z'], // 01:30 -3
    ['Australia/Sydney', '2025-10-05T02:30', '2025-10-04T16:30:00.000Z'], // 03:30 +11
  ])('%s %s (skipped by a gap) is shifted forward by the gap, %s', (zone, local, expected) => {
    expect(parseDate(local, zone, what).toISOString()).toBe(expected);
  });

  it('times just outside a change, and strings with an offset, are unchanged', () => {
    expect(parseDate('2025-11-02T02:00', 'America/New_York').toISOString()).toBe('2025-11-02T07:00:00.000Z');
    expect(parseDate('2025-11-02T00:59', 'America/New_York').toISOString()).toBe('2025-11-02T04:59:00.000Z');
    expect(parseDate('2025-03-09T03:00', 'America/New_York').toISOString()).toBe('2025-03-09T07:00:00.000Z');
    // An explicit offset picks the occurrence, whatever the zone.
    expect(parseDate('2025-11-02T01:30-05:00', 'America/New_York').toISOString()).toBe(
      '2025-11-02T06:30:00.000Z',
    );
    expect(parseDate('2025-11-02T01:30-0500', 'America/New_York').toISOString()).toBe(
      '2025-11-02T06:30:00.000Z',
    );
    expect(parseDate('2025-11-02T01:30Z', 'America/New_York').toISOString()).toBe('2025-11-02T01:30:00.000Z');
  });

  it('other ISO forms without offset (date only, basic, week date, fractions, far years) are read in the zone', () => {
    expect(parseDate('2025-11-02', 'America/New_York').toISOString()).toBe('2025-11-02T04:00:00.000Z');
    expect(parseDate('20251102T0130', 'America/New_York').toISOString()).toBe('2025-11-02T05:30:00.000Z');
    expect(parseDate('2025-W44-7T01:30', 'America/New_York').toISOString()).toBe('2025-11-02T05:30:00.000Z');
    expect(parseDate('2025-11-02T01:30:00.250', 'America/New_York').toISOString()).toBe(
      '2025-11-02T05:30:00.250Z',
    );
    expect(parseDate('9999-06-01T12:00', 'Asia/Tokyo').toISOString()).toBe('9999-06-01T03:00:00.000Z');
    expect(parseDate('+012025-01-01T00:00', 'UTC').toISOString()).toBe('+012025-01-01T00:00:00.000Z');
  });
});
