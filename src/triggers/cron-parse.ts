/**
 * Reading a cron expression into the engine's compact `CronPattern` (`./cron-engine.ts`).
 *
 * cron-parser is the parser and validator of the six standard fields (grammar, names, error
 * messages); kairos reads its parsed field sets. Around it, kairos adds: the nicknames, a 7th year
 * field (`./cron-years.ts`), the `W` day (`nW`, `LW`), lowercase `l`, weekday ranges that end on
 * Sunday as 7 (`MON-SUN`, `fri-sun`), and lists whose items overlap (`8-18/2,12`, `0,7`), which
 * cron-parser refuses as duplicates and Vixie cron accepts. Parsed expressions are cached by their
 * text (`../lru-cache.ts`), so triggers sharing an expression share one pattern.
 */
import { type CronExpression, CronExpressionParser, CronFieldCollection } from 'cron-parser';
import { ValueError } from '../errors.js';
import { LruCache } from '../lru-cache.js';
import { describeValue } from '../validate.js';
import type { NearestWeekday } from './cron-days.js';
import { type CronPattern, nextMatch } from './cron-engine.js';
import { ValueSet } from './cron-values.js';
import { YearSet } from './cron-years.js';

/** A parsed expression: its pattern and what the DST rule needs to know of it. Immutable. */
export interface ParsedCron {
  /** The fields, in the engine's form. */
  readonly pattern: CronPattern;
  /** The hour field is `*` (or `?`): a fall-back's repeated wall times fire in both occurrences. */
  readonly everyHour: boolean;
  /** The first matching wall time at or after a given one (UTC-encoded ms), or `null`. */
  readonly findWallTime: (fromWall: number) => number | null;
}

/** The names of the six fields that cron-parser reads, in expression order. */
export const PARSER_FIELD_NAMES = ['second', 'minute', 'hour', 'day', 'month', 'dayOfWeek'] as const;

/** One of the six standard field names. */
type ParserFieldName = (typeof PARSER_FIELD_NAMES)[number];

/** The seven fields of an expression; `second` is '0' for 5 fields, `year` '*' unless given. */
type ExpressionFields = Record<ParserFieldName | 'year', string>;

/** The nicknames and the 6-field expressions they stand for. */
export const NICKNAMES: Readonly<Record<string, string>> = {
  '@yearly': '0 0 0 1 1 *',
  '@annually': '0 0 0 1 1 *',
  '@monthly': '0 0 0 1 * *',
  '@weekly': '0 0 0 * * 0',
  '@daily': '0 0 0 * * *',
  '@midnight': '0 0 0 * * *',
  '@hourly': '0 0 * * * *',
};

/** How many distinct expressions stay parsed. */
const CACHE_SIZE = 4096;
/** cron-parser's message for a list whose items name a value twice. */
const DUPLICATE_VALUES = 'duplicate values found';

const cache = new LruCache<string, ParsedCron>(CACHE_SIZE);

/**
 * Parses an expression (fields separated by single spaces, as `CronTrigger` normalizes them), or
 * returns the pattern already parsed for the same text.
 * @throws ValueError naming the bad field and value.
 */
export function parseCronExpression(expression: string): ParsedCron {
  let parsed = cache.get(expression);
  if (parsed === undefined) {
    parsed = parseUncached(expression);
    cache.set(expression, parsed);
  }
  return parsed;
}

function parseUncached(expression: string): ParsedCron {
  const fields = splitExpression(expression);
  rejectHashedValues(fields);
  const years = YearSet.parse(fields.year);
  const nearestWeekday = parseNearestWeekday(fields.day, fields.dayOfWeek);
  const normalized = normalizeFields(fields);
  let parsed: CronFieldCollection;
  if (nearestWeekday === null) {
    parsed = parseStandardFields(normalized, fields, expression);
  } else {
    // cron-parser rejects a day that no month of the month field has (31W in February).
    const namedDay = nearestWeekday === 'last' ? 'L' : String(nearestWeekday);
    parseStandardFields({ ...normalized, day: namedDay }, fields, expression);
    parsed = parseStandardFields({ ...normalized, day: '*' }, fields, expression);
  }
  const pattern = patternOf(parsed, years, nearestWeekday);
  return Object.freeze({
    pattern,
    everyHour: fields.hour === '*' || fields.hour === '?',
    findWallTime: (fromWall: number) => nextMatch(pattern, fromWall),
  });
}

