/**
 * The scheduler's `lock` option: only the process holding a store's lock dispatches from that store; the
 * others retry on a timer (every `lock.retryMs`, else every second) and take over when the holder goes away (a
 * killed holder's file lock goes stale; a PostgreSQL lock goes with its holder's connection).
 */
import type { Logger } from 'pino';
import { ValueError } from './errors.js';
import { FileLock } from './lock.js';
import { isLock, type Lock, type LockLossListener, lockName, retryDelay } from './lock-interface.js';
import { describeValue } from './validate.js';

/** What is kept for each distinct lock while running. */
interface Attempts {
  /** Its `'compromised'` listener, removed at `stop()`. */
  listener: LockLossListener;
  /** The timer of the next attempt, if one is waiting. */
  timer: NodeJS.Timeout | null;
  /** True while a `tryAcquire()` is in flight (so that a loss does not start a second one). */
  trying: boolean;
}

/** Holds (or keeps trying to hold) the dispatch lock of each store. */
export class DispatchLocks {
  /** One lock for all stores (a `Lock` or a path without `{store}`), or null for one per store. */
  readonly #shared: Lock | null;
  /** The path pattern with `{store}`, when there is one lock per store. */
  readonly #pattern: string | null;
  /** Locks by store alias. */
  readonly #locks = new Map<string, Lock>();
  /** Each distinct lock being tried or held, while running. */
  readonly #attempts = new Map<Lock, Attempts>();
  #logger: Logger | null = null;
  #onAcquired: () => void = () => {};
  #active = false;

  /**
   * Validates the option: a `Lock` (anything of its shape), or a `FileLock` path, where `{store}` means one lock
   * per store.
   * @throws ValueError naming the value: neither a non-empty string nor an object of the `Lock` shape.
   */
  constructor(option: Lock | string) {
    if (typeof option === 'string' && option !== '') {
      this.#pattern = option.includes('{store}') ? option : null;
      this.#shared = this.#pattern === null ? new FileLock(option) : null;
    } else if (isLock(option)) {
      this.#shared = option;
      this.#pattern = null;
    } else {
      throw new ValueError(
        `Scheduler: lock must be a Lock (an object with tryAcquire, release, on and off functions, a boolean held ` +
          `and, if any, a retryMs of at least 1 ms) or a lock file path, got ${describeValue(option)}`,
      );
    }
  }

  /** Starts trying to take the lock of every store; `onAcquired` is called whenever a lock is won. */
  async start(aliases: Iterable<string>, logger: Logger, onAcquired: () => void): Promise<void> {
    this.#logger = logger;
    this.#onAcquired = onAcquired;
    this.#active = true;
    for (const alias of aliases) await this.addStore(alias);
  }

  /** Starts trying to take the lock of a store added while running. */
  async addStore(alias: string): Promise<void> {
    // A store removed and added again keeps its lock (a second FileLock on the path would be shut out by the first).
    const lock =
      this.#shared ??
      this.#locks.get(alias) ??
      new FileLock((this.#pattern as string).replaceAll('{store}', alias));
    this.#locks.set(alias, lock);
    if (!this.#active || this.#attempts.has(lock)) return;
    const attempts: Attempts = { listener: () => this.#onCompromised(lock), timer: null, trying: false };
    this.#attempts.set(lock, attempts);
    lock.on('compromised', attempts.listener);
    await this.#try(lock);
  }

  /** True if this process may dispatch from the store. */
  holds(alias: string): boolean {
    return this.#locks.get(alias)?.held === true;
  }

  /** Stops trying and releases every lock. */
  async stop(): Promise<void> {
    this.#active = false;
    for (const [lock, attempts] of this.#attempts) {
      if (attempts.timer !== null) clearTimeout(attempts.timer);
      try {
        lock.off('compromised', attempts.listener);
      } catch {
        // A lock of the user's that refuses: its listener does nothing once stopped.
      }
    }
    this.#attempts.clear();
    for (const lock of new Set(this.#locks.values())) await lock.release().catch(() => {});
    this.#locks.clear();
  }

  async #try(lock: Lock): Promise<void> {
    const attempts = this.#attempts.get(lock);
    if (!this.#active || attempts === undefined || attempts.trying) return;
    attempts.timer = null;
    attempts.trying = true;
    let acquired = false;
    try {
      acquired = await lock.tryAcquire();
    } catch (error) {
      this.#logger?.error({ err: error, lock: lockName(lock) }, 'taking the dispatch lock failed');
    } finally {
      attempts.trying = false;
    }
    if (!this.#active || this.#attempts.get(lock) !== attempts) {
      if (acquired) await lock.release().catch(() => {});
      return;
    }
    if (acquired && lock.held) {
      this.#logger?.info({ lock: lockName(lock) }, 'dispatch lock acquired');
      this.#onAcquired();
      return;
    }
    // Another process holds it: try again after the lock's retry period (a FileLock's holder refreshes at that rate).
    attempts.timer = setTimeout(() => void this.#try(lock), retryDelay(lock));
  }

  #onCompromised(lock: Lock): void {
    this.#logger?.warn(
      { lock: lockName(lock) },
      'dispatch lock lost; dispatching stops until it is taken again',
    );
    const attempts = this.#attempts.get(lock);
    if (this.#active && attempts !== undefined && attempts.timer === null) void this.#try(lock);
  }
}
