/**
 * Internal to `FileStore` (stores/file.ts), not a public API: which rewrites of the document its watches report.
 * Every write of the store adds one to the document's `revision` unless all it changed is quiet (run history, run
 * slots, a request taken or cancelled): nobody else needs to hear of those, and each wake-up costs a peer a read
 * of the whole document. A watch reads the revision from the head of the file (a few hundred bytes, not the
 * document) and reports a revision it has not accounted for. The store's own writes are accounted for as they
 * are made (`wrote`), so a peer's change that came before one of them is still reported.
 */
import { open } from 'node:fs/promises';

/** How much of the file's head is read: `format`, `version` and `revision` are its first lines. */
const HEAD_BYTES = 256;
/** The head of a document this release (or a later one that keeps the layout) wrote. */
const HEAD = /^\{\s*"format":\s*"[^"]*",\s*"version":\s*\d+,\s*"revision":\s*(\d+)\s*,/;

/**
 * The revision written at the head of the document at `path`; null if the file is missing, or if its head is
 * laid out otherwise (a document edited by hand: the watch then reports the write).
 */
export async function readRevision(path: string): Promise<number | null> {
  const handle = await open(path, 'r').catch(() => null);
  if (handle === null) return null;
  try {
    const head = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await handle.read(head, 0, HEAD_BYTES, 0);
    const match = HEAD.exec(head.toString('utf8', 0, bytesRead));
    return match === null ? null : Number(match[1]);
  } finally {
    await handle.close();
  }
}

/** What one watch has accounted for: the revision it last reported or saw this store write. */
export interface WatchedRevision {
  seen: number | null;
}

/** The revisions the watches of one store instance have accounted for. */
export class WatchedRevisions {
  readonly #watches = new Set<WatchedRevision>();

  /** Starts accounting for a new watch, from `revision` (the one of the document as the store last read it). */
  add(revision: number | null): WatchedRevision {
    const watched = { seen: revision };
    this.#watches.add(watched);
    return watched;
  }

  /** Stops accounting for a watch. */
  delete(watched: WatchedRevision): void {
    this.#watches.delete(watched);
  }

  /**
   * Notes a write of this store, made on a document it read at revision `before`, that left it at `after`. A watch
   * that had not accounted for `before` (a peer's change it has not reported yet) is left as it is.
   */
  wrote(before: number, after: number): void {
    for (const watched of this.#watches) if (watched.seen === before) watched.seen = after;
  }

  /** Stops accounting for every watch (at `close()`). */
  clear(): void {
    this.#watches.clear();
  }

  /** True if `revision` (read from the file) is a change `watched` has not reported yet; it then counts as reported. */
  report(watched: WatchedRevision, revision: number): boolean {
    if (revision === watched.seen) return false;
    watched.seen = revision;
    return true;
  }
}
