/**
 * The cron engine (src/triggers/cron-engine.ts) against cron-parser's own `next()` in UTC, on random
 * expressions of every syntax and random instants (seeded: a failure names its seed, expression and
 * instant and reproduces), and `previousMatch` against `nextMatch`.
 */
import { type CronExpression, CronExpressionParser } from 'cron-parser';
import { describe, expect, it } from 'vitest';
import { daysInMonth, firstDayFrom, lastDayUntil, weekdayOf } from '../../src/triggers/cron-days.js';
import { nextMatch, previousMatch } from '../../src/triggers/cron-engine.js';
import { parseCronExpression } from '../../src/triggers/cron-parse.js';
import {
  numericField,
  Random,
  randomExpression,
  randomInstant,
  randomNearestWeekdayField,
  randomYearField,
} from '../support/cron-random.js';
import { expandNumericField, referenceNearestWeekday, referenceNext } from '../support/cron-reference.js';

const SEED = 20_261_203;
const EXPRESSIONS = 10_000;
const INSTANTS_PER_EXPRESSION = 2;
/** Matches found one after the other from each instant. */
const STEPS = 2;

const iso = (ms: number | null) => (ms === null ? 'null' : new Date(ms).toISOString());

/**
 * cron-parser's answer, or `undefined` where it gives up ("loop limit exceeded": a match more than
 * 10,000 of its steps away). None of the seeded expressions hits that today; the guard keeps a future
 * generator change from failing on cron-parser's limit rather than on a real disagreement.
 */
function cronParserNext(expression: string, from: number, steps: number): number[] | undefined {
  const iterator = cronParserParse(expression);
  if (typeof iterator === 'string') throw new Error(`cron-parser refuses '${expression}': ${iterator}`);
  iterator.reset(new Date(from - 1));
  try {
    return Array.from({ length: steps }, () => iterator.next().getTime());
  } catch (error) {
    if (error instanceof Error && error.message.includes('loop limit exceeded')) return undefined;
    throw error;
  }
}

/** The engine's first `steps` matches at or after `from`, one after the other. */
function engineNext(expression: string, from: number, steps: number): Array<number | null> {
  const { pattern } = parseCronExpression(expression);
  const matches: Array<number | null> = [];
  let cursor: number | null = from;
  for (let i = 0; i < steps; i++) {
    const match: number | null = cursor === null ? null : nextMatch(pattern, cursor);
    matches.push(match);
    cursor = match === null ? null : match + 1;
  }
  return matches;
}

/** cron-parser's parsed expressions (in UTC) or its reasons to refuse them, by expression. */
const cronParserParsed = new Map<string, CronExpression | string>();

/** cron-parser's iterator over `expression` in UTC (parsed once), or why it refuses the expression. */
function cronParserParse(expression: string): CronExpression | string {
  let parsed = cronParserParsed.get(expression);
  if (parsed === undefined) {
    try {
      parsed = CronExpressionParser.parse(expression, { tz: 'UTC', currentDate: 0 });
    } catch (error) {
      parsed = error instanceof Error ? error.message : String(error);
    }
    cronParserParsed.set(expression, parsed);
  }
  return parsed;
}

/** Why cron-parser refuses `expression`, or `null` when it parses it. */
function cronParserRefusal(expression: string): string | null {
  const parsed = cronParserParse(expression);
  return typeof parsed === 'string' ? parsed : null;
}

/** True when cron-parser parses `expression` (it refuses lists that repeat a value; kairos merges them). */
function cronParserAccepts(expression: string): boolean {
  return cronParserRefusal(expression) === null;
}

/**
 * For an expression with overlapping list items: the expressions with one list field replaced by each
 * of its items in turn, when cron-parser reads every one of them; else `null`. A list matches what
 * any of its items matches, so the expression's next match is the earliest of theirs (no item may be
 * a bare `*` in a day field: that would turn the day field from restricted into a wildcard).
 */
function splitOverlappingList(expression: string): string[] | null {
  const fields = expression.split(' ');
  for (const [index, field] of fields.entries()) {
    if (!field.includes(',')) continue;
    const variants = field
      .split(',')
      .map((item) => fields.map((other, i) => (i === index ? item : other)).join(' '));
    if (variants.every(cronParserAccepts)) return variants;
  }
  return null;
}

