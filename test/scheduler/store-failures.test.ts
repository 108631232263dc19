// API.md, "Events": a failing store (I/O error, a lock held by a stuck process) delays only its own tasks, is
// reported with `store:error` and retried with backoff; `shutdown({ timeout })` returns within its timeout
// whatever a store is doing.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { IntervalTrigger, MemoryStore, Scheduler, type TaskStore } from '../../src/index.js';
import type { AcquireOptions, TaskRecord } from '../../src/store.js';
import { payloads, recordEvents, silentLogger } from '../support/events.js';

/** A MemoryStore whose wake-up queries never answer once `stuck` is set (a lock held by a stuck process). */
class StuckStore extends MemoryStore {
  stuck = false;
  /** Set: `close()` never answers either. */
  stuckClose = false;

  override acquireDueTasks(options: AcquireOptions): Promise<TaskRecord[]> {
    return this.stuck ? new Promise(() => {}) : super.acquireDueTasks(options);
  }

  override close(): Promise<void> {
    return this.stuckClose ? new Promise(() => {}) : super.close();
  }
}

/** A MemoryStore whose wake-up queries fail (a file that cannot be written). */
class FailingStore extends MemoryStore {
  failures = 0;
  override async acquireDueTasks(): Promise<TaskRecord[]> {
    this.failures++;
    throw new Error('EACCES: permission denied');
  }
}

describe('a store that hangs or fails', () => {
  let scheduler: Scheduler;
  afterEach(async () => {
    vi.useRealTimers();
    if (scheduler?.running) await scheduler.shutdown({ wait: false, timeout: 100 });
  });

  it("delays only its own tasks: another store's heartbeat keeps its times", async () => {
    vi.useFakeTimers({ now: Date.parse('2026-03-01T00:00:00Z') });
    const stuck = new StuckStore();
    scheduler = new Scheduler({
      logger: silentLogger,
      stores: { default: new MemoryStore(), stuck: stuck as TaskStore },
    });
    const beats: number[] = [];
    await scheduler.start();
    await scheduler.addTask(() => {}, {
      id: 'other',
      trigger: new IntervalTrigger({ milliseconds: 20 }),
      store: 'stuck',
    });
    stuck.stuck = true;
    await scheduler.addTask(() => void beats.push(Date.now()), {
      id: 'beat',
      trigger: new IntervalTrigger({ milliseconds: 50 }),
    });
    await vi.advanceTimersByTimeAsync(1000);
    // 20 beats are due in 1 s, each on time; a heartbeat stalled behind the stuck store would have none.
    expect(beats).toHaveLength(20);
    const gaps = beats.slice(1).map((at, index) => at - (beats[index] as number));
    expect(new Set(gaps)).toEqual(new Set([50]));
  });

  it('is reported with store:error and retried with a backoff that doubles', async () => {
    vi.useFakeTimers({ now: Date.parse('2026-03-01T00:00:00Z') });
    const failing = new FailingStore();
    scheduler = new Scheduler({ logger: silentLogger, stores: { default: new MemoryStore(), bad: failing } });
    const seen = recordEvents(scheduler, 'store:error');
    await scheduler.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(failing.failures).toBe(1);
    // Tries again after 1 s, 2 s, 4 s...: 1 + 3 tries in the first 7 s, never a hot loop.
    await vi.advanceTimersByTimeAsync(7000);
    expect(failing.failures).toBe(4);
    const errors = payloads(seen, 'store:error');
    expect(errors).toHaveLength(4);
    expect(errors[0]).toMatchObject({ alias: 'bad' });
    expect(String((errors[0] as { error: Error }).error.message)).toMatch(/EACCES/);
  });

  it('shutdown({ timeout }) returns within its timeout while a store hangs', async () => {
    vi.useFakeTimers({ now: Date.parse('2026-03-01T00:00:00Z') });
    const stuck = new StuckStore();
    scheduler = new Scheduler({ logger: silentLogger, stores: { default: stuck as TaskStore } });
    await scheduler.start();
    await scheduler.addTask(() => {}, { id: 'a', trigger: new IntervalTrigger({ milliseconds: 20 }) });
    stuck.stuck = true;
    stuck.stuckClose = true;
    await vi.advanceTimersByTimeAsync(100);
    let done = false;
    const shutdown = scheduler.shutdown({ timeout: 300 }).then(() => {
      done = true;
    });
    await vi.advanceTimersByTimeAsync(299);
    expect(done).toBe(false);
    // At its deadline, every wait that is left gives up at once (timers of 0 ms, run as fake time moves on).
    for (let step = 0; step < 10 && !done; step++) await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
    await shutdown;
    expect(scheduler.running).toBe(false);
  });
});
