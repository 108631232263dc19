/**
 * `FileLock`: an inter-process lock on a path, built on proper-lockfile (the `mkdir` strategy: the
 * lock is the directory `<path>.lock`, whose mtime the holder refreshes every `update` ms; a holder
 * that stops refreshing it, because it was killed, loses the lock once the mtime is `stale`).
 */
import { mkdir, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { lock as properLock } from 'proper-lockfile';
import { KairosError, TimeoutError, ValueError } from './errors.js';
import type { Lock, LockLossEvent } from './lock-interface.js';

import { type DurationInput, MAX_TIMER_DELAY_MS, parseDuration } from './time.js';
import { describeValue, rejectUnknownKeys } from './validate.js';

/** The smallest `stale` proper-lockfile honours (it silently raises smaller values), in ms. */
export const MIN_LOCK_STALE_MS = 2000;
/** The smallest `update` interval proper-lockfile honours (it silently raises smaller values), in ms. */
export const MIN_LOCK_UPDATE_MS = 1000;

const DEFAULT_STALE_MS = 10_000;
/** First and largest delay between two attempts of `acquire()`, in ms. */
const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 250;

const LOCK_OPTION_KEYS: ReadonlySet<string> = new Set(['stale', 'update']);
const ACQUIRE_OPTION_KEYS: ReadonlySet<string> = new Set(['timeout', 'signal']);
const WITH_LOCK_OPTION_KEYS: ReadonlySet<string> = new Set(['wait', 'timeout', 'signal']);

/** Options of `new FileLock(path, options)`. Every process that shares a lock must use the same values. */
export interface FileLockOptions {
  /**
   * How long after its holder stopped refreshing it (e.g. was killed with SIGKILL) the lock may be
   * taken by someone else. Default 10 s, at least 2 s.
   */
  stale?: DurationInput;
  /** How often the holder refreshes the lock. Default `stale / 2`; between 1 s and `stale / 2`. */
  update?: DurationInput;
}

/** Options of `FileLock.acquire()`. */
export interface AcquireOptions {
  /** Give up after this long with a `LockTimeoutError`. Default: wait forever. */
  timeout?: DurationInput;
  /** Stop waiting when this signal aborts; `acquire()` then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of `FileLock.withLock()`. */
export interface WithLockOptions {
  /**
   * `true` (default): wait for the lock. `false`: if the lock is held elsewhere (another process, another
   * `FileLock`, or another `withLock` call on this instance), return `undefined` at once without running `fn`.
   */
  wait?: boolean;
  /** With `wait: true`, give up after this long with a `LockTimeoutError`. Default: wait forever. */
  timeout?: DurationInput;
  /** With `wait: true`, stop waiting when this signal aborts. */
  signal?: AbortSignal;
}

/** Payload of the `compromised` event of a `FileLock`. */
export interface LockCompromisedEvent extends LockLossEvent {
  /** The locked path (after `{pgrp}` substitution). */
  path: string;
  /** What proper-lockfile reported (`code: 'ECOMPROMISED'`): the lock directory vanished or could not be refreshed. */
  error: Error;
}

/** The events of a `FileLock`, by name. */
export interface FileLockEvents {
  /**
   * The lock was lost while held: its directory was removed, or it could not be refreshed within `stale`
   * (someone else may hold it now). `held` is already `false` when listeners run.
   */
  compromised: LockCompromisedEvent;
}

/** `acquire({ timeout })` (or `withLock`) gave up waiting for the lock; `instanceof TimeoutError` holds. */
export class LockTimeoutError extends TimeoutError {
  /** The path whose lock could not be taken in time. */
  readonly path: string;
  constructor(path: string, timeoutMs: number) {
    super(path, timeoutMs);
    this.message = `could not acquire the lock on '${path}' within ${timeoutMs} ms`;
    this.path = path;
  }
}

/**
 * The signal handed to a `withLock` body aborts with this reason when the lock is lost or released; a
 * `PostgresLock` reports the loss of its connection with it.
 */
export class LockLostError extends KairosError {
  /** The path (of a `FileLock`) or the key (of a `PostgresLock`) whose lock is no longer held. */
  readonly path: string;
  constructor(path: string, how: 'compromised' | 'released', options?: ErrorOptions) {
    super(`the lock on '${path}' was ${how}`, options);
    this.path = path;
  }
}

/**
 * The process group id of this process, which `{pgrp}` in a lock path becomes. On Linux it is field 5
 * of `/proc/self/stat`; elsewhere (or if that file cannot be read) it falls back to `process.pid`, so
 * that on those systems `{pgrp}` gives each process its own lock.
 */
export function processGroupId(): number {
  if (process.platform === 'linux') {
    try {
      const stat = readFileSync('/proc/self/stat', 'utf8');
      // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so skip past the last ')'.
      const fields = stat
        .slice(stat.lastIndexOf(')') + 1)
        .trim()
        .split(/\s+/);
      const pgrp = Number(fields[2]);
      if (Number.isSafeInteger(pgrp) && pgrp > 0) return pgrp;
    } catch {
      // fall through to the pid
    }
  }
  return process.pid;
}

interface Holding {
  /** proper-lockfile's release function for this acquisition. */
  release: () => Promise<void>;
  /** Aborts when this acquisition ends (compromised or released). */
  controller: AbortController;
}

type Listener<E extends keyof FileLockEvents> = (event: FileLockEvents[E]) => void;

let instances = 0;

/**
 * An inter-process lock on a file path, shared by every process (and every `FileLock` instance) that
 * locks the same path with the same `stale`/`update`: at most one holds it at a time.
 *
 * - The path is resolved against the working directory at construction; `{pgrp}` in it becomes the
 *   process group id (see `processGroupId()`), so the workers of one deployment share a lock.
 * - The locked file itself need not exist; the lock is the directory `<path>.lock`. Missing parent
 *   directories are created on the first acquisition.
 * - A holder whose process exits (normally, or on SIGINT/SIGTERM) removes the lock; one killed with SIGKILL loses
 *   it once it is `stale`.
 * - The lock is not re-entrant across instances: two `FileLock`s on one path exclude each other even in
 *   one process. One instance that holds it may `tryAcquire()` / `acquire()` again (a no-op).
 */
export class FileLock implements Lock {
  /** The absolute path being locked, after `{pgrp}` substitution. */
  readonly path: string;
  /** The lock directory proper-lockfile creates: `<path>.lock`. */
  readonly lockfilePath: string;
  /** The stale threshold in milliseconds. */
  readonly staleMs: number;
  /** The refresh interval in milliseconds. */
  readonly updateMs: number;

  /**
   * The name under which proper-lockfile records this instance's lock. proper-lockfile keeps one record
   * per (resolved) file name in a process-wide map; a per-instance name, with `lockfilePath` pointing at the
   * shared lock directory, keeps two instances in one process from releasing each other's records.
   */
  readonly #key: string;
  #holding: Holding | undefined;
  /** Bumped whenever a holding ends, so late callbacks of an old holding are ignored. */
  #generation = 0;
  /** Serialises tryAcquire/release of this instance. */
  #queue: Promise<unknown> = Promise.resolve();
  /** Settles when the running `withLock` body of this instance finishes. */
  #body: Promise<void> | undefined;
  readonly #listeners = new Set<Listener<'compromised'>>();

  /**
   * Validates the options and resolves the path; takes no lock.
   * @throws ValueError naming the bad value: a bad path, a non-object, an unknown option, a bad `stale`/`update`.
   */
  constructor(path: string, options: FileLockOptions = {}) {
    if (typeof path !== 'string' || path.trim() === '') {
      throw new ValueError(
        `FileLock: path: ${describeValue(path)} is not a lock path (expected a non-empty string)`,
      );
    }
    checkOptions(options, LOCK_OPTION_KEYS, 'FileLock');
    const staleMs =
      options.stale === undefined ? DEFAULT_STALE_MS : parseDuration(options.stale, 'FileLock: stale');
    if (staleMs < MIN_LOCK_STALE_MS) {
      throw new ValueError(
        `FileLock: stale: ${describeValue(options.stale)} is ${staleMs} ms, below proper-lockfile's minimum of ${MIN_LOCK_STALE_MS} ms`,
      );
    }
    // A stale past twice the timer limit still gets a refresh a timer can wait for.
    const updateMs =
      options.update === undefined
        ? Math.min(staleMs / 2, MAX_TIMER_DELAY_MS)
        : parseDuration(options.update, 'FileLock: update');
    if (updateMs < MIN_LOCK_UPDATE_MS) {
      throw new ValueError(
        `FileLock: update: ${describeValue(options.update)} is ${updateMs} ms, below proper-lockfile's minimum of ${MIN_LOCK_UPDATE_MS} ms`,
      );
    }
    if (updateMs > staleMs / 2) {
      throw new ValueError(
        `FileLock: update: ${describeValue(options.update)} is ${updateMs} ms, more than stale / 2 (${staleMs / 2} ms)`,
      );
    }
    if (updateMs > MAX_TIMER_DELAY_MS) {
      throw new ValueError(
        `FileLock: update: ${updateMs} ms (from stale ${describeValue(options.stale)}) exceeds the timer limit of ${MAX_TIMER_DELAY_MS} ms`,
      );
    }
    this.staleMs = staleMs;
    this.updateMs = updateMs;
    this.path = resolve(path.replaceAll('{pgrp}', String(processGroupId())));
    this.lockfilePath = `${this.path}.lock`;
    this.#key = `${this.path}#kairos-lock-${++instances}`;
  }

  /** Whether this instance holds the lock now (`false` once it was released or compromised). */
  get held(): boolean {
    return this.#holding !== undefined;
  }

  /** How often a process that does not hold the lock should try again: `updateMs`, the holder's refresh rate. */
  get retryMs(): number {
    return this.updateMs;
  }

  /**
   * Takes the lock if it is free or stale and resolves `true`; resolves `false` at once if another
   * holder has it; `true` if this instance already holds it. File system errors other than "held"
   * (e.g. `EACCES`) reject.
   */
  tryAcquire(): Promise<boolean> {
    return this.#serial(() => this.#attempt());
  }

  /**
   * Waits until this instance holds the lock. Retries with a backoff from 50 to 250 ms (a file lock
   * released by another process gives no notification). With `timeout`, rejects with a
   * `LockTimeoutError` naming the path; with `signal`, rejects with its reason when it aborts.
   * Bad options (a non-object, an unknown key, a bad `timeout` or `signal`) reject with a `ValueError`.
   */
  async acquire(options: AcquireOptions = {}): Promise<void> {
    checkOptions(options, ACQUIRE_OPTION_KEYS, 'FileLock.acquire');
    const timeoutMs =
      options.timeout === undefined ? undefined : parseDuration(options.timeout, 'FileLock.acquire: timeout');
    const signal = checkSignal(options.signal, 'FileLock.acquire');
    const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + timeoutMs;
    let delay = RETRY_MIN_MS;
    for (;;) {
      signal?.throwIfAborted();
      if (await this.tryAcquire()) return;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new LockTimeoutError(this.path, timeoutMs ?? 0);
      // A little jitter so that several waiters do not retry in lockstep.
      await sleep(Math.min(delay * (0.8 + Math.random() * 0.4), remaining), signal);
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    }
  }

  /**
   * Releases the lock if this instance holds it; otherwise does nothing (idempotent). Rejects only if
   * the lock directory could not be removed (it then goes stale on its own).
   */
  release(): Promise<void> {
    return this.#serial(async () => {
      const holding = this.#holding;
      if (holding === undefined) return;
      this.#end(holding, new LockLostError(this.path, 'released'));
      try {
        await holding.release();
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        // Already released or compromised underneath us: nothing left to do.
        if (code !== 'ERELEASED' && code !== 'ENOTACQUIRED') throw error;
      }
    });
  }

  /**
   * Runs `fn` while holding the lock and releases it afterwards, also when `fn` throws; resolves to `fn`'s
   * result. With `wait: false`, resolves `undefined` at once, without running `fn`, when the lock is
   * held elsewhere (asyncz's `protected(False)`). Calls on one instance run one at a time. If this
   * instance already holds the lock (through `acquire()`), `fn` runs and the lock is kept afterwards.
   * `fn` receives a signal that aborts (with a `LockLostError`) if the lock is compromised while it runs.
   * Bad arguments (`fn` not a function, options that are not an object or have an unknown key or a bad
   * value) reject with a `ValueError`.
   */
  withLock<T>(
    fn: (signal: AbortSignal) => T | PromiseLike<T>,
    options?: WithLockOptions & { wait?: true },
  ): Promise<T>;
  withLock<T>(
    fn: (signal: AbortSignal) => T | PromiseLike<T>,
    options: WithLockOptions,
  ): Promise<T | undefined>;
  async withLock<T>(
    fn: (signal: AbortSignal) => T | PromiseLike<T>,
    options: WithLockOptions = {},
  ): Promise<T | undefined> {
    if (typeof fn !== 'function') {
      throw new ValueError(`FileLock.withLock: fn: ${describeValue(fn)} is not a function`);
    }
    checkOptions(options, WITH_LOCK_OPTION_KEYS, 'FileLock.withLock');
    const wait = options.wait ?? true;
    if (typeof wait !== 'boolean') {
      throw new ValueError(`FileLock.withLock: wait: ${describeValue(wait)} is not a boolean`);
    }
    if (options.timeout !== undefined) parseDuration(options.timeout, 'FileLock.withLock: timeout');
    checkSignal(options.signal, 'FileLock.withLock');

    while (this.#body !== undefined) {
      if (!wait) return undefined;
      options.signal?.throwIfAborted();
      await (options.signal === undefined ? this.#body : Promise.race([this.#body, aborted(options.signal)]));
    }
    let done!: () => void;
    this.#body = new Promise<void>((resolve) => {
      done = resolve;
    });
    try {
      const acquiredHere = !this.held;
      if (acquiredHere) {
        if (wait) await this.acquire({ timeout: options.timeout, signal: options.signal });
        else if (!(await this.tryAcquire())) return undefined;
      }
      const signal =
        this.#holding?.controller.signal ?? AbortSignal.abort(new LockLostError(this.path, 'compromised'));
      let result: T;
      try {
        result = await fn(signal);
      } catch (error) {
        if (acquiredHere) await this.release().catch(() => {});
        throw error;
      }
      if (acquiredHere) await this.release();
      return result;
    } finally {
      this.#body = undefined;
      done();
    }
  }

  /** Adds a listener; see `FileLockEvents`. A listener that throws is reported with `process.emitWarning`. */
  on<E extends keyof FileLockEvents>(event: E, listener: Listener<E>): this {
    this.#checkEvent(event);
    this.#listeners.add(listener as Listener<'compromised'>);
    return this;
  }

  /** Removes a listener added with `on`. */
  off<E extends keyof FileLockEvents>(event: E, listener: Listener<E>): this {
    this.#checkEvent(event);
    this.#listeners.delete(listener as Listener<'compromised'>);
    return this;
  }

  /** Releases the lock, so that `await using lock = new FileLock(...)` works. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  #checkEvent(event: string): void {
    if (event !== 'compromised') {
      throw new ValueError(
        `FileLock: event: ${describeValue(event)} is not a FileLock event (expected 'compromised')`,
      );
    }
  }

  #serial<R>(operation: () => Promise<R>): Promise<R> {
    const result = this.#queue.then(operation);
    this.#queue = result.catch(() => {});
    return result;
  }

  async #attempt(): Promise<boolean> {
    if (this.#holding !== undefined) return true;
    const generation = this.#generation;
    let release: () => Promise<void>;
    try {
      release = await this.#lock(generation);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ELOCKED') return false;
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      // The parent directory does not exist: create it, and try once more.
      await new Promise<void>((resolve, reject) => {
        mkdir(dirname(this.path), { recursive: true }, (err) => (err ? reject(err) : resolve()));
      });
      try {
        release = await this.#lock(generation);
      } catch (retryError) {
        if ((retryError as NodeJS.ErrnoException).code === 'ELOCKED') return false;
        throw retryError;
      }
    }
    this.#holding = { release, controller: new AbortController() };
    return true;
  }

  #lock(generation: number): Promise<() => Promise<void>> {
    return properLock(this.#key, {
      stale: this.staleMs,
      update: this.updateMs,
      retries: 0,
      realpath: false,
      lockfilePath: this.lockfilePath,
      // proper-lockfile's default throws from a timer callback, which would crash the process.
      onCompromised: (error) => this.#compromised(generation, error),
    });
  }

  #compromised(generation: number, error: Error): void {
    const holding = this.#holding;
    // A late report about a holding that already ended (e.g. released while a refresh was in flight).
    if (holding === undefined || generation !== this.#generation) return;
    this.#end(holding, new LockLostError(this.path, 'compromised', { cause: error }));
    const event: LockCompromisedEvent = { path: this.path, error };
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (listenerError) {
        process.emitWarning(
          `a 'compromised' listener of the lock on '${this.path}' threw: ${String(listenerError)}`,
          'KairosWarning',
        );
      }
    }
  }

  #end(holding: Holding, reason: LockLostError): void {
    this.#holding = undefined;
    this.#generation++;
    holding.controller.abort(reason);
  }
}

/** Throws a `ValueError` unless `options` is an object whose keys are all in `allowed`; `what` names the method. */
function checkOptions(options: unknown, allowed: ReadonlySet<string>, what: string): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ValueError(`${what}: options must be an object, got ${describeValue(options)}`);
  }
  rejectUnknownKeys(options, allowed, what);
}

/** The `signal` option: `undefined` or an `AbortSignal`, else a `ValueError`. */
function checkSignal(signal: unknown, what: string): AbortSignal | undefined {
  if (signal === undefined || signal instanceof AbortSignal) return signal;
  throw new ValueError(`${what}: signal must be an AbortSignal, got ${describeValue(signal)}`);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}
