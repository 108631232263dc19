/**
 * Random cron expressions and instants for the differential tests of the cron engine, from a seeded
 * PRNG so that a failure reproduces: every field syntax cron-parser reads (`*`, `?`, values, lists,
 * ranges, steps, names, `L`, `nL`, `n#k`), in 5- and 6-field form.
 */

/** A seeded PRNG (mulberry32): the same seed gives the same sequence. */
export class Random {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }
}

const MONTH_NAMES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const WEEKDAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

/** One list item of a numeric field with values min..max: a value, a range, or a step. */
function numericItem(random: Random, min: number, max: number, name?: (value: number) => string): string {
  const value = () => {
    const v = random.int(min, max);
    return name !== undefined && random.chance(0.4) ? name(v) : String(v);
  };
  const kind = random.int(0, 5);
  if (kind <= 1) return value();
  const low = random.int(min, max);
  const high = random.int(low, max);
  const show = (v: number) => (name !== undefined && random.chance(0.4) ? name(v) : String(v));
  if (kind === 2) return `${show(low)}-${show(high)}`;
  const step = random.int(1, Math.max(1, Math.ceil((max - min) / 2)));
  if (kind === 3) return `${show(low)}-${show(high)}/${step}`;
  if (kind === 4) return `*/${step}`;
  return `${low}/${step}`;
}

/**
 * A field of values min..max: `*`, one item, or a list of items whose values do not repeat (cron-parser
 * refuses repeated values; kairos accepts them, which is tested apart).
 */
export function numericField(
  random: Random,
  min: number,
  max: number,
  name?: (value: number) => string,
): string {
  const shape = random.next();
  if (shape < 0.3) return '*';
  if (shape < 0.75) return numericItem(random, min, max, name);
  const count = random.int(2, 3);
  const items: string[] = [];
  for (let i = 0; i < count; i++) items.push(numericItem(random, min, max, name));
  return items.join(',');
}

/** A day-of-month field: numeric, or with `L`, or `?`. */
function dayField(random: Random): string {
  const shape = random.next();
  if (shape < 0.08) return '?';
  if (shape < 0.16) return 'L';
  if (shape < 0.22) return `${random.int(1, 28)},L`;
  return numericField(random, 1, 31);
}

/** A day-of-week field: numeric (0-7, names), `nL`, `n#k`, or `?`. */
function weekdayField(random: Random): string {
  const shape = random.next();
  const weekday = () => (random.chance(0.3) ? random.pick(WEEKDAY_NAMES) : String(random.int(0, 7)));
  if (shape < 0.08) return '?';
  if (shape < 0.16) return `${random.int(0, 7)}L`;
  if (shape < 0.24) return `${weekday()}#${random.int(1, 5)}`;
  if (shape < 0.28) return `${random.int(0, 6)},${random.int(0, 7)}L`.replace(/^(\d),\1L$/, '$1');
  return numericField(random, 0, 7, (v) => WEEKDAY_NAMES[v % 7] as string);
}

/** A random 5- or 6-field expression in cron-parser's syntax (it may still refuse some: duplicates). */
export function randomExpression(random: Random): string {
  const fields = [
    // Seconds and minutes mostly sparse, so that a match is often far.
    random.chance(0.5) ? String(random.int(0, 59)) : numericField(random, 0, 59),
    random.chance(0.4) ? String(random.int(0, 59)) : numericField(random, 0, 59),
    random.chance(0.4) ? String(random.int(0, 23)) : numericField(random, 0, 23),
    dayField(random),
    numericField(random, 1, 12, (v) => MONTH_NAMES[v - 1] as string),
    weekdayField(random),
  ];
  return random.chance(0.5) ? fields.slice(1).join(' ') : fields.join(' ');
}

/** A random instant (UTC ms) from 1970 to 2099, sometimes on a whole minute, hour or day. */
export function randomInstant(random: Random): number {
  const instant = random.int(0, Date.UTC(2100, 0, 1) - 1);
  const align = random.pick([1, 1, 1000, 60_000, 3_600_000, 86_400_000]);
  return Math.floor(instant / align) * align;
}

/** A random year field (kairos' 7th field): years, ranges and steps from 2020 to 2090, or `*` with a step. */
export function randomYearField(random: Random): string {
  const item = () => {
    const first = random.int(2020, 2090);
    const kind = random.int(0, 4);
    if (kind === 0) return String(first);
    if (kind === 1) return `${first}-${random.int(first, 2099)}`;
    if (kind === 2) return `${first}/${random.int(1, 12)}`;
    if (kind === 3) return `${first}-${random.int(first, 2099)}/${random.int(1, 6)}`;
    return `*/${random.int(1, 30)}`;
  };
  return random.chance(0.7) ? item() : `${item()},${item()}`;
}

/** A random `W` day field: `nW` (n from 1 to 31) or `LW`, in any case. */
export function randomNearestWeekdayField(random: Random): string {
  const field = random.chance(0.2) ? 'LW' : `${random.int(1, 31)}W`;
  return random.chance(0.3) ? field.toLowerCase() : field;
}
