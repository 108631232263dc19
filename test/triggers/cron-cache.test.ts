/** The parsed-expression cache of CronTrigger (src/lru-cache.ts, src/triggers/cron-parse.ts). */
import { describe, expect, it } from 'vitest';
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
