// The shared abort watch used by runs (src/run.ts): a run's wait ends on abort, and settled runs leave nothing behind.
import { describe, expect, it } from 'vitest';
import { retryDelay, watchAbort } from '../src/run.js';

describe('watchAbort', () => {
  it('settles like the work while the signal is not aborted', async () => {
    const watch = watchAbort(new AbortController());
    await expect(watch.race(Promise.resolve(42))).resolves.toBe(42);
    await expect(watch.race(Promise.reject(new Error('task failed')))).rejects.toThrow('task failed');
  });

  it('rejects every pending wait with the abort reason, and later waits at once', async () => {
    const controller = new AbortController();
    const watch = watchAbort(controller);
    const settled = [watch.race(Promise.resolve('done early'))];
    await settled[0];
    const pending = [watch.race(new Promise(() => {})), watch.race(new Promise(() => {}))];
    const reason = new Error('shutting down');
    controller.abort(reason);
    for (const wait of pending) await expect(wait).rejects.toBe(reason);
    await expect(watch.race(new Promise(() => {}))).rejects.toBe(reason);
  });
});

describe('retryDelay', () => {
  it('grows by backoff per attempt and is capped by maxDelay', () => {
    const policy = { max: 5, delayMs: 100, backoff: 3, maxDelayMs: 1000, jitter: false };
    expect([1, 2, 3, 4].map((attempt) => retryDelay(policy, attempt))).toEqual([100, 300, 900, 1000]);
  });

  it('with jitter draws from [0, delay]', () => {
    const policy = { max: 5, delayMs: 400, backoff: 1, maxDelayMs: 1000, jitter: true };
    const delays = Array.from({ length: 200 }, () => retryDelay(policy, 1));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...delays)).toBeLessThanOrEqual(400);
    expect(new Set(delays).size).toBeGreaterThan(20);
  });
});
