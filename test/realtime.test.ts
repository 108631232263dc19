// Real-time checks (no fake timers): runs start on time and never before their scheduled time.
import { describe, expect, it } from 'vitest';
import { DateTrigger, IntervalTrigger, Scheduler } from '../src/index.js';
import { silentLogger } from './support/events.js';

describe('real time', () => {
  it('an interval task fires on its grid with small lateness, never early, and does not drift', async () => {
    await using scheduler = new Scheduler({ logger: silentLogger });
    const lateness: number[] = [];
    scheduler.on(
      'task:submitted',
      (event) => void lateness.push(Date.now() - event.scheduledRunTime.getTime()),
    );
    await scheduler.start();
    const startAt = Date.now() + 100;
    await scheduler.addTask(() => {}, { trigger: new IntervalTrigger({ milliseconds: 50 }, { startAt }) });
    await new Promise((resolve) => setTimeout(resolve, 1120));
    expect(lateness.length).toBeGreaterThanOrEqual(19);
    expect(Math.min(...lateness)).toBeGreaterThanOrEqual(0);
    const sorted = [...lateness].sort((a, b) => a - b);
    expect(sorted[Math.floor(sorted.length / 2)]).toBeLessThan(10);
    // No drift: the last runs are no later than the first ones by more than scheduling noise.
    const head = lateness.slice(0, 5).reduce((a, b) => a + b) / 5;
    const tail = lateness.slice(-5).reduce((a, b) => a + b) / 5;
    expect(tail - head).toBeLessThan(15);
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
    expect(firedAt - runAt).toBeLessThan(50);
  });

  it('a burst of 2,000 tasks due at one instant all fire, each exactly once', async () => {
    await using scheduler = new Scheduler({ logger: silentLogger });
    await scheduler.start();
    const runAt = Date.now() + 300;
    const counts = new Map<number, number>();
    for (let i = 0; i < 2000; i++) {
      await scheduler.addTask(() => void counts.set(i, (counts.get(i) ?? 0) + 1), {
        trigger: new DateTrigger(runAt),
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(counts.size).toBe(2000);
    expect([...counts.values()].every((count) => count === 1)).toBe(true);
    expect(await scheduler.getTasks()).toEqual([]);
  });
});
