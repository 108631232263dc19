// MemoryStore beyond the conformance suite: memory stays bounded by the tasks that exist.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type HeapPosition, MinHeap } from '../../src/heap.js';
import { MemoryStore } from '../../stores/memory.js';
import { makeRecord, recordingContext, T0 } from './harness.js';

describe('MemoryStore', () => {
  afterEach(() => vi.restoreAllMocks());

  it('adding and removing tasks for ever keeps its due-time heap bounded by the tasks that exist', async () => {
    // The size of the store's heap after each of its operations.
    let held = 0;
    for (const method of ['push', 'pop', 'remove', 'clear'] as const) {
      const original = MinHeap.prototype[method] as (
        this: MinHeap<HeapPosition>,
        ...args: unknown[]
      ) => unknown;
      vi.spyOn(MinHeap.prototype, method).mockImplementation(function (
        this: MinHeap<HeapPosition>,
        ...args: unknown[]
      ) {
        const result = original.apply(this, args);
        held = this.size;
        return result;
      } as never);
    }
    const store = new MemoryStore();
    await store.start(recordingContext().context);
    for (let round = 0; round < 3; round++) {
      for (let index = 0; index < 20_000; index++) {
        await store.addTask(makeRecord({ id: `t${index}`, nextRunTime: T0 + index }));
      }
      for (let index = 0; index < 20_000; index++) await store.removeTask(`t${index}`);
    }
    expect(await store.getTasks()).toEqual([]);
    expect(held).toBe(0);
    // What is left still works: a task added now is the one due.
    await store.addTask(makeRecord({ id: 'last', nextRunTime: T0 }));
    expect(await store.earliestWakeup('A')).toBe(T0);
    const due = await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: 10 });
    expect(due.map((record) => record.id)).toEqual(['last']);
  });
});

describe('MinHeap', () => {
  /** A seeded generator, so that a failure can be replayed. */
  function random(seed: number): () => number {
    let state = seed;
    return () => {
      state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
      return state / 2 ** 31;
    };
  }

  /** A value that knows its place, and its key (to check what comes out). */
  interface Entry extends HeapPosition {
    key: number;
  }

  it('pops in key order, after any values were removed from anywhere in it, and knows where each value is', () => {
    const next = random(7);
    for (const size of [0, 1, 2, 3, 10, 257, 1000]) {
      const heap = new MinHeap<Entry>();
      const entries: Entry[] = Array.from({ length: size }, () => ({
        key: Math.floor(next() * 100),
        heapIndex: -1,
      }));
      for (const entry of entries) heap.push(entry.key, entry);
      // Remove a random half (some twice: the second removal does nothing), and one never pushed.
      const removed = new Set<Entry>();
      for (const entry of entries) {
        if (next() < 0.5) continue;
        heap.remove(entry);
        heap.remove(entry);
        removed.add(entry);
        expect(entry.heapIndex).toBe(-1);
      }
      heap.remove({ key: 0, heapIndex: 0 });
      const kept = entries.filter((entry) => !removed.has(entry));
      expect(heap.size).toBe(kept.length);
      const popped: number[] = [];
      for (;;) {
        const key = heap.peekKey();
        const entry = heap.pop();
        if (entry === undefined) break;
        expect(entry.key).toBe(key);
        expect(entry.heapIndex).toBe(-1);
        popped.push(entry.key);
        // Every value still in the heap is where it says it is: removing one by its index takes that one.
        if (heap.size > 0 && popped.length % 7 === 0) {
          const last = kept.find((candidate) => candidate.heapIndex === heap.size - 1) as Entry;
          heap.remove(last);
          expect(last.heapIndex).toBe(-1);
          popped.push(last.key);
        }
      }
      expect(popped.sort((a, b) => a - b)).toEqual(kept.map((entry) => entry.key).sort((a, b) => a - b));
    }
  });

  it('pops in key order while pushes, pops and removals interleave (against a sorted list)', () => {
    const next = random(11);
    const heap = new MinHeap<Entry>();
    const live: Entry[] = [];
    for (let step = 0; step < 20_000; step++) {
      const roll = next();
      if (roll < 0.5) {
        const entry = { key: Math.floor(next() * 1000), heapIndex: -1 };
        heap.push(entry.key, entry);
        live.push(entry);
      } else if (roll < 0.75 && live.length > 0) {
        const entry = live.splice(Math.floor(next() * live.length), 1)[0] as Entry;
        heap.remove(entry);
      } else {
        const smallest = live.reduce((min, entry) => Math.min(min, entry.key), Number.POSITIVE_INFINITY);
        const entry = heap.pop();
        if (live.length === 0) {
          expect(entry).toBeUndefined();
          continue;
        }
        expect(entry?.key).toBe(smallest);
        live.splice(live.indexOf(entry as Entry), 1);
      }
      expect(heap.size).toBe(live.length);
    }
  });
});