/** The engine's pattern of cron-parser's parsed fields, the year field and the `W` rule. */
function patternOf(
  fields: CronFieldCollection,
  years: YearSet,
  nearestWeekday: NearestWeekday | null,
): CronPattern {
  const numbers = (values: ReadonlyArray<number | string>) =>
    values.filter((value): value is number => typeof value === 'number');
  const dayValues: ReadonlyArray<number | string> = fields.dayOfMonth.values;
  const weekdayValues: ReadonlyArray<number | string> = fields.dayOfWeek.values;
  let dayOfMonthMask = 0;
  if (nearestWeekday === null) for (const day of numbers(dayValues)) dayOfMonthMask |= 1 << day;
  let weekdayMask = 0;
  for (const weekday of numbers(weekdayValues)) weekdayMask |= 1 << (weekday % 7);
  let lastWeekdayMask = 0;
  for (const value of weekdayValues) {
    // `5L`: the last Friday (cron-parser reads the weekday from the first character, 7 being Sunday).
    if (typeof value === 'string') lastWeekdayMask |= 1 << (Number.parseInt(value.charAt(0), 10) % 7);
  }
  return Object.freeze({
    seconds: ValueSet.of(numbers(fields.second.values), 59),
    minutes: ValueSet.of(numbers(fields.minute.values), 59),
    hours: ValueSet.of(numbers(fields.hour.values), 23),
    months: ValueSet.of(
      numbers(fields.month.values).map((month) => month - 1),
      11,
    ),
    days: Object.freeze({
      dayOfMonthWildcard: nearestWeekday === null && fields.dayOfMonth.isWildcard,
      dayOfMonthMask,
      lastDayOfMonth: nearestWeekday === null && dayValues.includes('L'),
      nearestWeekday,
      dayOfWeekWildcard: fields.dayOfWeek.isWildcard,
      weekdayMask,
      nthWeekday: fields.dayOfWeek.nthDay,
      lastWeekdayMask,
    }),
    years,
  });
}

/** Splits a 5-, 6- or 7-field expression (or a nickname) into named fields. */
function splitExpression(expression: string): ExpressionFields {
  if (expression === '') throw new ValueError('CronTrigger: the expression is empty');
  if (expression.startsWith('@')) return splitExpression(expandNickname(expression));
  const parts = expression.split(' ');
  if (parts.length === 5) parts.unshift('0');
  if (parts.length === 6) parts.push('*');
  if (parts.length !== 7) {
    throw new ValueError(
      `CronTrigger: expression ${describeValue(expression)} has ${expression.split(' ').length} fields; ` +
        'expected 5 (minute hour day month dayOfWeek), 6 (second first) or 7 (second first, year last)',
    );
  }
  const [second, minute, hour, day, month, dayOfWeek, year] = parts as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  return { second, minute, hour, day, month, dayOfWeek, year };
}

function expandNickname(nickname: string): string {
  const expansion = NICKNAMES[nickname.toLowerCase()];
  if (expansion === undefined) {
    throw new ValueError(
      `CronTrigger: unknown nickname ${describeValue(nickname)} (expected one of ${Object.keys(NICKNAMES).join(', ')})`,
    );
  }
  return expansion;
}

/** cron-parser's `H` (hashed random values) is not part of kairos' syntax: it would not survive a store. */
function rejectHashedValues(fields: ExpressionFields): void {
  for (const name of PARSER_FIELD_NAMES) {
    const withoutNames = fields[name].replace(/[a-z]{3}/gi, '');
    if (/h/i.test(withoutNames)) {
      throw new ValueError(
        `CronTrigger: bad ${name} field ${describeValue(fields[name])}: 'H' values are not supported`,
      );
    }
  }
}

/**
 * The fields as cron-parser is to read them: `l` as `L` (names are case-insensitive anyway), and a
 * weekday range ending on Sunday with Sunday as 7 (`MON-SUN` is `1-7`; cron-parser reads `SUN` as 0).
 */
function normalizeFields(fields: ExpressionFields): ExpressionFields {
  const dayOfWeek = fields.dayOfWeek
    .toUpperCase()
    .replace(/(^|,)([1-6]|MON|TUE|WED|THU|FRI|SAT)-SUN(?=\/|,|$)/g, '$1$2-7');
  return { ...fields, day: fields.day.toUpperCase(), dayOfWeek };
}

/**
 * Parses the six standard fields with cron-parser, each field once per process (`parsedField`), then checks
 * them together as cron-parser does (`CronFieldCollection`: a day of month no month has). Lists whose items
 * overlap are merged first.
 * @throws ValueError naming the first field that fails alone (as the user wrote it).
 */
