// Real-time checks (no fake timers) of the Scheduler: on a real clock and real timers, no run starts before its
// scheduled time, every scheduled time runs once, and runs start on time within a generous bound (one second,
// where a correct scheduler is late by a millisecond or two). How late exactly is measured by the benchmarks.
import { describe, expect, it } from 'vitest';
import { DateTrigger, IntervalTrigger, Scheduler } from '../../src/index.js';
import { silentLogger } from '../support/events.js';

/** Lateness no correct scheduler reaches, even on a loaded machine; a scheduler that polls or sleeps misses it. */
const ON_TIME_MS = 1000;

describe('real time', () => {
  it('an interval task runs every time of its grid once, in order, never early, each on time', async () => {
    await using scheduler = new Scheduler({ logger: silentLogger });
    const runs: Array<{ scheduled: number; lateness: number }> = [];
    scheduler.on('task:submitted', (event) => {
      const scheduled = event.scheduledRunTime.getTime();
      runs.push({ scheduled, lateness: Date.now() - scheduled });
    });
    const removed = new Promise((resolve) => scheduler.once('task:removed', resolve));
    await scheduler.start();
    const startAt = Date.now() + 100;
    // coalesce off and no misfire limit: however loaded the machine, each of the 21 times runs once.
    await scheduler.addTask(() => {}, {
      trigger: new IntervalTrigger({ milliseconds: 50 }, { startAt, endAt: startAt + 1000 }),
      coalesce: false,
      misfireGraceTime: null,
    });
    await removed;
    // On the grid (no drift), in order, each time once.
    expect(runs.map((run) => run.scheduled)).toEqual(Array.from({ length: 21 }, (_, k) => startAt + k * 50));
    expect(Math.min(...runs.map((run) => run.lateness))).toBeGreaterThanOrEqual(0);
    expect(Math.max(...runs.map((run) => run.lateness))).toBeLessThan(ON_TIME_MS);
  });

  it('a one-shot task fires at its time, not before', async () => {
    await using scheduler = new Scheduler({ logger: silentLogger });
    await scheduler.start();
    const runAt = Date.now() + 250;
    const fired = new Promise<number>((resolve) => {
      void scheduler.addTask(() => resolve(Date.now()), { trigger: new DateTrigger(runAt) });
    });
    const firedAt = await fired;
    expect(firedAt).toBeGreaterThanOrEqual(runAt);
    expect(firedAt - runAt).toBeLessThan(ON_TIME_MS);
  });

  it('a burst of 2,000 tasks due at one instant all fire, each exactly once, none early', async () => {
    await using scheduler = new Scheduler({ logger: silentLogger });
    // Added while paused, so that however long adding takes, every task is due at the same instant.
    await scheduler.start({ paused: true });
    const runAt = Date.now() + 300;
    const counts = new Map<number, number>();
    let early = 0;
    let ran = 0;
    const all = new Promise<void>((resolve) => {
      scheduler.on('task:executed', () => {
        if (++ran === 2000) resolve();
      });
    });
    for (let i = 0; i < 2000; i++) {
      await scheduler.addTask(
        () => {
          if (Date.now() < runAt) early++;
          counts.set(i, (counts.get(i) ?? 0) + 1);
        },
        { trigger: new DateTrigger(runAt), misfireGraceTime: null },
      );
    }
    scheduler.resume();
    await all;
    // Give a run that would come twice the time to do so.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(counts.size).toBe(2000);
    expect([...counts.values()].every((count) => count === 1)).toBe(true);
    expect(early).toBe(0);
    expect(await scheduler.getTasks()).toEqual([]);
  });
});
