// API.md, "Events": a failing store (I/O error, a lock held by a stuck process) delays only its own tasks, is
// reported with `store:error` and retried with backoff; `shutdown({ timeout })` returns within its timeout
// whatever a store is doing.
import { describe, expect, it, vi } from 'vitest';
import {
  type AcquireOptions,
  DateTrigger,
  IntervalTrigger,
  MemoryStore,
  type RunSlotClaim,
  type TaskRecord,
  type TaskStore,
} from '../../src/index.js';
import { payloads } from '../support/events.js';
import { T0, useFakeClock } from '../support/fake-clock.js';

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

describe('a store that hangs or fails (fake timers)', () => {
  const clock = useFakeClock();

  it("delays only its own tasks: another store's heartbeat keeps its times", async () => {
    const stuck = new StuckStore();
    const scheduler = clock.scheduler({ stores: { default: new MemoryStore(), stuck: stuck as TaskStore } });
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
    await clock.advance(1000);
    // 20 beats are due in 1 s, each on time; a heartbeat stalled behind the stuck store would have none.
    expect(beats).toHaveLength(20);
    const gaps = beats.slice(1).map((at, index) => at - (beats[index] as number));
    expect(new Set(gaps)).toEqual(new Set([50]));
  });

  it('is reported with store:error and retried with a backoff that doubles', async () => {
    const failing = new FailingStore();
    const scheduler = clock.scheduler({ stores: { default: new MemoryStore(), bad: failing } });
    const seen = clock.record(scheduler, 'store:error');
    await scheduler.start();
    await clock.advance(0);
    expect(failing.failures).toBe(1);
    // Tries again after 1 s, 2 s, 4 s...: 1 + 3 tries in the first 7 s, never a hot loop.
    await clock.advance(7000);
    expect(failing.failures).toBe(4);
    const errors = payloads(seen, 'store:error');
    expect(errors).toHaveLength(4);
    expect(errors[0]).toMatchObject({ alias: 'bad' });
    expect(String((errors[0] as { error: Error }).error.message)).toMatch(/EACCES/);
  });

  it('shutdown({ timeout }) returns within its timeout while a store hangs', async () => {
    const stuck = new StuckStore();
    const scheduler = clock.scheduler({ stores: { default: stuck as TaskStore } });
    await scheduler.start();
    await scheduler.addTask(() => {}, { id: 'a', trigger: new IntervalTrigger({ milliseconds: 20 }) });
    stuck.stuck = true;
    stuck.stuckClose = true;
    await clock.advance(100);
    let done = false;
    const shutdown = scheduler.shutdown({ timeout: 300 }).then(() => {
      done = true;
    });
    await clock.advance(299);
    expect(done).toBe(false);
    // At its deadline, every wait that is left gives up at once (timers of 0 ms, run as fake time moves on).
    for (let step = 0; step < 10 && !done; step++) await clock.advance(1);
    expect(done).toBe(true);
    await shutdown;
    expect(scheduler.running).toBe(false);
  });

  // API.md "Events" (a failing store is retried with backoff) and "Dispatch semantics" (no scheduled time runs
  // twice): one failed run-slot claim reports that run and leaves the other tasks of the wake-up alone.
  it('no scheduled time runs twice when a store fails to claim a run slot once', async () => {
    // A shared store (run slots kept in the store) whose first claim for 'bad' fails.
    let failures = 1;
    const flaky = Object.assign(new MemoryStore(), {
      shared: true,
      async claimRunSlot(claim: RunSlotClaim): Promise<boolean> {
        if (claim.taskId === 'bad' && failures-- > 0) throw new Error('store hiccup');
        return true;
      },
      async renewRunSlots(): Promise<void> {},
      async releaseRunSlot(): Promise<void> {},
      async requestRun(): Promise<void> {},
      async takeRunRequests(): Promise<[]> {
        return [];
      },
      async hasRunRequest(): Promise<boolean> {
        return false;
      },
      async cancelRunRequest(): Promise<boolean> {
        return false;
      },
    });
    const scheduler = clock.scheduler({ stores: { default: flaky } });
    const seen = clock.record(scheduler, 'task:executed', 'task:error');
    await scheduler.start();
    await scheduler.addTask(() => 'bad', {
      id: 'bad',
      trigger: new DateTrigger(T0 + 200),
      misfireGraceTime: null,
    });
    await scheduler.addTask(() => 'good', {
      id: 'good',
      trigger: new DateTrigger(T0 + 200),
      misfireGraceTime: null,
    });
    await clock.advance(60_000);
    expect(payloads(seen, 'task:executed').map((e) => e.taskId)).toEqual(['good']);
    expect(payloads(seen, 'task:error').map((e) => e.taskId)).toEqual(['bad']);
  });

  // API.md "Events": a store operation that fails is retried with backoff, not in a hot loop.
  it('a failing store is retried with backoff, not in a hot loop', async () => {
    const store = new MemoryStore();
    const acquire = vi.spyOn(store, 'acquireDueTasks').mockRejectedValue(new Error('disk on fire'));
    const scheduler = clock.scheduler({ stores: { default: store } });
    await scheduler.start();
    await clock.advance(10_000);
    // 1 s, 2 s, 4 s backoff after the first failure at 0: at most a handful of tries in 10 s.
    expect(acquire.mock.calls.length).toBeGreaterThanOrEqual(3);
    expect(acquire.mock.calls.length).toBeLessThanOrEqual(5);
  });
});
