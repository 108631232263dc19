/**
 * Internal to `FileStore` (stores/file.ts), not a public API: the inter-process lock on the document
 * (proper-lockfile, `<path>.lock`), its settings from `lockStale`, and the errors that say why it could not be
 * taken. Waiting for a lock another process holds is asynchronous (retries on timers); a killed holder's lock is
 * taken over after `lockStale`.
 */
import { lock as lockFile } from 'proper-lockfile';
import { KairosError, ValueError } from '../src/errors.js';
import { MAX_TIMER_DELAY_MS, parseDuration } from '../src/time.js';
import { describeValue } from '../src/validate.js';
import { documentDeletedError } from './file-io.js';
import { describeIoError, errorCode } from './support/store-path.js';

/** `lockStale` by default. */
const DEFAULT_LOCK_STALE_MS = 5000;
/** proper-lockfile's smallest `stale` (it silently raises smaller values). */
const MIN_LOCK_STALE_MS = 2000;
/** proper-lockfile's smallest `update` interval. */
const MIN_LOCK_UPDATE_MS = 1000;
/** First and largest delay between two tries to take a lock another process holds. */
const LOCK_RETRY_FIRST_MS = 2;
const LOCK_RETRY_MAX_MS = 25;
/** The longest pause between two tries, however long `lockStale` is. */
const LOCK_RETRY_CEILING_MS = 60_000;
/** How many times `lockStale` the tries to take a lock another process holds last, at least. */
const LOCK_WAIT_FACTOR = 2;

/** Options of proper-lockfile's `lock()` that follow from `lockStale`. */
interface LockOptions {
  stale: number;
  update: number;
  retries: { retries: number; minTimeout: number; maxTimeout: number; factor: number; randomize: boolean };
}

let instances = 0;

/** The lock on one document, as one `FileStore` instance takes it. */
export class DocumentLock {
  readonly #path: string;
  readonly #staleMs: number;
  /** The key proper-lockfile files this instance's lock under (its lock directory is shared: `<path>.lock`). */
  readonly #key: string;
  /** How the lock is taken and kept, from `lockStale`. */
  readonly #options: LockOptions;
  /** While `run` holds the lock: when it was taken, and why it was lost if proper-lockfile said so. */
  #held: { since: number; lost: Error | null } | null = null;

  /** The lock on the document `path`, taken over from a killed holder after `staleMs`. */
  constructor(path: string, staleMs: number) {
    this.#path = path;
    this.#staleMs = staleMs;
    this.#options = lockOptionsFor(staleMs);
    this.#key = `${path}#kairos-file-store-${++instances}`;
  }

  /**
   * Runs `work` holding the lock, then releases it and runs `afterRelease` (which must not throw) before
   * resolving, whether `work` succeeded or not.
   * @throws KairosError if the lock cannot be taken, or was lost (taken over as stale) while `work` ran.
   */
  async run<T>(work: () => Promise<T>, afterRelease: () => Promise<void>): Promise<T> {
    const held: { since: number; lost: Error | null } = { since: 0, lost: null };
    let release: () => Promise<void>;
    try {
      release = await lockFile(this.#key, {
        ...this.#options,
        realpath: false,
        lockfilePath: `${this.#path}.lock`,
        onCompromised: (error) => {
          held.lost = error;
        },
      });
    } catch (error) {
      throw this.#lockError(error);
    }
    held.since = Date.now();
    this.#held = held;
    try {
      const result = await work();
      this.assertHeld();
      return result;
    } finally {
      this.#held = null;
      await release().catch(() => {});
      await afterRelease();
    }
  }

  /**
   * Throws unless the lock is surely still this holder's: proper-lockfile did not report it lost, and it was
   * taken less than half of `lockStale` ago. A holder that was paused (SIGSTOP, a suspended VM, a long GC) may
   * have had its lock taken over as stale meanwhile, before it could notice: it must not rename its document,
   * read before the pause, over the one another process wrote since. Called right before the rename.
   */
  assertHeld(): void {
    const held = this.#held;
    if (held === null) throw new KairosError(`FileStore: the lock on '${this.#path}' is not held`);
    if (held.lost !== null)
      throw new KairosError(`FileStore: lost the lock on '${this.#path}' while writing`, {
        cause: held.lost,
      });
    const heldMs = Date.now() - held.since;
    if (heldMs >= this.#staleMs / 2) {
      throw new KairosError(
        `FileStore: held the lock on '${this.#path}' for ${heldMs} ms, half of lockStale (${this.#staleMs} ms) or more (was the process paused?); another process may have taken it over, so this write is dropped and tried again`,
      );
    }
  }

  /** Why the lock could not be taken, naming the file. */
  #lockError(error: unknown): KairosError {
    const code = errorCode(error);
    if (code === 'ENOENT') return documentDeletedError(this.#path, error);
    if (code === 'ELOCKED') {
      return new KairosError(
        `FileStore: the task file '${this.#path}' is locked by another process: its lock '${this.#path}.lock' stayed held through ${this.#options.retries.retries} tries (${(LOCK_WAIT_FACTOR * this.#staleMs) / 1000} s or more). A killed holder's lock is taken over after lockStale (${this.#staleMs} ms), so a live process holds it`,
        { cause: error },
      );
    }
    return new KairosError(`FileStore: cannot lock '${this.#path}' (${describeIoError(error)})`, {
      cause: error,
    });
  }
}

/** Validates `lockStale`: a duration of at least proper-lockfile's minimum, 2 s. */
export function parseLockStale(input: unknown): number {
  if (input === undefined) return DEFAULT_LOCK_STALE_MS;
  const staleMs = parseDuration(input, 'FileStore: lockStale');
  if (staleMs < MIN_LOCK_STALE_MS) {
    throw new ValueError(
      `FileStore: lockStale: ${describeValue(input)} is ${staleMs} ms, below proper-lockfile's minimum of ${MIN_LOCK_STALE_MS} ms`,
    );
  }
  if (staleMs / 5 > MAX_TIMER_DELAY_MS) {
    throw new ValueError(
      `FileStore: lockStale: ${describeValue(input)} is ${staleMs} ms, more than ${5 * MAX_TIMER_DELAY_MS} ms`,
    );
  }
  return staleMs;
}

/**
 * The lock's settings: refreshed every `lockStale / 5` (at least every second), and tried again (asynchronously,
 * on timers) for at least `LOCK_WAIT_FACTOR` times `lockStale` while another process holds it, which outlasts
 * a killed holder's lock.
 */
function lockOptionsFor(staleMs: number): LockOptions {
  // The pause between tries grows with lockStale (from 25 ms at 5 s): the retry library builds an array of all
  // its tries up front, so their number must stay in the hundreds whatever lockStale is.
  const maxTimeout = Math.min(Math.max(LOCK_RETRY_MAX_MS, staleMs / 200), LOCK_RETRY_CEILING_MS);
  return {
    stale: staleMs,
    update: Math.max(staleMs / 5, MIN_LOCK_UPDATE_MS),
    retries: {
      retries: Math.ceil((LOCK_WAIT_FACTOR * staleMs) / maxTimeout),
      minTimeout: LOCK_RETRY_FIRST_MS,
      maxTimeout,
      factor: 1.3,
      randomize: true,
    },
  };
}