describe('cron engine = cron-parser next() in UTC (random expressions and instants)', () => {
  it(`agrees on ${EXPRESSIONS} expressions x ${INSTANTS_PER_EXPRESSION} instants x ${STEPS} steps (seed ${SEED})`, () => {
    const random = new Random(SEED);
    const disagreements: string[] = [];
    let compared = 0;
    let refused = 0;
    let gaveUp = 0;
    let overlapping = 0;
    while (compared < EXPRESSIONS) {
      const expression = randomExpression(random);
      const refusal = cronParserRefusal(expression);
      if (refusal !== null) {
        refused++;
        // kairos accepts lists whose items overlap: their matches are the union of the items' matches.
        const variants = refusal.includes('duplicate values found') ? splitOverlappingList(expression) : null;
        if (variants === null) continue;
        overlapping++;
        const from = randomInstant(random);
        const theirs = variants.map((variant) => cronParserNext(variant, from, 1)?.[0]);
        if (theirs.some((match) => match === undefined)) continue;
        const expected = Math.min(...(theirs as number[]));
        const [actual] = engineNext(expression, from, 1);
        if (actual !== expected && disagreements.length < 20) {
          disagreements.push(
            `'${expression}' from ${iso(from)}: engine ${iso(actual ?? null)} items ${iso(expected)}`,
          );
        }
        continue;
      }
      compared++;
      for (let i = 0; i < INSTANTS_PER_EXPRESSION; i++) {
        const from = randomInstant(random);
        const expected = cronParserNext(expression, from, STEPS);
        if (expected === undefined) {
          gaveUp++;
          continue;
        }
        const actual = engineNext(expression, from, STEPS);
        if (actual.join() !== expected.join() && disagreements.length < 20) {
          disagreements.push(
            `'${expression}' from ${iso(from)}: engine ${actual.map(iso)} cron-parser ${expected.map(iso)}`,
          );
        }
      }
    }
    expect(disagreements).toEqual([]);
    // The generator must mostly produce expressions cron-parser reads, and instants it answers.
    expect(refused).toBeLessThan(EXPRESSIONS);
    expect(overlapping).toBeGreaterThan(1000);
    expect(gaveUp).toBeLessThan(EXPRESSIONS / 20);
  });

  it('sparse day rules whose next match is years away (expectations worked out by hand)', () => {
    // Friday the 29th of February, either one (Vixie OR): the next Feb 29 or Friday in February.
    const { pattern } = parseCronExpression('0 0 29 2 5');
    expect(iso(nextMatch(pattern, Date.UTC(2025, 2, 1)))).toBe('2026-02-06T00:00:00.000Z');
    // The 5th Monday of February only: 2044 is the next leap year whose Feb 29 is a Monday.
    const fifthMonday = parseCronExpression('0 0 * 2 1#5').pattern;
    expect(iso(nextMatch(fifthMonday, Date.UTC(2025, 0, 1)))).toBe('2044-02-29T00:00:00.000Z');
    expect(iso(nextMatch(fifthMonday, Date.UTC(2044, 2, 1)))).toBe('2072-02-29T00:00:00.000Z');
  });
});

describe('cron engine: previousMatch mirrors nextMatch', () => {
  it('the last match at or before t is a match, and nothing matches between it and t', () => {
    const random = new Random(SEED + 1);
    const failures: string[] = [];
    let checked = 0;
    while (checked < 3000) {
      const expression = randomExpression(random);
      if (!cronParserAccepts(expression)) continue;
      checked++;
      const { pattern } = parseCronExpression(expression);
      const t = randomInstant(random) + Date.UTC(2000, 0, 1);
      const previous = previousMatch(pattern, t);
      if (previous === null) {
        failures.push(`'${expression}' at ${iso(t)}: no previous match`);
        continue;
      }
      const again = nextMatch(pattern, previous);
      const after = nextMatch(pattern, previous + 1);
      if (again !== previous || previous > t || (after !== null && after <= t)) {
        failures.push(`'${expression}' at ${iso(t)}: previous ${iso(previous)}, next after it ${iso(after)}`);
      }
    }
    expect(failures.slice(0, 20)).toEqual([]);
  });

  it('agrees with cron-parser prev() on simple expressions', () => {
    for (const expression of [
      '0 9 * * 1-5',
      '30 2 * * *',
      '0 0 29 2 *',
      '15 4 1 * *',
      '0 0 L * *',
      '0 0 * * 5L',
    ]) {
      const { pattern } = parseCronExpression(expression);
      const iterator = CronExpressionParser.parse(expression, {
        tz: 'UTC',
        currentDate: Date.UTC(2031, 6, 15, 12),
      });
      let cursor = Date.UTC(2031, 6, 15, 12) - 1;
      for (let i = 0; i < 5; i++) {
        const expected = iterator.prev().getTime();
        const actual = previousMatch(pattern, cursor);
        expect(iso(actual), expression).toBe(iso(expected));
        cursor = (actual as number) - 1;
      }
    }
  });
});

