// API.md, "Changes are atomic, and never rewind a schedule": a next run time the user pins (`updateTask`, or a
// changed `replaceExisting` declaration) in the past never makes a scheduled time that already ran run again.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { currentRun, IntervalTrigger, Scheduler } from '../../src/index.js';
import { silentLogger } from '../support/events.js';

const S = Date.parse('2026-03-01T00:00:00Z');

describe('a pinned next run time in the past', () => {
  let scheduler: Scheduler;
  const ran: number[] = [];
  beforeEach(async () => {
    vi.useFakeTimers({ now: S - 100 });
    ran.length = 0;
    scheduler = new Scheduler({ logger: silentLogger, timezone: 'UTC' });
    await scheduler.start();
  });
  afterEach(async () => {
    await scheduler.shutdown({ wait: false });
    vi.useRealTimers();
  });

  const options = (args: unknown[] = []) => ({
    id: 'x',
    trigger: new IntervalTrigger({ milliseconds: 500 }, { startAt: S }),
    coalesce: false,
    misfireGraceTime: null,
    args,
  });
  const record = (..._: unknown[]) => void ran.push((currentRun()?.scheduledRunTime.getTime() as number) - S);

  it('updateTask({ nextRunTime }) before a time that ran: that time does not run again', async () => {
    await scheduler.addTask(record, options());
    await vi.advanceTimersByTimeAsync(1200); // S+0, S+500, S+1000 ran
    expect(ran).toEqual([0, 500, 1000]);
    await scheduler.updateTask('x', { nextRunTime: S + 500 });
    await vi.advanceTimersByTimeAsync(900);
    expect(new Set(ran).size).toBe(ran.length);
    expect(ran.filter((time) => time <= 1000)).toEqual([0, 500, 1000]);
    expect(ran.at(-1)).toBe(2000);
  });

  it('a changed declaration with a past nextRunTime: no time that ran runs again', async () => {
    await scheduler.addTask(record, options());
    await vi.advanceTimersByTimeAsync(2120); // S+0 … S+2000 ran
    await scheduler.addTask(record, { ...options(['v2']), nextRunTime: S + 1500, replaceExisting: true });
    await vi.advanceTimersByTimeAsync(1000);
    expect(new Set(ran).size).toBe(ran.length);
    expect(ran.filter((time) => time <= 2000)).toEqual([0, 500, 1000, 1500, 2000]);
  });

  it('a pinned time in the future is kept as it is', async () => {
    await scheduler.addTask(record, options());
    await vi.advanceTimersByTimeAsync(200);
    const pinned = await scheduler.updateTask('x', { nextRunTime: S + 10_000 });
    expect(pinned.nextRunTime?.getTime()).toBe(S + 10_000);
  });
});
