/**
 * Internal to `SQLiteStore` (stores/sqlite.ts), not a public API: running a statement or transaction while
 * another connection may hold the database's write lock. better-sqlite3 is synchronous, so SQLite's own busy
 * wait would stop the event loop: the driver waits a few ms at most, and past that a transaction is tried
 * again after `setTimeout` delays until `busyTimeout`. Also how SQLite's errors are named with the file.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { KairosError, SerializationError } from '../src/errors.js';
import { errorCode } from './support/store-path.js';

/**
 * SQLite's own busy wait, which blocks the event loop: just enough for the lock to change hands between two
 * quick transactions of other processes. Longer waits are `busyTimeout`'s, asynchronous.
 */
export const DRIVER_BUSY_TIMEOUT_MS = 2;
/** First and largest delay between two tries of a transaction that found the database locked. */
const BUSY_RETRY_FIRST_MS = 2;
const BUSY_RETRY_MAX_MS = 50;

/** How a statement waits for a lock another connection holds (see `runWhileBusy`). */
export interface BusyWait {
  path: string;
  timeoutMs: number;
  /** False once the connection the statement runs on is closed (or replaced): the wait then ends. */
  alive: () => boolean;
}

/**
 * Names the file in SQLite's errors: "not a database" and "corrupt" become a `SerializationError`, any other
 * SQLite error (I/O, read-only, disk full) a `KairosError`, each with the driver's error as `cause`. Other
 * errors (kairos' own, a failing task change) pass unchanged.
 */
export function asStoreError(error: unknown, path: string): unknown {
  const code = errorCode(error);
  if (code === undefined || !code.startsWith('SQLITE_')) return error;
  const message = (error as Error).message;
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new SerializationError(
      `SQLiteStore: '${path}' is corrupt or not a database (${message}); it is left untouched`,
      { cause: error },
    );
  }
  return new KairosError(`SQLiteStore: '${path}': ${message} (${code})`, { cause: error });
}

/** True for SQLite's "another connection holds a lock" errors (`SQLITE_BUSY*`, `SQLITE_LOCKED*`). */
function isBusy(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/**
 * Runs `run` now; if the database is locked by another connection, tries it again after growing `setTimeout`
 * delays (the event loop runs meanwhile) until `busyTimeout` has passed, then fails with a `KairosError` that
 * says the database is locked. `run` must be a whole transaction or one statement, so that a try that failed
 * left nothing behind. Returns synchronously when the first try succeeds or fails otherwise.
 */
export function runWhileBusy<T>(run: () => T, wait: BusyWait): T | Promise<T> {
  try {
    return run();
  } catch (error) {
    if (!isBusy(error)) throw asStoreError(error, wait.path);
    return retryWhileBusy(run, wait, error);
  }
}

async function retryWhileBusy<T>(run: () => T, wait: BusyWait, firstError: unknown): Promise<T> {
  // The first try already waited the driver's own busy timeout.
  const deadline = Date.now() + wait.timeoutMs - DRIVER_BUSY_TIMEOUT_MS;
  let lastError = firstError;
  let delay = BUSY_RETRY_FIRST_MS;
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      throw new KairosError(
        `SQLiteStore: the database '${wait.path}' is locked: another connection (a process in a long or stuck write transaction) held its lock for all of busyTimeout (${wait.timeoutMs} ms)`,
        { cause: lastError },
      );
    }
    await sleep(Math.min(delay, remaining));
    delay = Math.min(delay * 2, BUSY_RETRY_MAX_MS);
    if (!wait.alive())
      throw new KairosError(`SQLiteStore '${wait.path}' was closed while waiting for its lock`, {
        cause: lastError,
      });
    try {
      return run();
    } catch (error) {
      if (!isBusy(error)) throw asStoreError(error, wait.path);
      lastError = error;
    }
  }
}
