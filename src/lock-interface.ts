/**
 * `Lock`: what every `lock` option of kairos takes. `FileLock` (src/lock.ts) is one machine's, `PostgresLock`
 * (kairos/stores/postgres) a fleet's; any object of this shape will do.
 */
import { MAX_TIMER_DELAY_MS } from './time.js';

/** What a `'compromised'` listener of any `Lock` receives (a lock may add fields: `FileLock` adds `path`). */
export interface LockLossEvent {
  /** Why the lock was lost. */
  error: Error;
}

/** A listener of a lock's `'compromised'` event. */
export type LockLossListener = (event: LockLossEvent) => void;

/**
 * An inter-process lock: at most one holder at a time, among every process (and every instance) that locks the
 * same thing. `tryAcquire()` never waits for the lock: a process that does not hold it tries again every `retryMs`.
 */
export interface Lock {
  /** Whether this instance holds the lock now: not before `tryAcquire()` won it, after `release()`, or once lost. */
  readonly held: boolean;
  /**
   * How often, in ms, a process that does not hold the lock should try again (e.g. how soon a dead holder's lock
   * can be taken). Users of a lock without it try every second.
   */
  readonly retryMs?: number;
  /**
   * Takes the lock if it is free and resolves `true`; resolves `false` at once if someone else holds it; `true`
   * if this instance holds it already. Rejects only when it cannot tell (e.g. its database is unreachable).
   */
  tryAcquire(): Promise<boolean>;
  /** Releases the lock if this instance holds it; otherwise does nothing. Idempotent. */
  release(): Promise<void>;
  /**
   * Calls `listener` when the lock is lost while held, without `release()` (its holder can no longer prove it
   * holds it; someone else may hold it now). `held` is already `false` when listeners run. The return value is
   * ignored.
   */
  on(event: 'compromised', listener: LockLossListener): void;
  /** Removes a listener added with `on`. The return value is ignored. */
  off(event: 'compromised', listener: LockLossListener): void;
}

/**
 * True for an object of the `Lock` shape: `tryAcquire`, `release`, `on` and `off` functions, a boolean `held`,
 * and `retryMs`, if present, a number of ms from 1 to the timer limit.
 */
export function isLock(value: unknown): value is Lock {
  if (typeof value !== 'object' || value === null) return false;
  const lock = value as Record<string, unknown>;
  const retryMs = lock.retryMs;
  return (
    typeof lock.tryAcquire === 'function' &&
    typeof lock.release === 'function' &&
    typeof lock.on === 'function' &&
    typeof lock.off === 'function' &&
    typeof lock.held === 'boolean' &&
    (retryMs === undefined ||
      (typeof retryMs === 'number' &&
        Number.isFinite(retryMs) &&
        retryMs >= 1 &&
        retryMs <= MAX_TIMER_DELAY_MS))
  );
}

/** How often a lock without `retryMs` is tried again, in ms. */
export const DEFAULT_LOCK_RETRY_MS = 1000;

/** How long to wait before trying `lock` again: its `retryMs`, or a second if it has none (or, read again, no longer a sensible delay). */
export function retryDelay(lock: Lock): number {
  const ms = lock.retryMs ?? DEFAULT_LOCK_RETRY_MS;
  return Number.isFinite(ms) && ms >= 1 ? Math.min(ms, MAX_TIMER_DELAY_MS) : DEFAULT_LOCK_RETRY_MS;
}

/** How logs name a lock: a FileLock's path, a PostgresLock's key, else its class. */
export function lockName(lock: Lock): string {
  const { path, key } = lock as { path?: unknown; key?: unknown };
  if (typeof path === 'string') return path;
  if (typeof key === 'string') return key;
  return lock.constructor?.name ?? 'lock';
}
