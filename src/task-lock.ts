/**
 * The lock keeper of one lifecycle task added with `lock` ("one instance in the fleet", API.md): every process
 * declares the task (each in its own `MemoryStore`, with its own schedule), and only the process holding the lock
 * has a live instance of it. The keeper tries the lock every `lock.retryMs` (else every second) until it wins it,
 * then runs setup; fires that come while it has no live instance do not run. When the lock is lost
 * ('compromised') the instance is closed at once (`return()`) and the keeper keeps trying. When the keeper is
 * closed (removeTask, shutdown, or the generator ended) the instance's cleanup runs before the lock is released,
 * so the next holder's setup never overlaps it.
 */
import { ValueError } from './errors.js';
import type { LifecycleTask } from './lifecycle.js';
import { FileLock } from './lock.js';
import { isLock, type Lock, type LockLossListener, lockName, retryDelay } from './lock-interface.js';
import { type FunctionResolver, isGeneratorFunction } from './references.js';
import type { TaskRecord } from './store.js';
import { describeValue } from './validate.js';

/**
 * The `lock` option of `addTask`, validated: null when absent; a `Lock` as given; a non-empty string becomes a
 * `FileLock` on that path (`{pgrp}` becomes the process group id, as for the scheduler's option; `{store}` has no
 * meaning here). The lock is never written to a store: a locked task lives only in a store that is not persistent.
 * @throws ValueError naming the value when it is neither a `Lock` nor a path, and naming the task when the task is
 * not a lifecycle (generator) task or its store is persistent.
 */
export function parseTaskLock(
  option: unknown,
  record: TaskRecord,
  context: { resolver: FunctionResolver; persistent: boolean },
): Lock | null {
  if (option === undefined) return null;
  let lock: Lock;
  if (typeof option === 'string' && option !== '') lock = new FileLock(option);
  else if (isLock(option)) lock = option;
  else {
    throw new ValueError(
      `task '${record.id}': lock must be a Lock (an object with tryAcquire, release, on and off functions, a boolean ` +
        `held and, if any, a retryMs of at least 1 ms) or a lock file path, got ${describeValue(option)}`,
    );
  }
  if (!isGeneratorFunction(context.resolver.resolveSync(record.fn))) {
    throw new ValueError(
      `task '${record.id}': lock applies only to a lifecycle task (a generator function, or the name of a registered one)`,
    );
  }
  if (context.persistent) {
    throw new ValueError(
      `task '${record.id}': a task with a lock lives only in a store that is not persistent (a MemoryStore): the lock cannot be stored`,
    );
  }
  return lock;
}

/** A takeover's setup that threw (`{ error }`), or null when the generator returned in setup. */
export type SetupFailure = { error: unknown } | null;

/** What a keeper does with the instances it guards: the scheduler's side. */
export interface TaskLockHooks {
  /** Creates and sets up a new instance (the lock is held); rejects if its setup throws. */
  setUp(): Promise<LifecycleTask>;
  /** The instance is live: fires resume it from now on. */
  attach(instance: LifecycleTask): void;
  /** Fires no longer reach the instance (it is about to be closed). */
  detach(instance: LifecycleTask): void;
  /**
   * A takeover ended the task in this process: its setup threw, or the generator returned in setup. The lock is
   * released already; the scheduler removes the task. Not called for the first attempt (`start()` reports it).
   */
  ended(failure: SetupFailure): void;
  /** Logs; never throws. */
  log(level: 'debug' | 'info' | 'warn' | 'error', fields: Record<string, unknown>, message: string): void;
}

/** Keeps (or keeps trying to take) the lock of one lifecycle task, and the task's instance while it is held. */
export class TaskLockKeeper {
  /** The lock guarding the task. */
  readonly lock: Lock;
  readonly #hooks: TaskLockHooks;
  /** The live instance, while the lock is held and setup has completed. */
  #instance: LifecycleTask | null = null;
  /** The timer of the next attempt, while one is waiting. */
  #timer: NodeJS.Timeout | null = null;
  /** True between `start()` and `close()` (or the end of the task in this process). */
  #active = false;
  /** Bumped when the keeper starts or stops: an attempt of an earlier run sees it is stale and gives up. */
  #generation = 0;
  /** Attempts and loss handling run one at a time; this settles when the last one has. */
  #busy: Promise<unknown> = Promise.resolve();
  /** True while an attempt (or the handling of a loss) runs. */
  #working = false;
  readonly #listener: LockLossListener = () => this.#onLost();

  constructor(lock: Lock, hooks: TaskLockHooks) {
    this.lock = lock;
    this.#hooks = hooks;
  }

  /** True while the keeper is trying or holding (between `start()` and `close()`). */
  get active(): boolean {
    return this.#active;
  }

  /** True while this process has a live instance of the task (it holds the lock and setup has completed). */
  get holding(): boolean {
    return this.#instance !== null;
  }

