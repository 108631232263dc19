// Adds and removes done at once on a MemoryStore (`ImmediateTaskStore`, `TaskRegistry.addNow/removeNow`): the
// same change as through the store's queue, in the same order, with the same errors, only without promise hops.
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ConflictingIdError,
  DateTrigger,
  IntervalTrigger,
  MemoryStore,
  StoreLookupError,
  TaskLookupError,
  type TaskRecord,
  ValueError,
} from '../../src/index.js';
import type { AcquireOptions } from '../../src/store.js';
import { StoreLane } from '../../src/store-lane.js';
import { T0, useFakeClock } from '../support/fake-clock.js';

const noop = () => {};

/** A MemoryStore whose wake-ups hold its lane between `hold()` and `release()`: its acquire waits. */
class GatedStore extends MemoryStore {
  #gate: Promise<void> | null = null;
  #open: () => void = () => {};
  acquiring = 0;

  hold(): void {
    this.#gate = new Promise((resolve) => {
      this.#open = resolve;
    });
  }

  release(): void {
    this.#gate = null;
    this.#open();
  }

  override async acquireDueTasks(options: AcquireOptions): Promise<TaskRecord[]> {
    this.acquiring++;
    if (this.#gate !== null) await this.#gate;
    return super.acquireDueTasks(options);
  }
}

