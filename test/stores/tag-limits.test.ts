// Tag concurrency limits and the after-trigger index at the store level (API.md "Task composition"): every shared
// store counts run slots per tag against limits it keeps, so that a limit holds across every scheduler sharing
// it; freeing a slot of a limited tag, and setting a limit, are news for other processes' watches. Every store
// lists its after-trigger tasks.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SharedTaskStore, TaskStore } from '../../src/store.js';
import { AFTER_IDLE, AfterTrigger } from '../../src/triggers/after.js';
import { makeRecord, recordingContext, type StoreBacking, selectedStores } from './harness.js';

const kinds = selectedStores();

describe.each(kinds)('$name store: after-triggers', (kind) => {
  let backing: StoreBacking;
  let store: TaskStore;
  beforeEach(async () => {
    backing = await kind.setUp();
    store = backing.open();
    await store.start(recordingContext().context);
  });
  afterEach(async () => {
    await store.close();
    await backing.cleanUp();
  });

  it('getAfterTriggers lists the tasks with an after-trigger and what they wait for, nothing else', async () => {
    await store.addTask(makeRecord({ id: 'up' }));
    await store.addTask(
      makeRecord({ id: 'down', trigger: new AfterTrigger(['up', 'other']), nextRunTime: AFTER_IDLE }),
    );
    // Args that read like an after-trigger spec are not one.
    await store.addTask(
      makeRecord({ id: 'decoy', args: ['"type":"after"', { type: 'after', tasks: ['x'] }] }),
    );
    expect(await store.getAfterTriggers()).toEqual([{ id: 'down', tasks: ['up', 'other'] }]);
    await store.updateTask('down', (current) => ({ ...current, trigger: new AfterTrigger('up') }));
    expect(await store.getAfterTriggers()).toEqual([{ id: 'down', tasks: ['up'] }]);
    await store.removeTask('down');
    expect(await store.getAfterTriggers()).toEqual([]);
  });
});

describe.each(kinds.filter((kind) => kind.shared))('$name store: tag concurrency limits', (kind) => {
  let backing: StoreBacking;
  let store: SharedTaskStore;
  beforeEach(async () => {
    backing = await kind.setUp();
    store = backing.open() as SharedTaskStore;
    await store.start(recordingContext().context);
  });
  afterEach(async () => {
    await store.close();
    await backing.cleanUp();
  });

  const claim = (runId: string, taskId: string, tags: string[], maxInstances = 10, ttl = 30_000) =>
    store.claimRunSlot({ taskId, runId, owner: 'A', expiresAt: Date.now() + ttl, maxInstances, tags });

  it('keeps limits; a claim beyond a tag limit answers the tag; a release frees its place', async () => {
    expect(await store.getConcurrencyLimits()).toEqual({});
    await store.setConcurrencyLimit('db', 2);
    await store.setConcurrencyLimit('mail', 5);
    expect(await store.getConcurrencyLimits()).toEqual({ db: 2, mail: 5 });
    expect(await claim('r1', 'a', ['db'])).toBe(true);
    expect(await claim('r2', 'b', ['mail', 'db'])).toBe(true);
    expect(await claim('r3', 'c', ['mail', 'db'])).toBe('db');
    expect(await claim('r4', 'c', ['mail'])).toBe(true);
    expect(await claim('r5', 'd', [])).toBe(true);
    await store.releaseRunSlot('r1');
    expect(await claim('r6', 'c', ['mail', 'db'])).toBe(true);
    expect(await claim('r7', 'e', ['db'])).toBe('db');
    await store.setConcurrencyLimit('db', null);
    expect(await store.getConcurrencyLimits()).toEqual({ mail: 5 });
    expect(await claim('r8', 'e', ['db'])).toBe(true);
  });

  it('maxInstances is answered before tags; a limit of 0 holds every claim of the tag', async () => {
    await store.setConcurrencyLimit('held', 0);
    expect(await claim('r1', 'a', ['held'])).toBe('held');
    expect(await claim('r2', 'b', ['free'], 1)).toBe(true);
    expect(await claim('r3', 'b', ['held'], 1)).toBe(false);
  });

  it('a limit set later counts the runs in progress; an expired slot does not count; renewal keeps one', async () => {
    expect(await claim('r1', 'a', ['db'], 10, 400)).toBe(true);
    expect(await claim('r2', 'b', ['db'], 10, 400)).toBe(true);
    await store.setConcurrencyLimit('db', 2);
    expect(await claim('r3', 'c', ['db'])).toBe('db');
    await store.renewRunSlots('A', ['r2'], Date.now() + 30_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    // r1 expired, r2 was renewed: one place.
    expect(await claim('r4', 'c', ['db'])).toBe(true);
    expect(await claim('r5', 'd', ['db'])).toBe('db');
  });

  it('another instance claiming at once never takes a place beyond the limit', async () => {
    await store.setConcurrencyLimit('db', 3);
    const other = backing.open() as SharedTaskStore;
    await other.start(recordingContext().context);
    try {
      const answers = await Promise.all(
        Array.from({ length: 60 }, (_, index) =>
          (index % 2 === 0 ? store : other).claimRunSlot({
            taskId: `t${index % 20}`,
            runId: `r${index}`,
            owner: index % 2 === 0 ? 'A' : 'B',
            expiresAt: Date.now() + 30_000,
            maxInstances: 5,
            tags: ['db', `own-${index}`],
          }),
        ),
      );
      expect(answers.filter((answer) => answer === true)).toHaveLength(3);
      expect(answers.filter((answer) => answer === 'db')).toHaveLength(57);
    } finally {
      await other.close();
    }
  });

  if (kind.persistent) {
    it("other instances' watches hear of a limit set and of a limited slot freed, not of an unlimited one", async () => {
      const other = backing.open() as SharedTaskStore;
      await other.start(recordingContext().context);
      let calls = 0;
      const stop = store.watch?.(() => void calls++);
      const settle = () => new Promise((resolve) => setTimeout(resolve, 300));
      try {
        await other.setConcurrencyLimit('db', 1);
        await expect.poll(() => calls, { timeout: 3000 }).toBe(1);
        await other.claimRunSlot({
          taskId: 'a',
          runId: 'r1',
          owner: 'B',
          expiresAt: Date.now() + 30_000,
          maxInstances: 1,
          tags: ['db'],
        });
        await other.claimRunSlot({
          taskId: 'b',
          runId: 'r2',
          owner: 'B',
          expiresAt: Date.now() + 30_000,
          maxInstances: 1,
          tags: ['free'],
        });
        await settle();
        expect(calls).toBe(1);
        await other.releaseRunSlot('r2');
        await settle();
        expect(calls).toBe(1);
        await other.releaseRunSlot('r1');
        await expect.poll(() => calls, { timeout: 3000 }).toBe(2);
      } finally {
        stop?.();
        await other.close();
      }
    });
  }
});
