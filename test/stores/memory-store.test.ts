// MemoryStore beyond the conformance suite: memory stays bounded by the tasks that exist.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MinHeap } from '../../src/heap.js';
import { MemoryStore } from '../../stores/memory.js';
import { makeRecord, recordingContext, T0 } from './harness.js';

describe('MemoryStore', () => {
  afterEach(() => vi.restoreAllMocks());

  it('adding and removing tasks for ever keeps its due-time heap bounded by the tasks that exist', async () => {
    // Counts the heap entries held: pushes, less pops, since the heap was last cleared.
    let held = 0;
    const push = MinHeap.prototype.push;
    const pop = MinHeap.prototype.pop;
    const clear = MinHeap.prototype.clear;
    vi.spyOn(MinHeap.prototype, 'push').mockImplementation(function (this: MinHeap<unknown>, key, value) {
      held++;
      push.call(this, key, value);
    });
    vi.spyOn(MinHeap.prototype, 'pop').mockImplementation(function (this: MinHeap<unknown>) {
      const value = pop.call(this);
      if (value !== undefined) held--;
      return value;
    });
    vi.spyOn(MinHeap.prototype, 'clear').mockImplementation(function (this: MinHeap<unknown>) {
      held = 0;
      clear.call(this);
    });
    const store = new MemoryStore();
    await store.start(recordingContext().context);
    for (let round = 0; round < 3; round++) {
      for (let index = 0; index < 20_000; index++) {
        await store.addTask(makeRecord({ id: `t${index}`, nextRunTime: T0 + index }));
      }
      for (let index = 0; index < 20_000; index++) await store.removeTask(`t${index}`);
    }
    expect(await store.getTasks()).toEqual([]);
    expect(held).toBeLessThanOrEqual(1025);
    // What is left still works: a task added now is the one due.
    await store.addTask(makeRecord({ id: 'last', nextRunTime: T0 }));
    expect(await store.earliestWakeup('A')).toBe(T0);
    const due = await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: 10 });
    expect(due.map((record) => record.id)).toEqual(['last']);
  });
});
