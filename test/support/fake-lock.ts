/** A plain-object `Lock` for tests on the fake clock: the test opens it (`state.free`) and takes it away (`lose()`). */
import type { Lock, LockLossListener } from '../../src/index.js';

/** Options of `fakeLock`. */
export interface FakeLockOptions {
  /** The lock's `retryMs`; absent: the lock has none (its users retry every second). */
  retryMs?: number;
  /** Where 'release' (of a held lock) and 'lost' are written, in order with the test's own lines. */
  log?: string[];
}

/** A fake `Lock`: `tryAcquire()` wins it while `state.free`; `lose()` reports it lost ('compromised'). */
export function fakeLock({ retryMs, log }: FakeLockOptions = {}) {
  const listeners = new Set<LockLossListener>();
  const state = { free: false, tries: 0, releases: 0 };
  const lock = {
    held: false as boolean,
    ...(retryMs === undefined ? {} : { retryMs }),
    async tryAcquire(): Promise<boolean> {
      state.tries++;
      if (state.free) lock.held = true;
      return lock.held;
    },
    async release(): Promise<void> {
      state.releases++;
      if (lock.held) log?.push('release');
      lock.held = false;
    },
    on(_event: 'compromised', listener: LockLossListener): void {
      listeners.add(listener);
    },
    off(_event: 'compromised', listener: LockLossListener): void {
      listeners.delete(listener);
    },
  } satisfies Lock;
  return {
    lock,
    state,
    listeners,
    /** The lock is taken away from this process (someone else holds it now), as a lock reports it. */
    lose(): void {
      state.free = false;
      lock.held = false;
      log?.push('lost');
      for (const listener of [...listeners]) listener({ error: new Error('connection lost') });
    },
  };
}
