/**
 * src/wallclock.ts: offsets, and wall-clock times mapped to instants with the DST rule of API.md
 * ("Triggers"): a gap shifts forward by its length, an overlap gives the first (or every) occurrence.
 */
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import {
  firstFireInstant,
  wallClockAt,
  wallToInstant,
  wallToInstants,
  zoneOffset,
} from '../src/wallclock.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const iso = (instant: number) => new Date(instant).toISOString();
/** A wall-clock time, encoded as if it were UTC. */
const wall = (text: string) => Date.parse(`${text}Z`);

describe('zoneOffset and wallClockAt', () => {
  it('reads standard and summer offsets (New York -5 h / -4 h)', () => {
    expect(zoneOffset(Date.parse('2024-01-15T12:00:00Z'), 'America/New_York')).toBe(-5 * HOUR_MS);
    expect(zoneOffset(Date.parse('2024-07-15T12:00:00Z'), 'America/New_York')).toBe(-4 * HOUR_MS);
  });

  it('reads odd and large offsets (Kathmandu +5:45, Chatham +13:45, Kiritimati +14, Etc/GMT+5 is -5)', () => {
    const instant = Date.parse('2024-01-15T12:00:00Z');
    expect(zoneOffset(instant, 'Asia/Kathmandu')).toBe(5 * HOUR_MS + 45 * MINUTE_MS);
    expect(zoneOffset(instant, 'Pacific/Chatham')).toBe(13 * HOUR_MS + 45 * MINUTE_MS);
    expect(zoneOffset(instant, 'Pacific/Kiritimati')).toBe(14 * HOUR_MS);
    expect(zoneOffset(instant, 'Etc/GMT+5')).toBe(-5 * HOUR_MS);
    expect(zoneOffset(instant, 'UTC')).toBe(0);
  });

  it('changes offset at the exact instant of a transition (New York, 2024-03-10 07:00Z)', () => {
    const transition = Date.parse('2024-03-10T07:00:00Z');
    expect(zoneOffset(transition - 1, 'America/New_York')).toBe(-5 * HOUR_MS);
    expect(zoneOffset(transition, 'America/New_York')).toBe(-4 * HOUR_MS);
  });

  it('gives the wall clock as UTC-encoded ms', () => {
    expect(iso(wallClockAt(Date.parse('2024-07-01T12:00:00Z'), 'Europe/Berlin'))).toBe(
      '2024-07-01T14:00:00.000Z',
    );
  });

  it('round-trips instants away from transitions in every IANA zone', () => {
    for (const zone of Intl.supportedValuesOf('timeZone')) {
      for (const instant of [Date.parse('2025-01-15T12:34:56Z'), Date.parse('2025-07-15T12:34:56Z')]) {
        expect(wallToInstant(wallClockAt(instant, zone), zone), zone).toBe(instant);
      }
    }
  });
});

