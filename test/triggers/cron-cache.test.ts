/** The parsed-expression cache of CronTrigger (src/lru-cache.ts, src/triggers/cron-parse.ts). */
import { CronExpressionParser } from 'cron-parser';
import { describe, expect, it, vi } from 'vitest';
import { ValueError } from '../../src/errors.js';
import { LruCache } from '../../src/lru-cache.js';
import { parseCronExpression } from '../../src/triggers/cron-parse.js';

describe('LruCache', () => {
  it('keeps at most its capacity, forgetting the least recently used entry', () => {
    const cache = new LruCache<string, number>(2);
    cache.set('a', 1);
    cache.set('b', 2);
    expect(cache.get('a')).toBe(1); // a is now the most recently used
    cache.set('c', 3); // evicts b
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe(1);
    expect(cache.get('c')).toBe(3);
    expect(cache.size).toBe(2);
    cache.set('a', 10); // replacing keeps the size
    expect(cache.size).toBe(2);
    expect(cache.get('a')).toBe(10);
  });
});

describe('parseCronExpression', () => {
  it('parses an expression once: the same text gives the same (frozen) pattern', () => {
    const first = parseCronExpression('15 4 1 * *');
    expect(parseCronExpression('15 4 1 * *')).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first.pattern)).toBe(true);
    expect(parseCronExpression('15 4 2 * *')).not.toBe(first);
  });

  it('does not cache a refused expression: it is refused again, with the same error', () => {
    expect(() => parseCronExpression('61 * * * *')).toThrow(/minute field "61"/);
    expect(() => parseCronExpression('61 * * * *')).toThrow(/minute field "61"/);
  });

  it('knows when the hour field is * (the fall-back rule fires both occurrences then)', () => {
    expect(parseCronExpression('*/15 * * * *').everyHour).toBe(true);
    expect(parseCronExpression('@hourly').everyHour).toBe(true);
    expect(parseCronExpression('0 ? * * *').everyHour).toBe(true);
    expect(parseCronExpression('0 0-23 * * *').everyHour).toBe(false);
    expect(parseCronExpression('@daily').everyHour).toBe(false);
  });
});

describe('parsing fields once', () => {
  it('asks cron-parser once per distinct field, however many expressions share it', () => {
    const parse = vi.spyOn(CronExpressionParser, 'parse');
    try {
      // 24 × 60 expressions that no earlier test parsed (a year field of their own), of 24 + 60 distinct fields.
      for (let hour = 0; hour < 24; hour++) {
        for (let minute = 0; minute < 60; minute++) parseCronExpression(`0 ${minute} ${hour} * * 1-5 2091`);
      }
      expect(parse.mock.calls.length).toBeLessThanOrEqual(24 + 60 + 4);
    } finally {
      parse.mockRestore();
    }
  });

  it('still checks the fields together: a day no month of the expression has is refused', () => {
    // Each field parsed (and cached) in an expression where it is fine...
    parseCronExpression('0 0 30 * *');
    parseCronExpression('0 0 1 2 *');
    // ...and together refused, as cron-parser refuses them.
    expect(() => parseCronExpression('0 0 30 2 *')).toThrow(ValueError);
    expect(() => parseCronExpression('0 0 30 2 *')).toThrow(/Invalid explicit day of month/);
    // The day of week rescues it (the OR rule): fine.
    expect(parseCronExpression('0 0 30 2 1').pattern.days.weekdayMask).toBe(1 << 1);
  });

  it("keeps cron-parser's checks of a whole expression: one over its length limit is refused", () => {
    const long = `${'0'.repeat(400)} ${'0'.repeat(400)} ${'0'.repeat(400)} * * *`;
    expect(() => parseCronExpression(long)).toThrow(ValueError);
    expect(() => parseCronExpression(long)).toThrow(/too long/);
  });
});
