/**
 * Task modules for test/executors/worker.test.ts, run in WorkerExecutor's worker threads through module
 * references such as './test/support/worker-tasks.ts#crunch'. Importing this file has no side effects.
 */
import { isMainThread, threadId } from 'node:worker_threads';

/** CPU-bound: counts the primes below `limit` by trial division; reports the thread it ran on. */
export function crunch(limit: number): { primes: number; threadId: number; isMainThread: boolean } {
  let primes = 0;
  for (let n = 2; n < limit; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) primes++;
  }
  return { primes, threadId, isMainThread };
}

/** Returns its args as received, and what they look like inside the worker. */
export async function echo(...args: unknown[]): Promise<{ args: unknown[]; kinds: string[] }> {
  await new Promise((resolve) => setTimeout(resolve, 1));
  return { args, kinds: args.map((arg) => Object.prototype.toString.call(arg)) };
}

/** An error class only the worker knows. */
class QuotaError extends Error {
  readonly code = 'E_QUOTA';
  constructor(message: string) {
    super(message, { cause: new RangeError('limit 3') });
    this.name = 'QuotaError';
  }
}

/** Throws a custom error with a code and a cause. */
export function fail(message: string): never {
  throw new QuotaError(message);
}

/** Throws a value that is not an Error. */
export function throwValue(value: unknown): never {
  throw value;
}

/** Never returns, never yields to its event loop: only terminating the thread stops it. */
export function spin(): never {
  for (;;) {
    // busy
  }
}

/** Returns what cannot be cloned back to the main thread. */
export function unclonable(): () => void {
  return () => {};
}

/** Not a function. */
export const notAFunction = 42;