describe('wallToInstants: the DST rule', () => {
  it('a wall time that exists once maps to its one instant', () => {
    expect(wallToInstants(wall('2024-06-01T12:00:00'), 'America/New_York').map(iso)).toEqual([
      '2024-06-01T16:00:00.000Z',
    ]);
  });

  it('a wall time repeated by a fall-back maps to both occurrences, first first (New York 01:30)', () => {
    expect(wallToInstants(wall('2024-11-03T01:30:00'), 'America/New_York').map(iso)).toEqual([
      '2024-11-03T05:30:00.000Z',
      '2024-11-03T06:30:00.000Z',
    ]);
    expect(iso(wallToInstant(wall('2024-11-03T01:30:00'), 'America/New_York'))).toBe(
      '2024-11-03T05:30:00.000Z',
    );
  });

  it('a wall time skipped by a one-hour gap shifts forward one hour (New York 02:30 → 03:30 EDT)', () => {
    expect(iso(wallToInstant(wall('2024-03-10T02:30:00'), 'America/New_York'))).toBe(
      '2024-03-10T07:30:00.000Z',
    );
  });

  it('a wall time skipped by a two-hour gap shifts forward two hours (Antarctica/Troll 01:30 → 03:30)', () => {
    expect(iso(wallToInstant(wall('2024-03-31T01:30:00'), 'Antarctica/Troll'))).toBe(
      '2024-03-31T01:30:00.000Z',
    );
    expect(iso(wallClockAt(Date.parse('2024-03-31T01:30:00Z'), 'Antarctica/Troll'))).toBe(
      '2024-03-31T03:30:00.000Z',
    );
  });

  it('a 30-minute gap shifts by 30 minutes and a 30-minute overlap repeats (Australia/Lord_Howe)', () => {
    const shifted = wallToInstant(wall('2024-10-06T02:15:00'), 'Australia/Lord_Howe');
    expect(iso(wallClockAt(shifted, 'Australia/Lord_Howe'))).toBe('2024-10-06T02:45:00.000Z');
    expect(wallToInstants(wall('2024-04-07T01:45:00'), 'Australia/Lord_Howe')).toHaveLength(2);
  });

  it('handles transitions at midnight (America/Santiago: 00:30 skipped → 01:30; 23:30 repeated)', () => {
    const shifted = wallToInstant(wall('2024-09-08T00:30:00'), 'America/Santiago');
    expect(iso(wallClockAt(shifted, 'America/Santiago'))).toBe('2024-09-08T01:30:00.000Z');
    expect(wallToInstants(wall('2024-04-06T23:30:00'), 'America/Santiago').map(iso)).toEqual([
      '2024-04-07T02:30:00.000Z',
      '2024-04-07T03:30:00.000Z',
    ]);
  });

  it('shifts a whole skipped day forward by 24 hours (Pacific/Apia, 2011-12-30)', () => {
    const shifted = wallToInstant(wall('2011-12-30T09:00:00'), 'Pacific/Apia');
    expect(shifted).toBe(wallToInstant(wall('2011-12-31T09:00:00'), 'Pacific/Apia'));
  });
});

/** Wall times every `stepMs` (a finder for `firstFireInstant`). */
const everyWall = (stepMs: number) => (fromWall: number) => Math.ceil(fromWall / stepMs) * stepMs;

/** The next `count` fire instants from `from`, stepping strictly after each. */
function fireInstants(
  from: number,
  zone: string,
  findWall: (fromWall: number) => number | null,
  repeated: 'first' | 'every',
  count: number,
): string[] {
  const instants: string[] = [];
  let next = firstFireInstant(from, zone, findWall, repeated);
  while (next !== null && instants.length < count) {
    instants.push(iso(next));
    next = firstFireInstant(next + 1, zone, findWall, repeated);
  }
  return instants;
}

