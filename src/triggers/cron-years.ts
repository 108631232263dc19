/**
 * kairos' 7th cron field, the year (cron-parser has none): `*`, years, ranges, `/` steps and lists,
 * from 1970 to 9999 (`2025`, `2025-2030`, `2025/2`, `*\/5`, `2026,2028-2034/3`). A step reads as in
 * the other fields: `2025/2` is every second year from 2025 on, `*\/2` every second year from 1970.
 */
import { ValueError } from '../errors.js';
import { describeValue } from '../validate.js';

/** The first year a year field names explicitly. */
export const MIN_YEAR = 1970;
/** The last year any field can match (wall-clock times end with year 9999). */
export const MAX_YEAR = 9999;
/** The first year matched when the year field is `*` (the calendar the engine handles starts there). */
const FIRST_CALENDAR_YEAR = 1;

/** One item of a year list: `first`, `first + step`, ... up to `last`. */
interface YearRange {
  readonly first: number;
  readonly last: number;
  readonly step: number;
}

/** The years a year field allows, with look-ups in time linear in the number of list items. */
export class YearSet {
  /** The list items. */
  readonly #ranges: readonly YearRange[];

  private constructor(ranges: readonly YearRange[]) {
    this.#ranges = ranges;
  }

  /** Every year (the field `*` or `?`, or no year field). */
  static readonly EVERY = new YearSet([{ first: FIRST_CALENDAR_YEAR, last: MAX_YEAR, step: 1 }]);

  /**
   * Parses a year field.
   * @throws ValueError naming the field and the bad item.
   */
  static parse(field: string): YearSet {
    if (field === '*' || field === '?') return YearSet.EVERY;
    return new YearSet(field.split(',').map((item) => parseYearItem(item, field)));
  }

  /** The first allowed year at or after `year`, or `null`. */
  next(year: number): number | null {
    let best: number | null = null;
    for (const { first, last, step } of this.#ranges) {
      const candidate = year <= first ? first : first + Math.ceil((year - first) / step) * step;
      if (candidate <= last && (best === null || candidate < best)) best = candidate;
    }
    return best;
  }

  /** The last allowed year at or before `year`, or `null`. */
  previous(year: number): number | null {
    let best: number | null = null;
    for (const { first, last, step } of this.#ranges) {
      if (year < first) continue;
      const candidate = first + Math.floor((Math.min(year, last) - first) / step) * step;
      if (best === null || candidate > best) best = candidate;
    }
    return best;
  }
}

/** One item of a year list: `*`, `2025`, `2025-2030`, with an optional `/step`. */
function parseYearItem(item: string, field: string): YearRange {
  const match = /^(?:(\*)|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(item);
  if (match === null) throw badYear(field, `${describeValue(item)} is not a year, range or step`);
  const [, star, firstText, lastText, stepText] = match;
  const step = stepText === undefined ? 1 : Number(stepText);
  const first = star === undefined ? Number(firstText) : MIN_YEAR;
  // `2025/2` runs to the last year, as `5/20` does in the other fields; `2025` alone is that year.
  const runsToEnd = star !== undefined || (lastText === undefined && stepText !== undefined);
  const last = runsToEnd ? MAX_YEAR : lastText === undefined ? first : Number(lastText);
  if (first < MIN_YEAR || last > MAX_YEAR || first > last) {
    throw badYear(field, `${describeValue(item)} is outside ${MIN_YEAR}-${MAX_YEAR} or reversed`);
  }
  if (step < 1) throw badYear(field, `step ${step} must be positive`);
  return { first, last, step };
}

function badYear(field: string, reason: string): ValueError {
  return new ValueError(`CronTrigger: bad year field ${describeValue(field)}: ${reason}`);
}
