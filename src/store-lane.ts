/**
 * One store's lane in a scheduler: its wake-ups and the changes made to it run one at a time, apart from every
 * other store's, so that a store that hangs or fails (a lock held by a stuck process, a file that cannot be
 * written) delays only its own tasks.
 */

import type { TaskStore } from './store.js';
import { MAX_TIMER_WAIT_MS } from './timer.js';

/** The first retry delay after a store operation of a wake-up failed; it doubles up to the timer's cap. */
export const FIRST_FAILURE_BACKOFF_MS = 1000;

/** A store with the serialised queue of work on it and what the scheduler knows of its next wake-up. */
export class StoreLane {
  /** The store's alias in the scheduler. */
  readonly alias: string;
  readonly store: TaskStore;
  /** Epoch ms at which the store next wants a wake-up (due task, lease expiry, retry after a failure); null: none. */
  wakeAt: number | null = null;
  /** True while a wake-up of this store is queued or running; a further request only sets `again`. */
  dispatching = false;
  /** Another wake-up was asked for while one ran. */
  again = false;
  /** The delay before the next try after a failure. */
  #backoffMs = FIRST_FAILURE_BACKOFF_MS;
  /** Tail of the queue of work on this store. */
  #queue: Promise<unknown> = Promise.resolve();
  /** Work queued or running on this store that has not settled yet. */
  #unsettled = 0;
  /** Counts one piece of work settled (bound once: it ends every `exclusive`). */
  readonly #settled = (): void => {
    this.#unsettled--;
  };

  constructor(alias: string, store: TaskStore) {
    this.alias = alias;
    this.store = store;
  }

  /** Runs `work` after all work queued earlier on this store. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    this.#unsettled++;
    const result = this.#queue.then(work);
    this.#queue = result.then(this.#settled, this.#settled);
    return result;
  }

  /**
   * True while no work is queued or running on this store: a change made now, synchronously, is ordered after
   * everything asked of the store before (the fast path of `ImmediateTaskStore`).
   */
  get quiet(): boolean {
    return this.#unsettled === 0;
  }

  /** Settles once the work queued so far has settled. */
  idle(): Promise<void> {
    return this.exclusive(async () => {});
  }

  /** Records a failed wake-up: the next try is after the backoff, which doubles up to the timer's cap. */
  failed(now: number): void {
    this.wakeAt = now + this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, MAX_TIMER_WAIT_MS);
  }

  /** Records a wake-up that went through: the backoff starts over. */
  succeeded(wakeAt: number | null): void {
    this.wakeAt = wakeAt;
    this.#backoffMs = FIRST_FAILURE_BACKOFF_MS;
  }

  /** Brings the next wake-up forward to `time` if that is sooner. */
  wakeNoLaterThan(time: number): void {
    if (this.wakeAt === null || time < this.wakeAt) this.wakeAt = time;
  }
}
