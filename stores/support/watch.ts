/**
 * Internal to kairos' file-backed stores (`FileStore`, `SQLiteStore`), not a public API: `TaskStore.watch`, the
 * watch of a store file's directory that tells the scheduler about other processes' changes. Each store says
 * only how it tells another process's change from its own write (`WatchTarget.isForeign`).
 */
import { type FSWatcher, watch as watchFs } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';

/** File system events closer together than this are checked once. */
const WATCH_DEBOUNCE_MS = 25;

/** What a store watches, and how it decides that a change is worth telling. */
export interface WatchTarget {
  /** The store's name, for the log (`'FileStore'`). */
  store: string;
  /**
   * The store's file. Its directory is watched, not the file: a file replaced by rename cannot be watched
   * itself, and a database is changed through files next to it.
   */
  path: string;
  /** The names, in that directory, of the files whose events count (the store file, SQLite's `-wal`). */
  files: readonly string[];
  /** The logger a failure of the watch is reported to, asked when it fails. */
  logger(): Logger | undefined;
  /**
   * Whether the file changed because another process changed the store (not this instance's own write), asked
   * once events calmed down. A rejection counts as "no"; it is never thrown out of a timer callback.
   */
  isForeign(): boolean | Promise<boolean>;
}

/** The watches of one store instance, so that `close()` can stop them all. */
export class StoreWatches {
  readonly #stops = new Set<() => void>();

  /**
   * Calls `listener` (debounced) when another process changes the store, seen through `fs.watch` on the
   * directory of `target.path` and confirmed by `target.isForeign()`. Like the scheduler's timer, a watch keeps
   * the process alive (a worker waiting for tasks another process adds) until it is stopped. Returns a
   * function that stops watching.
   */
  watch(target: WatchTarget, listener: () => void): () => void {
    const files = new Set(target.files);
    let timer: NodeJS.Timeout | undefined;
    const check = () => {
      const foreign = target.isForeign();
      if (foreign === true) listener();
      else if (foreign !== false) foreign.then((yes) => yes && listener()).catch(() => {});
    };
    const watcher: FSWatcher = watchFs(dirname(target.path), (_event, filename) => {
      if (filename === null || !files.has(filename)) return;
      clearTimeout(timer);
      timer = setTimeout(check, WATCH_DEBOUNCE_MS);
      timer.unref();
    });
    watcher.on('error', (error) =>
      target.logger()?.warn({ err: error, path: target.path }, `${target.store}: watching stopped`),
    );
    const stop = () => {
      clearTimeout(timer);
      watcher.close();
      this.#stops.delete(stop);
    };
    this.#stops.add(stop);
    return stop;
  }

  /** Stops every watch (at `close()`). */
  stopAll(): void {
    for (const stop of [...this.#stops]) stop();
  }
}