describe('adds and removes done at once', () => {
  const clock = useFakeClock();
  afterEach(() => vi.restoreAllMocks());

  it('behave as the queued ones: the task, its events, and errors as rejections (never thrown)', async () => {
    const scheduler = await clock.started();
    // Past the wake-up of start: nothing is queued on the store now, so the changes below are done at once.
    await clock.advance(10);
    const addsAtOnce = vi.spyOn(MemoryStore.prototype, 'addTaskNow');
    const removesAtOnce = vi.spyOn(MemoryStore.prototype, 'removeTaskNow');
    const seen = clock.record(scheduler, 'task:added', 'task:removed');
    const task = await scheduler.addTask(noop, { id: 'a', trigger: new IntervalTrigger({ seconds: 5 }) });
    expect(task).toMatchObject({ id: 'a', store: 'default', pending: false, args: [], tags: [] });
    expect(task.nextRunTime?.getTime()).toBe(T0 + 10 + 5000);
    expect((await scheduler.getTask('a'))?.nextRunTime?.getTime()).toBe(T0 + 10 + 5000);
    await expect(
      scheduler.addTask(noop, { id: 'a', trigger: new IntervalTrigger({ seconds: 5 }) }),
    ).rejects.toBeInstanceOf(ConflictingIdError);
    await scheduler.removeTask('a');
    expect(await scheduler.getTask('a')).toBeUndefined();
    expect(seen.map(([name]) => name)).toEqual(['task:added', 'task:removed']);
    expect(addsAtOnce).toHaveBeenCalledTimes(2);
    expect(removesAtOnce).toHaveBeenCalledTimes(1);

    // Bad input: each call returns a rejected promise and throws nothing.
    const calls = [
      () => scheduler.removeTask('a'),
      () => scheduler.removeTask('a', { store: 'nowhere' }),
      () => scheduler.removeTask('a', { stor: 'default' } as never),
      () => scheduler.removeTask('a', null as never),
      () => scheduler.removeTask(42 as never),
    ];
    const errors: unknown[] = [];
    for (const call of calls) {
      let promise: Promise<void> | undefined;
      expect(() => {
        promise = call();
      }).not.toThrow();
      errors.push(await (promise as Promise<void>).catch((error: unknown) => error));
    }
    expect(errors[0]).toBeInstanceOf(TaskLookupError);
    expect(errors[1]).toBeInstanceOf(StoreLookupError);
    expect(errors[2]).toBeInstanceOf(ValueError);
    expect(String(errors[2])).toMatch(/'stor'/);
    expect(errors[3]).toBeInstanceOf(ValueError);
    expect(errors[4]).toBeInstanceOf(TaskLookupError);
  });

  it('run the added task on time, and a removed one never', async () => {
    const scheduler = await clock.started();
    const fired: string[] = [];
    await scheduler.addTask(() => fired.push('kept'), { id: 'kept', trigger: new DateTrigger(T0 + 1000) });
    await scheduler.addTask(() => fired.push('gone'), { id: 'gone', trigger: new DateTrigger(T0 + 1000) });
    await scheduler.removeTask('gone');
    await clock.advance(1000);
    expect(fired).toEqual(['kept']);
  });

  it('wait behind a wake-up in progress on the store (they are ordered after it, as queued ones are)', async () => {
    const store = new GatedStore();
    const scheduler = await clock.started({ stores: { default: store } });
    await scheduler.addTask(noop, { id: 'due', trigger: new DateTrigger(T0 + 1000) });
    await scheduler.addTask(noop, { id: 'later', trigger: new DateTrigger(T0 + 60_000) });
    store.hold();
    const acquiring = store.acquiring;
    await clock.advance(1000);
    // The wake-up is under way and holds the store's lane.
    expect(store.acquiring).toBe(acquiring + 1);
    const order: string[] = [];
    const removed = scheduler.removeTask('later').then(() => order.push('removed'));
    const added = scheduler
      .addTask(noop, { id: 'new', trigger: new DateTrigger(T0 + 60_000) })
      .then(() => order.push('added'));
    await clock.advance(0);
    expect(order).toEqual([]);
    expect(await store.getTask('later')).toBeDefined();
    store.release();
    await Promise.all([removed, added]);
    expect(order.sort()).toEqual(['added', 'removed']);
    expect((await scheduler.getTasks()).map((task) => task.id)).toEqual(['new']);
  });

  it('never overtake a change called before them that is still on its way to the store', async () => {
    const scheduler = await clock.started();
    const trigger = new IntervalTrigger({ seconds: 5 });
    await scheduler.addTask(noop, { id: 'a', name: 'old', trigger });
    // Called in this order, not awaited: the pause is for the task as it is, then it is removed.
    const pairs = await Promise.allSettled([scheduler.pauseTask('a'), scheduler.removeTask('a')]);
    expect(pairs.map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(await scheduler.getTask('a')).toBeUndefined();
    // A pause called before a removal and a new add of the id never lands on the new task.
    await scheduler.addTask(noop, { id: 'a', name: 'old', trigger });
    const outcomes = await Promise.allSettled([
      scheduler.pauseTask('a'),
      scheduler.removeTask('a'),
      scheduler.addTask(noop, { id: 'a', name: 'new', trigger }),
    ]);
    expect(outcomes.slice(0, 2).map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled']);
    const task = await scheduler.getTask('a');
    if (outcomes[2]?.status === 'fulfilled') {
      expect(task?.name).toBe('new');
      expect(task?.paused).toBe(false);
    } else {
      expect(task).toBeUndefined();
    }
    // An update called before a removal applies to the task it was called for, and the removal then goes on.
    await scheduler.addTask(noop, { id: 'b', trigger });
    const settled = await Promise.allSettled([
      scheduler.updateTask('b', { name: 'renamed' }),
      scheduler.removeTask('b'),
    ]);
    expect(settled.map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(await scheduler.getTask('b')).toBeUndefined();
  });

  it('are used only by a store with both immediate methods (else the queued path, as before)', async () => {
    // Removes at once but adds only through the queue (a store may offer some of the methods).
    class RemovesAtOnce extends MemoryStore {
      override addTaskNow = undefined as unknown as MemoryStore['addTaskNow'];
    }
    const scheduler = await clock.started({ stores: { default: new RemovesAtOnce() } });
    // Past the wake-up of start: nothing is queued on the store now.
    await clock.advance(10);
    const task = await scheduler.addTask(noop, { id: 'x', trigger: new IntervalTrigger({ seconds: 5 }) });
    expect(task.id).toBe('x');
    await scheduler.removeTask('x');
    expect(await scheduler.getTasks()).toEqual([]);
  });

  it('leave a lifecycle task to the queued path: its cleanup has run when removeTask resolves', async () => {
    const scheduler = await clock.started();
    const steps: string[] = [];
    await scheduler.addTask(
      function* () {
        steps.push('setup');
        try {
          for (;;) yield;
        } finally {
          steps.push('cleanup');
        }
      },
      { id: 'life', trigger: new IntervalTrigger({ seconds: 5 }) },
    );
    expect(steps).toEqual(['setup']);
    await scheduler.removeTask('life');
    expect(steps).toEqual(['setup', 'cleanup']);
  });
});

describe('StoreLane.quiet', () => {
  it('is true only while no work is queued or running on the lane, failed work included', async () => {
    const lane = new StoreLane('default', new MemoryStore());
    expect(lane.quiet).toBe(true);
    let finish: () => void = () => {};
    const first = lane.exclusive(
      () =>
        new Promise<void>((resolve) => {
          finish = resolve;
        }),
    );
    const second = lane.exclusive(async () => {
      throw new Error('failed');
    });
    expect(lane.quiet).toBe(false);
    await Promise.resolve();
    expect(lane.quiet).toBe(false);
    finish();
    await first;
    expect(lane.quiet).toBe(false);
    await expect(second).rejects.toThrow('failed');
    expect(lane.quiet).toBe(true);
  });
});
