/**
 * A compact set of the values of one cron time field (seconds, minutes, hours, months): two 32-bit
 * masks, with constant-time "first value at or after" and "last value at or before" look-ups (bit
 * scans). Sets are shared: `ValueSet.of` hands out one instance per distinct set, so the tasks of a
 * scheduler hold a few dozen of them however many expressions they use.
 */
import { ValueError } from '../errors.js';
import { LruCache } from '../lru-cache.js';

/** The largest value a field may hold: the masks have 64 bits. */
const MAX_VALUE = 63;
/** How many distinct sets stay shared. */
const SHARED_SETS = 4096;
const shared = new LruCache<string, ValueSet>(SHARED_SETS);

/** The allowed values of a field whose values lie in `0..max` (`max` at most 63). */
export class ValueSet {
  /** Bit `v` set: value `v` (0..31) is allowed. */
  readonly #low: number;
  /** Bit `v - 32` set: value `v` (32..63) is allowed. */
  readonly #high: number;
  /** The smallest allowed value. */
  readonly first: number;
  /** The largest allowed value. */
  readonly last: number;

  /**
   * @param values the allowed values, each an integer in `0..max` (at least one; duplicates are fine).
   * @param max the largest value the field can hold (at most 63).
   */
  constructor(values: Iterable<number>, max: number) {
    if (max > MAX_VALUE) throw new ValueError(`CronTrigger: a field holds values up to ${MAX_VALUE}`);
    let low = 0;
    let high = 0;
    for (const value of values) {
      if (!Number.isInteger(value) || value < 0 || value > max) {
        throw new ValueError(`CronTrigger: field value ${value} is outside 0-${max}`);
      }
      if (value < 32) low |= 1 << value;
      else high |= 1 << (value - 32);
    }
    if (low === 0 && high === 0) throw new ValueError('CronTrigger: a field needs at least one value');
    this.#low = low;
    this.#high = high;
    this.first = this.next(0);
    this.last = this.previous(MAX_VALUE);
  }

  /** The set of these values, shared with every other caller asking for the same set. */
  static of(values: Iterable<number>, max: number): ValueSet {
    const set = new ValueSet(values, max);
    const key = `${max}:${set.#low}:${set.#high}`;
    const known = shared.get(key);
    if (known !== undefined) return known;
    shared.set(key, set);
    return set;
  }

  /** The smallest allowed value at or after `value` (any integer >= 0), or -1 when none is left. */
  next(value: number): number {
    if (value < 32) {
      const low = this.#low & (-1 << value);
      if (low !== 0) return lowestBit(low);
      return this.#high === 0 ? -1 : 32 + lowestBit(this.#high);
    }
    if (value > MAX_VALUE) return -1;
    const high = this.#high & (-1 << (value - 32));
    return high === 0 ? -1 : 32 + lowestBit(high);
  }

  /** The largest allowed value at or before `value` (any integer), or -1 when none is left. */
  previous(value: number): number {
    if (value < 0) return -1;
    if (value >= 32) {
      const high = this.#high & upTo(Math.min(value, MAX_VALUE) - 32);
      if (high !== 0) return 32 + highestBit(high);
      return this.#low === 0 ? -1 : highestBit(this.#low);
    }
    const low = this.#low & upTo(value);
    return low === 0 ? -1 : highestBit(low);
  }
}

/** The mask of bits 0..`bit` (0..31). */
function upTo(bit: number): number {
  return bit === 31 ? -1 : (1 << (bit + 1)) - 1;
}

/** The index of the lowest set bit of a non-zero mask. */
function lowestBit(mask: number): number {
  return 31 - Math.clz32(mask & -mask);
}

/** The index of the highest set bit of a non-zero mask. */
function highestBit(mask: number): number {
  return 31 - Math.clz32(mask);
}
