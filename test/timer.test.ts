// WakeupTimer (src/timer.ts): one timer to the next wake-up, never early, exact on the fake clock; how late it is on a
// real clock (well under Node's setTimeout granularity) is measured by the benchmarks.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FINAL_APPROACH_MS, WakeupTimer } from '../src/timer.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('WakeupTimer', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('real time: fires once per arming, never before the armed instant, and soon after it', async () => {
    const lateness: number[] = [];
    for (let i = 0; i < 10; i++) {
      const target = Date.now() + 20 + i;
      const fired = await new Promise<number>((resolve) =>
        new WakeupTimer(() => resolve(Date.now())).arm(target),
      );
      lateness.push(fired - target);
    }
    expect(Math.min(...lateness)).toBeGreaterThanOrEqual(0);
    // A generous bound no correct timer misses, even on a loaded machine; the benchmarks measure the precision.
    expect(Math.max(...lateness)).toBeLessThan(1000);
  });

  it('fake timers: fires exactly at the armed instant; re-arming and cancelling replace the earlier arming', async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const calls: number[] = [];
    const timer = new WakeupTimer(() => calls.push(Date.now()));
    timer.arm(1_000_100);
    await vi.advanceTimersByTimeAsync(99);
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual([1_000_100]);
    expect(timer.target).toBeNull();
    timer.arm(1_000_300);
    timer.arm(1_000_200);
    await vi.advanceTimersByTimeAsync(FINAL_APPROACH_MS + 500);
    expect(calls).toEqual([1_000_100, 1_000_200]);
    timer.arm(1_001_000);
    timer.cancel();
    await vi.advanceTimersByTimeAsync(2000);
    expect(calls).toEqual([1_000_100, 1_000_200]);
  });

  it('a wall clock that stands still (only Date faked) ends the final approach: then it waits on plain timers', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: 5_000_000 });
    const turns = vi.spyOn(globalThis, 'setImmediate');
    let calls = 0;
    const timer = new WakeupTimer(() => calls++);
    timer.arm(5_000_001);
    await sleep(40);
    // The approach turned the event loop for at most a few ms, then gave up: no further turns.
    const afterApproach = turns.mock.calls.length;
    expect(afterApproach).toBeGreaterThan(0);
    await sleep(40);
    expect(turns.mock.calls.length).toBe(afterApproach);
    expect(calls).toBe(0);
    vi.setSystemTime(5_000_001);
    await sleep(20);
    expect(calls).toBe(1);
    turns.mockRestore();
  });

  it('a clock that does not move between turns (fake timers) ends the approach at once', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'performance'], now: 7_000_000 });
    const turns = vi.spyOn(globalThis, 'setImmediate');
    let calls = 0;
    new WakeupTimer(() => calls++).arm(7_000_001);
    await sleep(30);
    expect(turns.mock.calls.length).toBeLessThanOrEqual(2);
    expect(calls).toBe(0);
    vi.setSystemTime(7_000_001);
    await sleep(20);
    expect(calls).toBe(1);
    turns.mockRestore();
  });

  it('a far target waits in steps of at most a minute and never overflows setTimeout', async () => {
    vi.useFakeTimers({ now: 0 });
    const spy = vi.spyOn(globalThis, 'setTimeout');
    let calls = 0;
    new WakeupTimer(() => calls++).arm(40 * 86_400_000);
    await vi.advanceTimersByTimeAsync(40 * 86_400_000 - 1);
    expect(calls).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toBe(1);
    expect(Math.max(...spy.mock.calls.map((call) => Number(call[1])))).toBeLessThanOrEqual(60_000);
  });
});
