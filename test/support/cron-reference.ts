/**
 * A brute-force reference for the parts of kairos' cron syntax that cron-parser lacks (the `W` day
 * and the year field), written without src/triggers: numeric fields are expanded naively and days
 * are walked one at a time with `Date`.
 */

/**
 * The values of a numeric field (`*`, `?`, `n`, `a-b`, `n/s`, `a-b/s`, `*\/s`, comma lists) within
 * `min..max`; `n/s` runs from n to max, as in cron.
 */
export function expandNumericField(field: string, min: number, max: number): Set<number> {
  const values = new Set<number>();
  for (const item of field.split(',')) {
    const [range = '', stepText] = item.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    let low: number;
    let high: number;
    if (range === '*' || range === '?') {
      low = min;
      high = max;
    } else if (range.includes('-')) {
      [low, high] = range.split('-').map(Number) as [number, number];
    } else {
      low = Number(range);
      high = stepText === undefined ? low : max;
    }
    for (let value = low; value <= high; value += step) values.add(value);
  }
  return values;
}

/** The day the rule `nW` (`named` = n) or `LW` (`named` = 'last') picks in a month, or null. */
export function referenceNearestWeekday(named: number | 'last', year: number, month: number): number | null {
  const length = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const day = named === 'last' ? length : named;
  if (day > length) return null;
  const weekday = new Date(Date.UTC(year, month, day)).getUTCDay();
  if (weekday === 6) return day === 1 ? 3 : day - 1; // Saturday: Friday, or Monday the 3rd
  if (weekday === 0) return day === length ? day - 2 : day + 1; // Sunday: Monday, or Friday before the end
  return day;
}

/** A 7-field expression `s m h day month * year` with numeric fields, read by the reference. */
export interface ReferenceExpression {
  seconds: Set<number>;
  minutes: Set<number>;
  hours: Set<number>;
  /** True when day `day` of month `month` (0-based) of `year` matches. */
  dayMatches: (year: number, month: number, day: number) => boolean;
  /** Months, 1-12. */
  months: Set<number>;
  /** Years, or null for every year. */
  years: Set<number> | null;
}

/**
 * The first wall time (UTC ms, whole seconds) at or after `from` that `expression` matches, looking
 * at most `maxDays` days ahead; `null` when there is none in that span.
 */
export function referenceNext(expression: ReferenceExpression, from: number, maxDays: number): number | null {
  const start = Math.ceil(from / 1000) * 1000;
  const firstDay = Math.floor(start / 86_400_000) * 86_400_000;
  const sorted = (values: Set<number>) => [...values].sort((a, b) => a - b);
  const hours = sorted(expression.hours);
  const minutes = sorted(expression.minutes);
  const seconds = sorted(expression.seconds);
  for (let dayStart = firstDay, n = 0; n <= maxDays; n++, dayStart += 86_400_000) {
    const date = new Date(dayStart);
    const year = date.getUTCFullYear();
    if (expression.years !== null && !expression.years.has(year)) continue;
    if (!expression.months.has(date.getUTCMonth() + 1)) continue;
    if (!expression.dayMatches(year, date.getUTCMonth(), date.getUTCDate())) continue;
    for (const hour of hours) {
      for (const minute of minutes) {
        for (const second of seconds) {
          const wall = dayStart + ((hour * 60 + minute) * 60 + second) * 1000;
          if (wall >= start) return wall;
        }
      }
    }
  }
  return null;
}
