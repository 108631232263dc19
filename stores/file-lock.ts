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
    let lost: Error | null = null;
    let release: () => Promise<void>;
    try {
      release = await lockFile(this.#key, {
        ...this.#options,
        realpath: false,
        lockfilePath: `${this.#path}.lock`,
        onCompromised: (error) => {
          lost = error;
        },
      });
    } catch (error) {
      throw this.#lockError(error);
    }
    try {
      const result = await work();
      if (lost !== null)
        throw new KairosError(`FileStore: lost the lock on '${this.#path}' while writing`, { cause: lost });
      return result;
    } finally {
      await release().catch(() => {});
      await afterRelease();
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
  return {
    stale: staleMs,
    update: Math.max(staleMs / 5, MIN_LOCK_UPDATE_MS),
    retries: {
      retries: Math.ceil((LOCK_WAIT_FACTOR * staleMs) / LOCK_RETRY_MAX_MS),
      minTimeout: LOCK_RETRY_FIRST_MS,
      maxTimeout: LOCK_RETRY_MAX_MS,
      factor: 1.3,
      randomize: true,
    },
  };
}
