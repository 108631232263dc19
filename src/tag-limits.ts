/**
 * Tag concurrency limits (API.md "Task composition") for the stores only this scheduler uses: the limits the
 * scheduler was given (`concurrencyLimits`, `setConcurrencyLimit`) and the runs in progress per tag. A shared
 * store keeps its own limits and counts runs across every scheduler sharing it (its run slots).
 */
import { ValueError } from './errors.js';
import { parseTag } from './tags.js';
import { describeValue, isPlainObject } from './validate.js';

/** Checks a tag's limit: a non-negative integer (0 holds every run of the tag), or null for none. */
export function checkConcurrencyLimit(tag: unknown, limit: unknown, what: string): number | null {
  parseTag(tag, `${what}: a tag`);
  if (limit === null) return null;
  if (!Number.isSafeInteger(limit) || (limit as number) < 0) {
    throw new ValueError(
      `${what}: the limit of tag ${describeValue(tag)} must be a non-negative integer or null, got ${describeValue(limit)}`,
    );
  }
  return limit as number;
}

/** Parses the scheduler option `concurrencyLimits`: `{ [tag]: n }`. */
export function parseConcurrencyLimits(input: unknown): Map<string, number> {
  const limits = new Map<string, number>();
  if (input === undefined) return limits;
  const prototype = isPlainObject(input) ? Object.getPrototypeOf(input) : undefined;
  if (prototype !== Object.prototype && prototype !== null) {
    throw new ValueError(
      `Scheduler: concurrencyLimits must be an object of tag limits like { db: 10 }, got ${describeValue(input)}`,
    );
  }
  for (const [tag, limit] of Object.entries(input as Record<string, unknown>)) {
    const checked = checkConcurrencyLimit(tag, limit, 'Scheduler: concurrencyLimits');
    if (checked === null) {
      throw new ValueError(
        `Scheduler: concurrencyLimits: the limit of tag ${describeValue(tag)} must be a non-negative integer, got null`,
      );
    }
    limits.set(tag, checked);
  }
  return limits;
}

/** The limits and the runs in progress per tag, for the stores only this scheduler uses. */
export class LocalTagLimits {
  readonly #limits: Map<string, number>;
  /** Tags whose limit `set` removed: a shared store that still has one is told at start. */
  readonly #removed = new Set<string>();
  /** Runs in progress per tag (every tag of a run, limited or not: a limit set later counts them). */
  readonly #running = new Map<string, number>();

  constructor(limits: Map<string, number>) {
    this.#limits = limits;
  }

  /** Sets (null: removes) a tag's limit. */
  set(tag: string, limit: number | null): void {
    if (limit === null) {
      this.#limits.delete(tag);
      this.#removed.add(tag);
    } else {
      this.#limits.set(tag, limit);
      this.#removed.delete(tag);
    }
  }

  /** The tags whose limit was removed with `set(tag, null)` (and not set again since). */
  removed(): IterableIterator<string> {
    return this.#removed.values();
  }

  /** The limits, as the scheduler option gives them. */
  entries(): IterableIterator<[string, number]> {
    return this.#limits.entries();
  }

  /** The first of `tags` at its limit, or undefined when a run with these tags may start. */
  blockedBy(tags: readonly string[]): string | undefined {
    if (this.#limits.size === 0) return undefined;
    for (const tag of tags) {
      const limit = this.#limits.get(tag);
      if (limit !== undefined && (this.#running.get(tag) ?? 0) >= limit) return tag;
    }
    return undefined;
  }

  /** Counts a run with these tags as in progress. */
  add(tags: readonly string[]): void {
    for (const tag of tags) this.#running.set(tag, (this.#running.get(tag) ?? 0) + 1);
  }

  /** A run with these tags ended. True if one of them has a limit (a waiting run may start now). */
  release(tags: readonly string[]): boolean {
    let limited = false;
    for (const tag of tags) {
      const running = this.#running.get(tag) ?? 0;
      if (running > 1) this.#running.set(tag, running - 1);
      else this.#running.delete(tag);
      if (this.#limits.has(tag)) limited = true;
    }
    return limited;
  }
}
