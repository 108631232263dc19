/**
 * Timers for any delay: Node's `setTimeout` clamps a delay over 2^31-1 ms (about 24.8 days) to 1 ms, so a
 * 30-day wait would fire at once. Every duration the API accepts (timeouts, retry delays, shutdown waits)
 * is waited through these helpers, which chain timers of at most `MAX_TIMER_DELAY_MS`.
 */
import { MAX_TIMER_DELAY_MS } from './time.js';

/** A pending `setLongTimeout`. */
export interface LongTimeout {
  /** Cancels the callback if it has not run yet; calling it again, or after the callback ran, does nothing. */
  clear(): void;
  /** Lets the process exit while only this timer is pending (as `Timeout.unref()`); returns the handle. */
  unref(): LongTimeout;
}

/**
 * Calls `callback` once after `ms` milliseconds, for any `ms` (30 days means 30 days), by chaining Node
 * timers of at most `MAX_TIMER_DELAY_MS`. Like `setTimeout`, a negative or NaN `ms` means 0; `Infinity`
 * never fires. The timer keeps the process alive unless `unref()` is called.
 * @example const timer = setLongTimeout(() => controller.abort(), 30 * 86_400_000); ... timer.clear();
 */
export function setLongTimeout(callback: () => void, ms: number): LongTimeout {
  let remaining = ms > 0 ? ms : 0;
  let referenced = true;
  let handle: NodeJS.Timeout | undefined;
  const arm = () => {
    const step = Math.min(remaining, MAX_TIMER_DELAY_MS);
    remaining -= step;
    handle = setTimeout(remaining > 0 ? arm : fire, step);
    if (!referenced) handle.unref();
  };
  const fire = () => {
    handle = undefined;
    callback();
  };
  arm();
  const timeout: LongTimeout = {
    clear() {
      if (handle !== undefined) clearTimeout(handle);
      handle = undefined;
    },
    unref() {
      referenced = false;
      handle?.unref();
      return timeout;
    },
  };
  return timeout;
}

/**
 * Waits `ms` milliseconds (any length, as `setLongTimeout`): resolves true when the time has passed, false as
 * soon as `signal` aborts (at once if it already has). Never rejects; leaves no timer or listener behind.
 * @example if (!(await sleep(delayMs, shutdownSignal))) return; // shut down while waiting
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    const onAbort = () => {
      timer.clear();
      resolve(false);
    };
    const timer = setLongTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Settles when `work` settles (true), or at `deadline` (epoch ms, any distance) if that comes first (false);
 * null: no deadline. A rejection of `work` counts as settled.
 * @example if (!(await untilDeadline(runsEnded, deadline))) abortRuns();
 */
export async function untilDeadline(work: Promise<unknown>, deadline: number | null): Promise<boolean> {
  const settled = work.then(
    () => true,
    () => true,
  );
  if (deadline === null) return settled;
  let timer: LongTimeout | undefined;
  const expired = new Promise<boolean>((resolve) => {
    timer = setLongTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
  });
  const finished = await Promise.race([settled, expired]);
  timer?.clear();
  return finished;
}
