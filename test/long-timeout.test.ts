// setLongTimeout and sleep (src/long-timeout.ts): waits past setTimeout's 2^31-1 ms limit (API.md, Input types:
// "a 30-day timeout waits 30 days"), exact to the millisecond, cancellable, and leaving nothing behind.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { setLongTimeout, sleep } from '../src/long-timeout.js';
import { MAX_TIMER_DELAY_MS } from '../src/time.js';

const DAY_MS = 86_400_000;

describe('setLongTimeout', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('waits 30 days, past the 2^31-1 ms a single timer can wait: not after 29 days, at 30 days', () => {
    const fired = vi.fn();
    setLongTimeout(fired, 30 * DAY_MS);
    vi.advanceTimersByTime(1000);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(29 * DAY_MS - 1000);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(DAY_MS - 1);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(100 * DAY_MS);
    expect(fired).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('fires exactly at the limit and one millisecond past it, and at once for 0, negative or NaN', () => {
    const atLimit = vi.fn();
    const pastLimit = vi.fn();
    setLongTimeout(atLimit, MAX_TIMER_DELAY_MS);
    setLongTimeout(pastLimit, MAX_TIMER_DELAY_MS + 1);
    vi.advanceTimersByTime(MAX_TIMER_DELAY_MS - 1);
    expect([atLimit.mock.calls.length, pastLimit.mock.calls.length]).toEqual([0, 0]);
    vi.advanceTimersByTime(1);
    expect([atLimit.mock.calls.length, pastLimit.mock.calls.length]).toEqual([1, 0]);
    vi.advanceTimersByTime(1);
    expect([atLimit.mock.calls.length, pastLimit.mock.calls.length]).toEqual([1, 1]);

    const soon = [vi.fn(), vi.fn(), vi.fn()];
    setLongTimeout(soon[0] as () => void, 0);
    setLongTimeout(soon[1] as () => void, -5);
    setLongTimeout(soon[2] as () => void, Number.NaN);
    vi.advanceTimersByTime(0);
    for (const fn of soon) expect(fn).toHaveBeenCalledTimes(1);
  });

  it('clear() cancels it in any segment of the chain; clearing twice or after it fired does nothing', () => {
    const fired = vi.fn();
    const timer = setLongTimeout(fired, 60 * DAY_MS);
    vi.advanceTimersByTime(40 * DAY_MS);
    timer.clear();
    timer.clear();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(100 * DAY_MS);
    expect(fired).not.toHaveBeenCalled();

    const done = vi.fn();
    const short = setLongTimeout(done, 10);
    vi.advanceTimersByTime(10);
    short.clear();
    expect(done).toHaveBeenCalledTimes(1);
  });

  it('Infinity never fires', () => {
    const fired = vi.fn();
    const timer = setLongTimeout(fired, Number.POSITIVE_INFINITY);
    vi.advanceTimersByTime(1000 * DAY_MS);
    expect(fired).not.toHaveBeenCalled();
    timer.clear();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('setLongTimeout.unref', () => {
  it('unrefs the pending timer, and every later one of the chain', () => {
    const real = globalThis.setTimeout;
    const handles: NodeJS.Timeout[] = [];
    const spy = vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms: number) => {
      const handle = real(fn, Math.min(ms, 1));
      handles.push(handle);
      return handle;
    }) as typeof setTimeout);
    try {
      const timer = setLongTimeout(() => {}, 3 * MAX_TIMER_DELAY_MS);
      expect(timer.unref()).toBe(timer);
      expect(handles.map((handle) => handle.hasRef())).toEqual([false]);
      timer.clear();
    } finally {
      spy.mockRestore();
    }
  });
});

describe('sleep', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('resolves true after 30 days, not after 29', async () => {
    let slept: boolean | undefined;
    void sleep(30 * DAY_MS).then((value) => {
      slept = value;
    });
    await vi.advanceTimersByTimeAsync(29 * DAY_MS);
    expect(slept).toBeUndefined();
    await vi.advanceTimersByTimeAsync(DAY_MS);
    expect(slept).toBe(true);
  });

  it('resolves false as soon as the signal aborts (at once if it has), leaving no timer or listener', async () => {
    const controller = new AbortController();
    const waiting = sleep(30 * DAY_MS, controller.signal);
    await vi.advanceTimersByTimeAsync(DAY_MS);
    controller.abort();
    await expect(waiting).resolves.toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    await expect(sleep(10, controller.signal)).resolves.toBe(false);

    const other = new AbortController();
    const removed = vi.spyOn(other.signal, 'removeEventListener');
    const done = sleep(10, other.signal);
    await vi.advanceTimersByTimeAsync(10);
    await expect(done).resolves.toBe(true);
    expect(removed).toHaveBeenCalledWith('abort', expect.any(Function));
  });
});
