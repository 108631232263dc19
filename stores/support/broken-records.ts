/**
 * Internal to kairos' file-backed stores (`FileStore`, `SQLiteStore`), not a public API: the stored records that
 * cannot be read back (corrupt JSON, an unknown trigger type). Each is reported once (`reportBrokenRecord`) and
 * remembered with the content it was found unreadable in, so that it is skipped, never rewritten, and reported
 * again only once that content changes.
 */
import { SerializationError } from '../../src/errors.js';
import type { StoreContext } from '../../src/store.js';

/** Why the stored record `id` cannot be read back, as a `SerializationError` naming the task. */
export function unreadableRecordError(id: string, error: unknown): SerializationError {
  return error instanceof SerializationError
    ? error
    : new SerializationError(`task '${id}': ${(error as Error).message}`);
}

/** The unreadable records one store instance knows of, by id, with their content. */
export class BrokenRecords {
  readonly #known = new Map<string, string>();

  /** How many records are known to be unreadable. */
  get size(): number {
    return this.#known.size;
  }

  /** True if the record `id` is known to be unreadable in exactly this content: skip it, unread. */
  isKnown(id: string, content: string): boolean {
    return this.#known.get(id) === content;
  }

  /** Notes that the record `id` cannot be read back in this content; reports it unless it was for this content. */
  report(
    id: string,
    content: string,
    error: SerializationError,
    context: StoreContext | null | undefined,
  ): void {
    if (this.#known.get(id) === content) return;
    this.#known.set(id, content);
    context?.reportBrokenRecord(id, error);
  }

  /**
   * Reads the record `id` through `read`: null, without calling it, if this content is known to be unreadable;
   * null, reported (see `report`), if `read` throws; else what `read` returns, and `id` is forgotten.
   */
  read<T>(id: string, content: string, read: () => T, context: StoreContext | null | undefined): T | null {
    if (this.isKnown(id, content)) return null;
    try {
      const value = read();
      this.#known.delete(id);
      return value;
    } catch (error) {
      this.report(id, content, unreadableRecordError(id, error), context);
      return null;
    }
  }

  /** Forgets the record `id` (it was rewritten). */
  forget(id: string): void {
    this.#known.delete(id);
  }

  /** Forgets every record (at `start()`). */
  clear(): void {
    this.#known.clear();
  }
}