  /**
   * Starts keeping the lock: makes the first attempt now and, if it wins, runs setup before resolving. Resolves
   * false when the generator returned in setup (the task is over: the caller removes it); rejects with the setup's
   * error when it threw. Either way the lock is released and the keeper stopped. A keeper that runs already: true.
   */
  async start(): Promise<boolean> {
    if (this.#active) return true;
    this.#active = true;
    const generation = ++this.#generation;
    this.lock.on('compromised', this.#listener);
    return this.#serial(() => this.#attempt(generation, true));
  }

  /**
   * Stops trying, closes the live instance (`return()`, so its `finally` runs) and only then releases the lock.
   * With `wait` false (a forced shutdown) neither an attempt in progress nor the cleanup is awaited. Idempotent;
   * the keeper may be started again.
   */
  async close(wait = true): Promise<void> {
    this.#stop();
    if (wait) await this.#busy;
    const instance = this.#instance;
    this.#instance = null;
    if (instance !== null) {
      this.#hooks.detach(instance);
      await instance.close(wait).catch((error: unknown) => this.#logCloseError(error));
    }
    // A forced close leaves an attempt in progress (a setup that may hang) to give back the lock itself once it
    // ends: releasing it under a setup still running would let another process set up alongside.
    if (!this.#working) await this.#release();
  }

  /** One attempt to take the lock and, if won, set the task up. Rejects only for the first attempt's setup. */
  async #attempt(generation: number, first: boolean): Promise<boolean> {
    if (!this.#current(generation)) return true;
    let won = false;
    try {
      won = await this.lock.tryAcquire();
    } catch (error) {
      this.#hooks.log('error', { err: error, lock: lockName(this.lock) }, 'taking the task lock failed');
    }
    if (!this.#current(generation)) {
      // Closed meanwhile (a forced close did not wait for this attempt): give back what it won.
      if (won) await this.#release();
      return true;
    }
    if (!won || !this.lock.held) {
      this.#retryLater(generation);
      return true;
    }
    this.#hooks.log('info', { lock: lockName(this.lock) }, 'task lock acquired; setting the task up');
    let instance: LifecycleTask;
    try {
      instance = await this.#hooks.setUp();
    } catch (error) {
      await this.#release();
      if (!this.#current(generation)) return true;
      this.#stop();
      if (first) throw error;
      this.#hooks.ended({ error });
      return false;
    }
    if (!this.#current(generation) || !this.lock.held) {
      // Closed, or the lock was lost, during setup: this instance never goes live.
      await instance.close().catch((error: unknown) => this.#logCloseError(error));
      if (!this.#current(generation)) {
        await this.#release();
        return true;
      }
      return this.#attempt(generation, first);
    }
    if (instance.finished) {
      // The generator returned in setup: the task is over in this process, as an unlocked one would be.
      await this.#release();
      this.#stop();
      if (!first) this.#hooks.ended(null);
      return false;
    }
    this.#instance = instance;
    this.#hooks.attach(instance);
    return true;
  }

  /** The lock was lost while held: the instance is closed at once, and the lock tried again once it is. */
  #onLost(): void {
    const instance = this.#instance;
    // Lost during an attempt: the attempt sees `held` false once its setup is done, and tries again itself.
    if (!this.#active || instance === null) return;
    this.#instance = null;
    this.#hooks.detach(instance);
    this.#hooks.log(
      'warn',
      { lock: lockName(this.lock) },
      'task lock lost; the task instance is closed and the lock tried again',
    );
    const closing = instance.close().catch((error: unknown) => this.#logCloseError(error));
    const generation = this.#generation;
    this.#background(async () => {
      await closing;
      return this.#attempt(generation, false);
    });
  }

  /** Tries again after the lock's retry period (a FileLock's holder refreshes it at that rate). */
  #retryLater(generation: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#background(() => this.#attempt(generation, false));
    }, retryDelay(this.lock));
  }

  /** Runs `operation` after the ones before it; the chain never rejects (a rejection is the caller's). */
  #serial<R>(operation: () => Promise<R>): Promise<R> {
    const result = this.#busy.then(async () => {
      this.#working = true;
      try {
        return await operation();
      } finally {
        this.#working = false;
      }
    });
    this.#busy = result.catch(() => {});
    return result;
  }

  /** Runs an attempt in the background; it never rejects, but should it, that is logged. */
  #background(operation: () => Promise<unknown>): void {
    this.#serial(operation).catch((error: unknown) =>
      this.#hooks.log('error', { err: error }, 'keeping the task lock failed'),
    );
  }

  /** True while the attempt of `generation` is still wanted. */
  #current(generation: number): boolean {
    return this.#active && generation === this.#generation;
  }

  /** Stops trying: no more attempts, and no more reaction to a loss. */
  #stop(): void {
    if (this.#active) {
      try {
        this.lock.off('compromised', this.#listener);
      } catch {
        // A lock of the user's that refuses: its listener does nothing once stopped.
      }
    }
    this.#active = false;
    this.#generation++;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** Releases the lock if held; a failure is logged (a FileLock then goes stale on its own). */
  async #release(): Promise<void> {
    if (!this.lock.held) return;
    await this.lock
      .release()
      .catch((error: unknown) =>
        this.#hooks.log('error', { err: error, lock: lockName(this.lock) }, 'releasing the task lock failed'),
      );
  }

  #logCloseError(error: unknown): void {
    this.#hooks.log('error', { err: error }, 'a lifecycle task threw while closing');
  }
}
