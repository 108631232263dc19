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
