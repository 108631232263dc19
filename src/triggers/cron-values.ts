/**
 * A compact set of the values of one cron time field (seconds, minutes, hours, months), with
 * constant-time "first value at or after" and "last value at or before" look-ups.
 */
import { ValueError } from '../errors.js';

/** The allowed values of a field whose values lie in `0..max`, as two lookup tables. */
export class ValueSet {
  /** `nextAt[v]`: the smallest allowed value `>= v`, or -1 (`v` up to `max + 1`). */
  readonly #nextAt: Int8Array;
  /** `previousAt[v]`: the largest allowed value `<= v`, or -1. */
  readonly #previousAt: Int8Array;
  /** The smallest allowed value. */
  readonly first: number;
  /** The largest allowed value. */
  readonly last: number;

  /**
   * @param values the allowed values, each an integer in `0..max` (at least one; duplicates are fine).
   * @param max the largest value the field can hold (at most 126).
   */
  constructor(values: Iterable<number>, max: number) {
    const allowed = new Uint8Array(max + 1);
    for (const value of values) {
      if (!Number.isInteger(value) || value < 0 || value > max) {
        throw new ValueError(`CronTrigger: field value ${value} is outside 0-${max}`);
      }
      allowed[value] = 1;
    }
    this.#nextAt = new Int8Array(max + 2).fill(-1);
    this.#previousAt = new Int8Array(max + 1).fill(-1);
    for (let value = max; value >= 0; value--) {
      this.#nextAt[value] = allowed[value] === 1 ? value : (this.#nextAt[value + 1] as number);
    }
    for (let value = 0; value <= max; value++) {
      const before = value === 0 ? -1 : (this.#previousAt[value - 1] as number);
      this.#previousAt[value] = allowed[value] === 1 ? value : before;
    }
    this.first = this.#nextAt[0] as number;
    this.last = this.#previousAt[max] as number;
    if (this.first === -1) throw new ValueError('CronTrigger: a field needs at least one value');
  }

  /** The smallest allowed value at or after `value` (any integer >= 0), or -1 when none is left. */
  next(value: number): number {
    return value < this.#nextAt.length ? (this.#nextAt[value] as number) : -1;
  }

  /** The largest allowed value at or before `value` (any integer), or -1 when none is left. */
  previous(value: number): number {
    if (value < 0) return -1;
    return value < this.#previousAt.length ? (this.#previousAt[value] as number) : this.last;
  }
}
