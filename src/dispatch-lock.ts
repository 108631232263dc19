/**
 * The scheduler's `lock` option: only the process holding a store's lock dispatches from that store; the
 * others retry on a timer and take over when the holder goes away (a killed holder's lock goes stale).
 */
import type { Logger } from 'pino';
import { ValueError } from './errors.js';
import { FileLock } from './lock.js';
import { describeValue } from './validate.js';

/** Holds (or keeps trying to hold) the dispatch lock of each store. */
export class DispatchLocks {
  /** One lock for all stores (a `FileLock` or a path without `{store}`), or null for one per store. */
  readonly #shared: FileLock | null;
  /** The path pattern with `{store}`, when there is one lock per store. */
  readonly #pattern: string | null;
  /** Locks by store alias. */
  readonly #locks = new Map<string, FileLock>();
  /** Retry timers by lock path. */
  readonly #retries = new Map<FileLock, NodeJS.Timeout>();
  #logger: Logger | null = null;
  #onAcquired: () => void = () => {};
  #active = false;

  /** Validates the option (`FileLock | string`); `{store}` in a path means one lock per store. */
  constructor(option: FileLock | string) {
    if (option instanceof FileLock) {
      this.#shared = option;
      this.#pattern = null;
    } else if (typeof option === 'string' && option !== '') {
      this.#pattern = option.includes('{store}') ? option : null;
      this.#shared = this.#pattern === null ? new FileLock(option) : null;
    } else {
      throw new ValueError(
        `Scheduler: lock must be a FileLock or a lock file path, got ${describeValue(option)}`,
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
    const lock = this.#shared ?? new FileLock((this.#pattern as string).replaceAll('{store}', alias));
    this.#locks.set(alias, lock);
    if (this.#active && !this.#retries.has(lock)) {
      lock.on('compromised', () => this.#onCompromised(lock));
      await this.#try(lock);
    }
  }

  /** True if this process may dispatch from the store. */
  holds(alias: string): boolean {
    return this.#locks.get(alias)?.held === true;
  }

  /** Stops trying and releases every lock. */
  async stop(): Promise<void> {
    this.#active = false;
    for (const timer of this.#retries.values()) clearTimeout(timer);
    this.#retries.clear();
    for (const lock of new Set(this.#locks.values())) await lock.release().catch(() => {});
    this.#locks.clear();
  }

  async #try(lock: FileLock): Promise<void> {
    this.#retries.delete(lock);
    if (!this.#active) return;
    let acquired = false;
    try {
      acquired = await lock.tryAcquire();
    } catch (error) {
      this.#logger?.error({ err: error, path: lock.path }, 'taking the dispatch lock failed');
    }
    if (!this.#active) {
      if (acquired) await lock.release();
      return;
    }
    if (acquired) {
      this.#logger?.info({ path: lock.path }, 'dispatch lock acquired');
      this.#onAcquired();
      return;
    }
    // Another process holds it: try again after one update period (the holder refreshes at that rate).
    this.#retries.set(
      lock,
      setTimeout(() => void this.#try(lock), lock.updateMs),
    );
  }

  #onCompromised(lock: FileLock): void {
    this.#logger?.warn({ path: lock.path }, 'dispatch lock lost; dispatching stops until it is taken again');
    if (this.#active && !this.#retries.has(lock)) void this.#try(lock);
  }
}