describe('firstFireInstant', () => {
  it('is inclusive of its start', () => {
    const from = Date.parse('2024-06-01T16:00:00Z');
    expect(firstFireInstant(from, 'America/New_York', everyWall(HOUR_MS), 'first')).toBe(from);
  });

  it("'every' fires in both occurrences of a fall-back, so a 30-minute schedule never goes silent", () => {
    const from = Date.parse('2024-11-03T04:30:00Z'); // 00:30 EDT
    expect(fireInstants(from, 'America/New_York', everyWall(30 * MINUTE_MS), 'every', 6)).toEqual([
      '2024-11-03T04:30:00.000Z',
      '2024-11-03T05:00:00.000Z',
      '2024-11-03T05:30:00.000Z',
      '2024-11-03T06:00:00.000Z',
      '2024-11-03T06:30:00.000Z',
      '2024-11-03T07:00:00.000Z',
    ]);
  });

  it("'first' skips the second occurrence of repeated wall times", () => {
    const from = Date.parse('2024-11-03T04:30:00Z');
    expect(fireInstants(from, 'America/New_York', everyWall(30 * MINUTE_MS), 'first', 4)).toEqual([
      '2024-11-03T04:30:00.000Z',
      '2024-11-03T05:00:00.000Z',
      '2024-11-03T05:30:00.000Z',
      '2024-11-03T07:00:00.000Z',
    ]);
  });

  it('shifts gap wall times forward and fires an instant once when a shifted time meets a real one', () => {
    const from = Date.parse('2024-03-10T06:00:00Z'); // 01:00 EST
    expect(fireInstants(from, 'America/New_York', everyWall(30 * MINUTE_MS), 'first', 4)).toEqual([
      '2024-03-10T06:00:00.000Z',
      '2024-03-10T06:30:00.000Z',
      '2024-03-10T07:00:00.000Z', // 02:00 → 03:00 EDT, which is also a fire time
      '2024-03-10T07:30:00.000Z', // 02:30 → 03:30 EDT, likewise
    ]);
  });

  it('orders a shifted gap time after real times it lands behind (15-minute wall times, 30-minute gap)', () => {
    // Lord Howe jumps 02:00 → 02:30: walls 02:00 and 02:15 fire at 02:30 and 02:45, with the real 02:30 and 02:45.
    const zone = 'Australia/Lord_Howe';
    const from = wallToInstant(wall('2024-10-06T01:45:00'), zone);
    const walls = fireInstants(from, zone, everyWall(15 * MINUTE_MS), 'first', 4).map((text) =>
      iso(wallClockAt(Date.parse(text), zone)),
    );
    expect(walls).toEqual([
      '2024-10-06T01:45:00.000Z',
      '2024-10-06T02:30:00.000Z',
      '2024-10-06T02:45:00.000Z',
      '2024-10-06T03:00:00.000Z',
    ]);
  });

  it('crosses many segments to a distant wall time, and returns null when the finder has none', () => {
    const yearly = (fromWall: number) => {
      const year = new Date(fromWall).getUTCFullYear();
      const thisYear = Date.UTC(year, 6, 1, 12);
      return fromWall <= thisYear ? thisYear : Date.UTC(year + 1, 6, 1, 12);
    };
    const from = Date.parse('2024-08-01T00:00:00Z');
    expect(iso(firstFireInstant(from, 'Europe/Berlin', yearly, 'first') as number)).toBe(
      '2025-07-01T10:00:00.000Z',
    );
    expect(firstFireInstant(from, 'Europe/Berlin', () => null, 'first')).toBeNull();
  });

  it('jumps to a wall time thousands of years ahead and still applies the DST rule there (luxon agrees)', () => {
    const zone = 'America/New_York';
    const from = Date.parse('2026-01-01T00:00:00Z');
    /** A finder with exactly the given wall times, all far in the future. */
    const only =
      (...walls: number[]) =>
      (fromWall: number) =>
        walls.find((w) => w >= fromWall) ?? null;
    // The spring-forward Sunday of March 9996 (second Sunday), found with luxon.
    const march = DateTime.fromObject({ year: 9996, month: 3, day: 1 }, { zone });
    const springDay = march.plus({ days: (7 - (march.weekday % 7)) % 7 }).plus({ weeks: 1 });
    const gapWall = wall(`${springDay.toISODate()}T02:30:00`);
    const shifted = DateTime.fromObject({ ...springDay.toObject(), hour: 3, minute: 30 }, { zone });
    expect(firstFireInstant(from, zone, only(gapWall), 'first')).toBe(shifted.toMillis());
    const plain = wall('9996-06-15T12:00:00');
    const expected = DateTime.fromObject({ year: 9996, month: 6, day: 15, hour: 12 }, { zone });
    expect(firstFireInstant(from, zone, only(plain), 'first')).toBe(expected.toMillis());
    // A near wall time already fired (before `from`) does not stop the search for the far one.
    expect(firstFireInstant(from, zone, only(wall('2025-12-31T18:00:00'), plain), 'first')).toBe(
      expected.toMillis(),
    );
    expect(firstFireInstant(from, zone, only(wall('9999-12-31T23:59:59')), 'every')).toBe(
      DateTime.fromObject(
        { year: 9999, month: 12, day: 31, hour: 23, minute: 59, second: 59 },
        { zone },
      ).toMillis(),
    );
  });
});