describe('cron engine: W days and year fields against a brute-force reference (cron-parser has neither)', () => {
  it('nW / LW with random months, times and years', () => {
    const random = new Random(SEED + 2);
    const failures: string[] = [];
    let compared = 0;
    let found = 0;
    while (compared < 1500) {
      const dayField = randomNearestWeekdayField(random);
      const named = /^l/i.test(dayField) ? 'last' : Number.parseInt(dayField, 10);
      const monthField = random.chance(0.5) ? '*' : numericField(random, 1, 12);
      const yearField = random.chance(0.5) ? '*' : randomYearField(random);
      const fields = [random.int(0, 59), random.int(0, 59), numericField(random, 0, 23)];
      const expression = `${fields.join(' ')} ${dayField} ${monthField} * ${yearField}`;
      let parsed: ReturnType<typeof parseCronExpression>;
      try {
        parsed = parseCronExpression(expression);
      } catch {
        continue; // e.g. 31W with only 30-day months: refused, as cron-parser refuses 31 there
      }
      compared++;
      const reference = {
        seconds: expandNumericField(String(fields[0]), 0, 59),
        minutes: expandNumericField(String(fields[1]), 0, 59),
        hours: expandNumericField(String(fields[2]), 0, 23),
        months: expandNumericField(monthField, 1, 12),
        years: yearField === '*' ? null : expandNumericField(yearField.replace(/\*/g, '1970'), 1970, 9999),
        dayMatches: (year: number, month: number, day: number) =>
          referenceNearestWeekday(named, year, month) === day,
      };
      const from = Date.UTC(2020, 0, 1) + random.int(0, 60 * 365) * 86_400_000 + random.int(0, 86_399) * 1000;
      const expected = referenceNext(reference, from, 100 * 366);
      if (expected !== null) found++;
      const actual = nextMatch(parsed.pattern, from);
      if (actual !== expected)
        failures.push(`'${expression}' from ${iso(from)}: ${iso(actual)} ≠ ${iso(expected)}`);
    }
    expect(failures.slice(0, 20)).toEqual([]);
    expect(found).toBeGreaterThan(compared / 2);
  });

  it('year fields on random standard expressions: cron-parser matches filtered to the years', () => {
    const random = new Random(SEED + 3);
    const failures: string[] = [];
    let compared = 0;
    let found = 0;
    while (compared < 1500) {
      const standard = randomExpression(random);
      if (!cronParserAccepts(standard)) continue;
      const yearField = randomYearField(random);
      const sixFields = standard.split(' ').length === 5 ? `0 ${standard}` : standard;
      const years = expandNumericField(yearField.replace(/\*/g, '1970'), 1970, 9999);
      const from = randomInstant(random) + Date.UTC(2000, 0, 1);
      // The reference: cron-parser's matches, skipping to the next allowed year's start when not allowed.
      const iterator = CronExpressionParser.parse(sixFields, { tz: 'UTC', currentDate: from - 1 });
      let expected: number | null = null;
      try {
        for (let round = 0; round < 200; round++) {
          const match = iterator.next().getTime();
          const year = new Date(match).getUTCFullYear();
          if (years.has(year)) {
            found++;
            expected = match;
            break;
          }
          const nextYear = [...years].sort((a, b) => a - b).find((allowed) => allowed > year);
          if (nextYear === undefined) break;
          iterator.reset(new Date(Date.UTC(nextYear, 0, 1) - 1));
        }
      } catch {
        continue; // cron-parser gave up on a sparse expression
      }
      compared++;
      const actual = nextMatch(parseCronExpression(`${sixFields} ${yearField}`).pattern, from);
      if (actual !== expected) {
        failures.push(`'${sixFields} ${yearField}' from ${iso(from)}: ${iso(actual)} ≠ ${iso(expected)}`);
      }
    }
    expect(failures.slice(0, 20)).toEqual([]);
    expect(found).toBeGreaterThan(compared / 2);
  });
});

describe('cron engine calendar helpers (src/triggers/cron-days.ts)', () => {
  it('weekdayOf and daysInMonth agree with Date over years 1 to 9999', () => {
    const random = new Random(SEED + 4);
    for (let i = 0; i < 5000; i++) {
      const year = random.int(1, 9999);
      const month = random.int(0, 11);
      const date = new Date(0);
      date.setUTCFullYear(year, month + 1, 0);
      expect(daysInMonth(year, month), `${year}-${month + 1}`).toBe(date.getUTCDate());
      const day = random.int(1, date.getUTCDate());
      date.setUTCFullYear(year, month, day);
      expect(weekdayOf(year, month, day), date.toISOString()).toBe(date.getUTCDay());
    }
  });

  it('firstDayFrom / lastDayUntil find set days, bit 31 included', () => {
    const mask = (1 << 1) | (1 << 15) | (1 << 31);
    expect([0, 1, 2, 15, 16, 31, 32].map((day) => firstDayFrom(mask, day))).toEqual([
      1, 1, 15, 15, 31, 31, 0,
    ]);
    expect([0, 1, 2, 15, 16, 31, 40].map((day) => lastDayUntil(mask, day))).toEqual([
      0, 1, 1, 15, 15, 31, 31,
    ]);
    expect(firstDayFrom(0, 1)).toBe(0);
    expect(lastDayUntil(0, 31)).toBe(0);
  });
});