function parseStandardFields(
  fields: ExpressionFields,
  original: ExpressionFields,
  expression: string,
): CronFieldCollection {
  try {
    const text = PARSER_FIELD_NAMES.map((name) => fields[name]).join(' ');
    // A long expression is read whole, so that cron-parser's checks of a whole expression (its length) apply.
    if (text.length > WHOLE_PARSE_LENGTH) return parseWhole(text, fields);
    return new CronFieldCollection({
      second: parsedField('second', fields.second) as CronFieldCollection['second'],
      minute: parsedField('minute', fields.minute) as CronFieldCollection['minute'],
      hour: parsedField('hour', fields.hour) as CronFieldCollection['hour'],
      dayOfMonth: parsedField('day', fields.day) as CronFieldCollection['dayOfMonth'],
      month: parsedField('month', fields.month) as CronFieldCollection['month'],
      dayOfWeek: parsedField('dayOfWeek', fields.dayOfWeek) as CronFieldCollection['dayOfWeek'],
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const badField = PARSER_FIELD_NAMES.find((name) => !parsesAlone(name, fields[name]));
    const part =
      badField === undefined ? 'expression' : `${badField} field ${describeValue(original[badField])} in`;
    throw new ValueError(`CronTrigger: bad ${part} ${describeValue(expression)}: ${reason}`, {
      cause: error,
    });
  }
}

/** Expressions longer than this are parsed whole rather than field by field (typical ones are under 40). */
const WHOLE_PARSE_LENGTH = 256;

/** The six fields parsed together by cron-parser; a list whose items overlap is merged first. */
function parseWhole(text: string, fields: ExpressionFields): CronFieldCollection {
  try {
    return cronParse(text);
  } catch (error) {
    if (!isDuplicateError(error)) throw error;
    return cronParse(PARSER_FIELD_NAMES.map((name) => mergeListItems(name, fields[name])).join(' '));
  }
}

/** A field as cron-parser parsed it. */
type ParsedField = CronFieldCollection[keyof Pick<
  CronFieldCollection,
  'second' | 'minute' | 'hour' | 'dayOfMonth' | 'month' | 'dayOfWeek'
>];

/** How many distinct field texts stay parsed. */
const FIELD_CACHE_SIZE = 4096;

/**
 * Fields parsed, by name and text: expressions share most of their fields (`0 9 * * 1-5` and `30 9 * * 1-5`
 * differ in one), so a process that reads many distinct expressions (a store of cron tasks at start) asks
 * cron-parser once per distinct field rather than once per expression (a parse costs 35–150 µs).
 */
const fieldCache = new LruCache<string, ParsedField>(FIELD_CACHE_SIZE);

/**
 * One field as cron-parser reads it with every other field `*` (its values do not depend on the others, but for
 * the check `CronFieldCollection` makes of them together). A list whose items overlap is merged first.
 * @throws cron-parser's error for a bad field.
 */
function parsedField(name: ParserFieldName, text: string): ParsedField {
  const key = `${name} ${text}`;
  let field = fieldCache.get(key);
  if (field === undefined) {
    try {
      field = fieldOf(cronParse(probeExpression(name, text)), name);
    } catch (error) {
      if (!isDuplicateError(error)) throw error;
      field = fieldOf(cronParse(probeExpression(name, mergeListItems(name, text))), name);
    }
    fieldCache.set(key, field);
  }
  return field;
}

/** cron-parser's parse, in UTC (the frame wall-clock times are searched in). */
function cronParse(expression: string): CronFieldCollection {
  const parsed: CronExpression = CronExpressionParser.parse(expression, { tz: 'UTC', currentDate: 0 });
  return parsed.fields;
}

function isDuplicateError(error: unknown): boolean {
  return error instanceof Error && error.message.includes(DUPLICATE_VALUES);
}

/**
 * A list field as one list of distinct values (`8-18/2,12` → `8,10,12,14,16,18`), each item read by
 * cron-parser alone; a field without a list is returned as it is.
 * @throws the error of cron-parser for a bad item.
 */
function mergeListItems(name: ParserFieldName, field: string): string {
  if (!field.includes(',')) return field;
  const values = new Set<number | string>();
  for (const item of field.split(',')) {
    const itemValues: ReadonlyArray<number | string> = fieldOf(
      cronParse(probeExpression(name, item)),
      name,
    ).values;
    for (const value of itemValues) values.add(name === 'dayOfWeek' && value === 7 ? 0 : value);
  }
  return [...values].join(',');
}

/** The parsed field called `name` (cron-parser calls the day `dayOfMonth`). */
function fieldOf(fields: CronFieldCollection, name: ParserFieldName) {
  return name === 'day' ? fields.dayOfMonth : fields[name];
}

/** An expression with `value` in field `name` and `*` in every other field. */
function probeExpression(name: ParserFieldName, value: string): string {
  return PARSER_FIELD_NAMES.map((other) => (other === name ? value : '*')).join(' ');
}

/** True when cron-parser accepts `value` as field `name` with every other field `*` (lists merged). */
function parsesAlone(name: ParserFieldName, value: string): boolean {
  try {
    try {
      cronParse(probeExpression(name, value));
    } catch (error) {
      if (!isDuplicateError(error)) throw error;
      cronParse(probeExpression(name, mergeListItems(name, value)));
    }
    return true;
  } catch {
    return false;
  }
}

/** Reads a `W` day field (`15W`, `LW`, any case); `null` when the day field has no `W`. */
function parseNearestWeekday(day: string, dayOfWeek: string): NearestWeekday | null {
  if (!/w/i.test(day)) return null;
  const match = /^(\d{1,2}|L)W$/i.exec(day);
  const named = match?.[1]?.toUpperCase() === 'L' ? 'last' : Number(match?.[1]);
  if (match === null || (named !== 'last' && (named < 1 || named > 31))) {
    throw new ValueError(
      `CronTrigger: bad day field ${describeValue(day)}: W takes one day of month (1W to 31W) or L (LW)`,
    );
  }
  if (dayOfWeek !== '*' && dayOfWeek !== '?') {
    throw new ValueError(
      `CronTrigger: day field ${describeValue(day)} cannot be combined with dayOfWeek ${describeValue(dayOfWeek)}`,
    );
  }
  return named;
}
