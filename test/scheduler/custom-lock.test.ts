// The scheduler's `lock` option with a Lock of the user's own (any object of the Lock shape), on the fake clock:
// only while it is held does the scheduler dispatch; it is tried every `retryMs` (else every second), tried again
// at once when it reports 'compromised', released (and its listener removed) at shutdown. Anything else is a
// ValueError naming the value.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileLock, IntervalTrigger, type Lock, Scheduler, ValueError } from '../../src/index.js';
import { silentLogger } from '../support/events.js';
import { useFakeClock } from '../support/fake-clock.js';
import { fakeLock } from '../support/fake-lock.js';

describe('the scheduler lock option with a Lock of the user’s own', () => {
  const clock = useFakeClock();

  it('dispatches only while held, tries every retryMs, and again at once when compromised', async () => {
    const custom = fakeLock({ retryMs: 250 });
    const scheduler = await clock.started({ lock: custom.lock });
    const runs = clock.record(scheduler, 'task:submitted');
    await scheduler.addTask(() => {}, { trigger: new IntervalTrigger({ milliseconds: 100 }) });
    expect(custom.state.tries).toBe(1);
    expect(custom.listeners.size).toBe(1);

    await clock.advance(1000);
    expect(runs).toEqual([]);
    expect(custom.state.tries).toBe(5); // at 0, 250, 500, 750 and 1000 ms

    custom.state.free = true;
    await clock.advance(250);
    expect(custom.state.tries).toBe(6);
    expect(custom.lock.held).toBe(true);
    const firstRun = runs.length;
    expect(firstRun).toBeGreaterThanOrEqual(1);
    await clock.advance(1000);
    expect(runs.length - firstRun).toBe(10);
    expect(custom.state.tries).toBe(6); // held: no more tries

    custom.lose();
    await clock.advance(0);
    expect(custom.state.tries).toBe(7); // tried again at once, and lost to the other holder
    const lostAt = runs.length;
    await clock.advance(1000);
    expect(runs.length).toBe(lostAt);
    expect(custom.state.tries).toBe(11);

    await scheduler.shutdown();
    expect(custom.state.releases).toBe(1);
    expect(custom.listeners.size).toBe(0);
    await clock.advance(2000);
    expect(custom.state.tries).toBe(11);
  });

  it('tries a lock without retryMs every second', async () => {
    const custom = fakeLock();
    const scheduler = await clock.started({ lock: custom.lock });
    const runs = clock.record(scheduler, 'task:submitted');
    await scheduler.addTask(() => {}, { trigger: new IntervalTrigger({ milliseconds: 100 }) });
    await clock.advance(999);
    expect(custom.state.tries).toBe(1);
    custom.state.free = true;
    await clock.advance(1);
    expect(custom.state.tries).toBe(2);
    await clock.advance(300);
    expect(runs.length).toBeGreaterThanOrEqual(3);
  });

  it('a lock that is held at start dispatches at once, and restarting keeps one listener', async () => {
    const custom = fakeLock({ retryMs: 250 });
    custom.state.free = true;
    const scheduler = await clock.started({ lock: custom.lock });
    const runs = clock.record(scheduler, 'task:submitted');
    await scheduler.addTask(() => {}, { trigger: new IntervalTrigger({ milliseconds: 100 }) });
    await clock.advance(300);
    expect(runs).toHaveLength(3);
    await scheduler.shutdown();
    await scheduler.start();
    expect(custom.listeners.size).toBe(1);
    expect(custom.lock.held).toBe(true);
  });
});

describe('the scheduler lock option: validation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kairos-custom-lock-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const make = (lock: unknown) => new Scheduler({ logger: silentLogger, lock: lock as Lock });

  it('rejects anything but a Lock or a path with a ValueError naming the value', () => {
    const { lock } = fakeLock();
    const { retryMs: _, ...shape } = { ...lock, retryMs: 1 };
    const bad: Array<[unknown, RegExp]> = [
      [{}, /lock must be a Lock .*got \{\}/],
      [42, /got 42$/],
      [null, /got null$/],
      ['', /got ""$/],
      [true, /got true$/],
      [{ ...shape, held: 'yes' }, /got \{"held":"yes"\}/],
      [{ ...shape, held: undefined }, /lock must be a Lock/],
      [{ ...shape, tryAcquire: true }, /got \{"held":false,"tryAcquire":true\}/],
      [{ ...shape, release: undefined }, /lock must be a Lock/],
      [{ ...shape, on: 'compromised' }, /"on":"compromised"/],
      [{ ...shape, off: undefined }, /lock must be a Lock/],
      [{ ...shape, retryMs: 0 }, /"retryMs":0/],
      [{ ...shape, retryMs: '1000' }, /"retryMs":"1000"/],
      [{ ...shape, retryMs: Number.NaN }, /"retryMs":null/],
      [{ ...shape, retryMs: 2 ** 31 }, /"retryMs":2147483648/],
    ];
    for (const [value, message] of bad) {
      expect(() => make(value), JSON.stringify(value)).toThrow(ValueError);
      expect(() => make(value), JSON.stringify(value)).toThrow(message);
    }
  });

  it('accepts a plain object of the Lock shape, with or without retryMs, a FileLock and a path', () => {
    const { lock } = fakeLock();
    expect(() => make(lock)).not.toThrow();
    expect(() => make({ ...lock, retryMs: 10 })).not.toThrow();
    expect(() => make(new FileLock(join(dir, 'a')))).not.toThrow();
    expect(() => make(join(dir, 'b'))).not.toThrow();
    expect(() => make(join(dir, '{store}'))).not.toThrow();
  });

  it("a FileLock's retryMs is its update period", () => {
    expect(new FileLock(join(dir, 'a'), { stale: 6000 }).retryMs).toBe(3000);
    expect(new FileLock(join(dir, 'a'), { stale: 6000, update: 1500 }).retryMs).toBe(1500);
  });
});
