// The TaskStore contract (src/store.ts), run against every store in test/stores/harness.ts.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConflictingIdError, SerializationError, TaskLookupError, ValueError } from '../../src/errors.js';
import { serializeTask } from '../../src/serialization.js';
import {
  copyTaskRecord,
  type SharedTaskStore,
  type StoreContext,
  type StoredTaskState,
  type TaskRecord,
  type TaskStore,
} from '../../src/store.js';
import { AFTER_IDLE, AfterTrigger } from '../../src/triggers/after.js';
import { CalendarIntervalTrigger } from '../../src/triggers/calendar-interval.js';
import { AndTrigger, OrTrigger } from '../../src/triggers/combining.js';
import { CronTrigger } from '../../src/triggers/cron.js';
import { DateTrigger } from '../../src/triggers/date.js';
import { IntervalTrigger } from '../../src/triggers/interval.js';
import { ShutdownTrigger } from '../../src/triggers/shutdown.js';
import { makeRecord, recordingContext, type StoreBacking, selectedStores, T0 } from './harness.js';

/** What a record holds, as comparable plain JSON (triggers by their spec). */
function plain(record: TaskRecord | undefined) {
  return record === undefined ? undefined : serializeTask(record);
}

/** A record of every trigger type, and between them every option with a non-default value. */
function everyKindOfRecord(): TaskRecord[] {
  return [
    makeRecord({ id: 'date', trigger: new DateTrigger('2026-04-01T09:00', { timezone: 'Europe/Berlin' }) }),
    makeRecord({
      id: 'interval',
      trigger: new IntervalTrigger(
        { weeks: 1, days: 2, hours: 3, minutes: 4, seconds: 5, milliseconds: 6 },
        { startAt: T0, endAt: T0 + 365 * 86_400_000, timezone: 'Asia/Kolkata', jitter: 250 },
      ),
    }),
    makeRecord({
      id: 'cron',
      trigger: new CronTrigger('0 9 * * 1-5', {
        timezone: 'Europe/Berlin',
        startAt: '2026-03-01T00:00:00Z',
        endAt: '2027-03-01T00:00:00Z',
        jitter: 1000,
      }),
    }),
    makeRecord({
      id: 'cron-seconds',
      trigger: new CronTrigger('*/15 30 1 L * *', { timezone: 'America/New_York' }),
    }),
    makeRecord({
      id: 'calendar',
      trigger: new CalendarIntervalTrigger(
        { years: 1, months: 2, weeks: 1, days: 3 },
        {
          hour: 2,
          minute: 30,
          second: 15,
          startAt: '2026-03-29',
          endAt: '2030-01-01',
          timezone: 'Europe/London',
        },
      ),
    }),
    makeRecord({
      id: 'combined',
      trigger: new OrTrigger([
        new AndTrigger([
          new CronTrigger('0 12 * * *', { timezone: 'UTC' }),
          new IntervalTrigger({ days: 2 }, { startAt: T0 + 4.5 * 3_600_000 }),
        ]),
        new DateTrigger(T0 + 3_600_000),
      ]),
    }),
    makeRecord({ id: 'shutdown', trigger: new ShutdownTrigger(), nextRunTime: null }),
    makeRecord({
      id: 'after',
      trigger: AfterTrigger.fromJSON({ type: 'after', tasks: ['a', 'b'], outcome: 'any', satisfied: ['b'] }),
      nextRunTime: AFTER_IDLE,
    }),
    makeRecord({
      id: 'options',
      name: 'Every option set',
      fn: './jobs/report.js#weekly',
      args: [1, 'two', { three: [3, 3.5], nested: { deep: null } }, null, true, []],
      executor: 'pool',
      coalesce: false,
      misfireGraceTime: null,
      maxInstances: 3,
      nextRunTime: T0 + 123_456,
      retries: { max: 3, delayMs: 500, backoff: 1.5, maxDelayMs: 60_000, jitter: true },
      timeout: 30_000,
      tags: ['reports', 'weekly'],
      hooks: { onSuccess: 'notify', onRetry: 'warnOps' },
      middleware: ['audit', 'trace'],
    }),
    makeRecord({ id: 'paused', misfireGraceTime: 0, nextRunTime: null }),
  ];
}

describe.each(selectedStores())('$name store: the TaskStore contract', (kind) => {
  let backing: StoreBacking;
  let store: TaskStore;
  let context: StoreContext;
  let reports: Array<[string, SerializationError]>;

  beforeEach(async () => {
    backing = await kind.setUp();
    ({ context, reports } = recordingContext());
    store = backing.open();
    await store.start(context);
  });
  afterEach(async () => {
    vi.useRealTimers();
    await store.close();
    await backing.cleanUp();
  });

  /** Closes the store and opens a new instance on the same backing, as a restarted process would. */
  async function reopen(): Promise<TaskStore> {
    await store.close();
    store = backing.open();
    await store.start(context);
    return store;
  }

  async function addAll(...records: TaskRecord[]): Promise<void> {
    for (const record of records) await store.addTask(record);
  }

  describe('records', () => {
    it('round-trips every trigger type and every option, also across a restart', async () => {
      const records = everyKindOfRecord();
      await addAll(...records);
      for (const record of records) expect(plain(await store.getTask(record.id))).toEqual(plain(record));
      await reopen();
      for (const record of records) {
        const stored = (await store.getTask(record.id)) as TaskRecord;
        expect(plain(stored)).toEqual(plain(record));
        if (!JSON.stringify(record.trigger.toJSON()).includes('jitter')) {
          const from = new Date(T0 + 1);
          expect(stored.trigger.getNextFireTime(null, from)).toEqual(
            record.trigger.getNextFireTime(null, from),
          );
        }
      }
    });

    it('getTasks: by next run time, paused tasks last, ties by id', async () => {
      await addAll(
        makeRecord({ id: 'p2', nextRunTime: null }),
        makeRecord({ id: 'late', nextRunTime: T0 + 5000 }),
        makeRecord({ id: 'b-tie', nextRunTime: T0 + 1000 }),
        makeRecord({ id: 'p1', nextRunTime: null }),
        makeRecord({ id: 'a-tie', nextRunTime: T0 + 1000 }),
        makeRecord({ id: 'early', nextRunTime: T0 - 5000 }),
      );
      expect((await store.getTasks()).map((record) => record.id)).toEqual([
        'early',
        'a-tie',
        'b-tie',
        'late',
        'p1',
        'p2',
      ]);
    });

    it('addTask: an existing id is a ConflictingIdError naming it, and the stored task stays', async () => {
      await addAll(makeRecord({ id: 'a', name: 'first' }));
      const duplicate = store.addTask(makeRecord({ id: 'a', name: 'second' }));
      await expect(duplicate).rejects.toThrow(ConflictingIdError);
      await expect(duplicate).rejects.toThrow(/'a'/);
      expect((await store.getTask('a'))?.name).toBe('first');
      expect(await store.getTasks()).toHaveLength(1);
    });

    it('updateTask replaces the stored task; an unknown id is a TaskLookupError', async () => {
      await addAll(makeRecord({ id: 'a' }));
      await store.updateTask('a', () =>
        makeRecord({ id: 'a', name: 'renamed', args: [42], nextRunTime: T0 + 9000 }),
      );
      expect(plain(await store.getTask('a'))).toEqual(
        plain(makeRecord({ id: 'a', name: 'renamed', args: [42], nextRunTime: T0 + 9000 })),
      );
      await expect(store.updateTask('nope', () => makeRecord({ id: 'nope' }))).rejects.toThrow(
        TaskLookupError,
      );
      expect(await store.getTask('nope')).toBeUndefined();
    });

    it('updateTask changes the task as stored now: a next run time written meanwhile is kept', async () => {
      await addAll(makeRecord({ id: 'a', args: [1] }));
      // Another scheduler ran the task and moved it on after this one last read it.
      const stale = await store.getTask('a');
      await store.acquireDueTasks({ owner: 'B', now: T0, leaseMs: 1000, limit: 10 });
      await store.releaseTasks('B', [{ id: 'a', nextRunTime: T0 + 60_000 }]);
      const updated = await store.updateTask('a', (current) => ({ ...copyTaskRecord(current), args: [2] }));
      expect(stale?.nextRunTime).toBe(T0);
      expect(updated).toMatchObject({ args: [2], nextRunTime: T0 + 60_000 });
      expect(await store.getTask('a')).toMatchObject({ args: [2], nextRunTime: T0 + 60_000 });
    });

    it('updateTask: a change that returns the task as it is writes nothing; one that throws writes nothing', async () => {
      await addAll(makeRecord({ id: 'a', args: [1] }));
      const raw = await backing.rawRecord?.('a');
      const before = plain(await store.getTask('a'));
      expect(plain(await store.updateTask('a', (current) => current))).toEqual(before);
      expect(await backing.rawRecord?.('a')).toEqual(raw);
      const failing = store.updateTask('a', () => {
        throw new ValueError('bad change');
      });
      await expect(failing).rejects.toThrow('bad change');
      expect(plain(await store.getTask('a'))).toEqual(before);
      expect(await backing.rawRecord?.('a')).toEqual(raw);
    });

    it('updateTask tells the change which time a live lease is dispatching (null when none, or held)', async () => {
      await addAll(makeRecord({ id: 'a', nextRunTime: T0 }), makeRecord({ id: 'b', nextRunTime: T0 }));
      const states: Array<[string, StoredTaskState]> = [];
      const look = (id: string) =>
        store.updateTask(id, (current, state) => {
          states.push([id, { ...state }]);
          return current;
        });
      await look('a');
      await store.acquireDueTasks({ owner: 'A', now: T0 + 5, leaseMs: 1000, limit: 10 });
      await look('a');
      await store.releaseTasks('A', [{ id: 'b', holdUntil: T0 + 60_000 }]);
      await look('b');
      await store.releaseTasks('A', [{ id: 'a', nextRunTime: T0 + 60_000 }]);
      await look('a');
      // After the release, a store may still tell the time last dispatched (PostgreSQL does: its schedulers' clocks
      // differ), never a later one.
      const afterRelease = states[3]?.[1].leasedRunTime;
      expect(afterRelease === null || afterRelease === T0, String(afterRelease)).toBe(true);
      expect(states.slice(0, 3)).toEqual([
        ['a', { leasedRunTime: null }],
        ['a', { leasedRunTime: T0 }],
        ['b', { leasedRunTime: null }],
      ]);
    });

    it('releaseTasks lists the tasks whose lease the owner still held; a lease taken over is left alone', async () => {
      await addAll(makeRecord({ id: 'a', nextRunTime: T0 }), makeRecord({ id: 'b', nextRunTime: T0 }));
      await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: 10 });
      // A's lease expired; B takes the tasks over.
      await store.acquireDueTasks({ owner: 'B', now: T0 + 1000, leaseMs: 1000, limit: 10 });
      expect(
        await store.releaseTasks('A', [
          { id: 'a', nextRunTime: T0 + 60_000 },
          { id: 'b', nextRunTime: 'remove' },
        ]),
      ).toEqual([]);
      expect((await store.getTasks()).map((record) => [record.id, record.nextRunTime])).toEqual([
        ['a', T0],
        ['b', T0],
      ]);
      const released = await store.releaseTasks('B', [
        { id: 'a', nextRunTime: T0 + 60_000 },
        { id: 'b', holdUntil: T0 + 60_000 },
        { id: 'gone', nextRunTime: T0 },
      ]);
      expect(released.sort()).toEqual(['a', 'b']);
    });

    it('a release yields to a change made while the task was leased (a pause wins)', async () => {
      await addAll(makeRecord({ id: 'a', nextRunTime: T0 }), makeRecord({ id: 'b', nextRunTime: T0 }));
      await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: 10 });
      await store.updateTask('a', (current) => copyTaskRecord(current, null));
      await store.updateTask('b', (current) => copyTaskRecord(current, T0 + 5000));
      const released = await store.releaseTasks('A', [
        { id: 'a', nextRunTime: T0 + 60_000 },
        { id: 'b', nextRunTime: 'remove' },
      ]);
      expect(released.sort()).toEqual(['a', 'b']);
      expect((await store.getTasks()).map((record) => [record.id, record.nextRunTime])).toEqual([
        ['b', T0 + 5000],
        ['a', null],
      ]);
      expect(await store.earliestWakeup('A')).toBe(T0 + 5000);
    });

    it('removeTask returns the removed task; removeAllTasks returns the removed ids', async () => {
      await addAll(
        makeRecord({ id: 'a' }),
        makeRecord({ id: 'b' }),
        makeRecord({ id: 'c', nextRunTime: null }),
      );
      expect(plain(await store.removeTask('a'))).toEqual(plain(makeRecord({ id: 'a' })));
      expect(await store.getTask('a')).toBeUndefined();
      await expect(store.removeTask('a')).rejects.toThrow(TaskLookupError);
      expect((await store.removeAllTasks()).sort()).toEqual(['b', 'c']);
      expect(await store.getTasks()).toEqual([]);
      expect(await store.removeAllTasks()).toEqual([]);
    });
  });

  describe('due tasks', () => {
    it('nextRunTime == now is due; 1 ms before it is not', async () => {
      await addAll(makeRecord({ id: 'a', nextRunTime: T0 }));
      expect(await store.acquireDueTasks({ owner: 'A', now: T0 - 1, leaseMs: 1000, limit: 10 })).toEqual([]);
      const due = await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: 10 });
      expect(due.map((record) => record.id)).toEqual(['a']);
    });

    it('acquires earliest first, at most `limit`, never a paused task', async () => {
      await addAll(
        makeRecord({ id: 'third', nextRunTime: T0 - 1000 }),
        makeRecord({ id: 'paused', nextRunTime: null }),
        makeRecord({ id: 'first', nextRunTime: T0 - 3000 }),
        makeRecord({ id: 'future', nextRunTime: T0 + 1 }),
        makeRecord({ id: 'second', nextRunTime: T0 - 2000 }),
      );
      const firstBatch = await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: 2 });
      expect(firstBatch.map((record) => record.id)).toEqual(['first', 'second']);
      const rest = await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: 10 });
      expect(rest.map((record) => record.id)).toEqual(['third']);
      expect(plain(rest[0])).toEqual(plain(makeRecord({ id: 'third', nextRunTime: T0 - 1000 })));
    });

    it('earliestWakeup: null when nothing is scheduled, else the smallest next run time', async () => {
      expect(await store.earliestWakeup('A')).toBeNull();
      await addAll(makeRecord({ id: 'paused', nextRunTime: null }));
      expect(await store.earliestWakeup('A')).toBeNull();
      await addAll(
        makeRecord({ id: 'later', nextRunTime: T0 + 5000 }),
        makeRecord({ id: 'sooner', nextRunTime: T0 + 2000 }),
      );
      expect(await store.earliestWakeup('A')).toBe(T0 + 2000);
      await store.removeTask('sooner');
      expect(await store.earliestWakeup('A')).toBe(T0 + 5000);
    });
  });

  describe('task leases', () => {
    it('a task acquired by owner A is not returned to owner B until the lease expires', async () => {
      await addAll(makeRecord({ id: 'a', nextRunTime: T0 }));
      expect(await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: 10 })).toHaveLength(1);
      expect(await store.acquireDueTasks({ owner: 'B', now: T0, leaseMs: 1000, limit: 10 })).toEqual([]);
      expect(await store.acquireDueTasks({ owner: 'B', now: T0 + 999, leaseMs: 1000, limit: 10 })).toEqual(
        [],
      );
      expect(await store.earliestWakeup('B')).toBe(T0 + 1000);
      const taken = await store.acquireDueTasks({ owner: 'B', now: T0 + 1000, leaseMs: 1000, limit: 10 });
      expect(taken.map((record) => record.id)).toEqual(['a']);
    });

    it('releaseTasks by a non-owner does nothing', async () => {
      await addAll(makeRecord({ id: 'a', nextRunTime: T0 }));
      await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: 10 });
      await store.releaseTasks('B', [{ id: 'a', nextRunTime: T0 + 60_000 }]);
      await store.releaseTasks('B', [{ id: 'a', nextRunTime: 'remove' }]);
      expect((await store.getTask('a'))?.nextRunTime).toBe(T0);
      expect(await store.acquireDueTasks({ owner: 'B', now: T0 + 500, leaseMs: 1000, limit: 10 })).toEqual(
        [],
      );
      await store.releaseTasks('A', [{ id: 'a', nextRunTime: T0 + 60_000 }]);
      expect((await store.getTask('a'))?.nextRunTime).toBe(T0 + 60_000);
    });

    it('a release sets the next run time, pauses with null, or removes the task', async () => {
      await addAll(makeRecord({ id: 'moved' }), makeRecord({ id: 'paused' }), makeRecord({ id: 'gone' }));
      await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: 10 });
      await store.releaseTasks('A', [
        { id: 'moved', nextRunTime: T0 + 60_000 },
        { id: 'paused', nextRunTime: null },
        { id: 'gone', nextRunTime: 'remove' },
      ]);
      expect((await store.getTasks()).map((record) => [record.id, record.nextRunTime])).toEqual([
        ['moved', T0 + 60_000],
        ['paused', null],
      ]);
      expect(await store.earliestWakeup('A')).toBe(T0 + 60_000);
      expect(await store.acquireDueTasks({ owner: 'B', now: T0 + 59_999, leaseMs: 1000, limit: 10 })).toEqual(
        [],
      );
      expect(
        await store.acquireDueTasks({ owner: 'B', now: T0 + 60_000, leaseMs: 1000, limit: 10 }),
      ).toHaveLength(1);
    });

    it('holdUntil keeps the record untouched and leased to its owner until then', async () => {
      await addAll(makeRecord({ id: 'a', nextRunTime: T0 }));
      const before = plain(await store.getTask('a'));
      const rawBefore = await backing.rawRecord?.('a');
      await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: 10 });
      await store.releaseTasks('A', [{ id: 'a', holdUntil: T0 + 5000 }]);
      expect(plain(await store.getTask('a'))).toEqual(before);
      expect(await backing.rawRecord?.('a')).toEqual(rawBefore);
      expect(await store.earliestWakeup('B')).toBe(T0 + 5000);
      expect(await store.acquireDueTasks({ owner: 'B', now: T0 + 4999, leaseMs: 1000, limit: 10 })).toEqual(
        [],
      );
      expect(await store.acquireDueTasks({ owner: 'A', now: T0 + 4999, leaseMs: 1000, limit: 10 })).toEqual(
        [],
      );
      const again = await store.acquireDueTasks({ owner: 'B', now: T0 + 5000, leaseMs: 1000, limit: 10 });
      expect(again.map(plain)).toEqual([before]);
    });

    it('updateTask ends a hold (the task changed, so it is worth trying again), not a lease', async () => {
      await addAll(makeRecord({ id: 'held' }), makeRecord({ id: 'leased' }));
      await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: 10 });
      await store.releaseTasks('A', [{ id: 'held', holdUntil: T0 + 60_000 }]);
      await store.updateTask('held', () => makeRecord({ id: 'held', fn: 'renamedJob' }));
      await store.updateTask('leased', () => makeRecord({ id: 'leased', name: 'renamed' }));
      expect(await store.earliestWakeup('B')).toBe(T0);
      const due = await store.acquireDueTasks({ owner: 'B', now: T0 + 1, leaseMs: 1000, limit: 10 });
      expect(due.map((record) => [record.id, record.fn])).toEqual([['held', 'renamedJob']]);
    });

    it('updating a leased task keeps the lease; its owner releases it as usual', async () => {
      await addAll(makeRecord({ id: 'a', nextRunTime: T0 }));
      await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: 10 });
      await store.updateTask('a', () => makeRecord({ id: 'a', name: 'renamed', nextRunTime: T0 }));
      expect(await store.acquireDueTasks({ owner: 'B', now: T0 + 500, leaseMs: 1000, limit: 10 })).toEqual(
        [],
      );
      await store.releaseTasks('A', [{ id: 'a', nextRunTime: T0 + 60_000 }]);
      expect(await store.getTask('a')).toMatchObject({ name: 'renamed', nextRunTime: T0 + 60_000 });
    });

    it('a paused task under an expired lease is neither due nor a wake-up', async () => {
      await addAll(makeRecord({ id: 'a', nextRunTime: T0 }));
      await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: 10 });
      await store.updateTask('a', () => makeRecord({ id: 'a', nextRunTime: null }));
      expect(await store.acquireDueTasks({ owner: 'B', now: T0 + 2000, leaseMs: 1000, limit: 10 })).toEqual(
        [],
      );
      expect(await store.earliestWakeup('B')).toBeNull();
    });

    it('a task moved later while leased is not due before its new time', async () => {
      await addAll(makeRecord({ id: 'a', nextRunTime: T0 }));
      await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: 10 });
      await store.updateTask('a', () => makeRecord({ id: 'a', nextRunTime: T0 + 10_000 }));
      expect(await store.acquireDueTasks({ owner: 'B', now: T0 + 2000, leaseMs: 1000, limit: 10 })).toEqual(
        [],
      );
      expect(await store.earliestWakeup('B')).toBe(T0 + 10_000);
    });
  });

  // A store that is not shared (MemoryStore) has no run slots: its one scheduler counts its runs.
  if (kind.shared) {
    describe('shared store: run slots and leases', () => {
      /** The store as the shared store it is. */
      const slots = () => store as SharedTaskStore;
      const claim = (runId: string, taskId: string, maxInstances: number, owner = 'A') =>
        slots().claimRunSlot({ taskId, runId, owner, expiresAt: Date.now() + 30_000, maxInstances });

      it('claims and releases made at once are applied in call order (a store may batch them)', async () => {
        const results = await Promise.all([
          claim('r1', 'a', 1),
          claim('r2', 'a', 1),
          slots()
            .releaseRunSlot('r1')
            .then(() => 'released'),
          claim('r3', 'a', 1),
          claim('r4', 'b', 2),
          claim('r5', 'b', 2),
          claim('r6', 'b', 2),
        ]);
        expect(results).toEqual([true, false, 'released', true, true, true, false]);
      });

      it('maxInstances is counted per task; a released slot frees its place; release is idempotent', async () => {
        expect(await claim('r1', 'a', 2)).toBe(true);
        expect(await claim('r2', 'a', 2, 'B')).toBe(true);
        expect(await claim('r3', 'a', 2)).toBe(false);
        expect(await claim('r4', 'b', 1)).toBe(true);
        expect(await claim('r5', 'b', 1)).toBe(false);
        await slots().releaseRunSlot('r1');
        await slots().releaseRunSlot('r1');
        await slots().releaseRunSlot('never-claimed');
        expect(await claim('r6', 'a', 2)).toBe(true);
        expect(await claim('r7', 'a', 2)).toBe(false);
      });

      it('shared store: an expired slot no longer counts; renewal by its owner extends it', async () => {
        const start = Date.now();
        vi.useFakeTimers({ toFake: ['Date'], now: start });
        await slots().claimRunSlot({
          taskId: 'a',
          runId: 'short',
          owner: 'A',
          expiresAt: start + 1000,
          maxInstances: 1,
        });
        await slots().claimRunSlot({
          taskId: 'b',
          runId: 'renewed',
          owner: 'A',
          expiresAt: start + 1000,
          maxInstances: 1,
        });
        await slots().claimRunSlot({
          taskId: 'c',
          runId: 'foreign',
          owner: 'A',
          expiresAt: start + 1000,
          maxInstances: 1,
        });
        await slots().renewRunSlots('A', ['renewed'], start + 60_000);
        await slots().renewRunSlots('B', ['foreign'], start + 60_000);
        vi.setSystemTime(start + 999);
        expect(await claim('a2', 'a', 1)).toBe(false);
        vi.setSystemTime(start + 1000);
        expect(await claim('a3', 'a', 1)).toBe(true);
        expect(await claim('b2', 'b', 1)).toBe(false);
        expect(await claim('c2', 'c', 1)).toBe(true);
      });

      it('shared store: a change made while a task is leased wins over its release', async () => {
        await addAll(makeRecord({ id: 'paused' }), makeRecord({ id: 'moved' }), makeRecord({ id: 'kept' }));
        await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: 10 });
        await store.updateTask('paused', () => makeRecord({ id: 'paused', nextRunTime: null }));
        await store.updateTask('moved', () => makeRecord({ id: 'moved', nextRunTime: T0 + 7000 }));
        await store.releaseTasks('A', [
          { id: 'paused', nextRunTime: T0 + 60_000 },
          { id: 'moved', nextRunTime: 'remove' },
          { id: 'kept', nextRunTime: T0 + 60_000 },
        ]);
        expect((await store.getTasks()).map((record) => [record.id, record.nextRunTime])).toEqual([
          ['moved', T0 + 7000],
          ['kept', T0 + 60_000],
          ['paused', null],
        ]);
        expect(
          await store.acquireDueTasks({ owner: 'B', now: T0 + 7000, leaseMs: 1000, limit: 10 }),
        ).toHaveLength(1);
      });

      it('shared store: close() ends the leases its owners hold, so a restart need not wait for them', async () => {
        await addAll(makeRecord({ id: 'parked', nextRunTime: T0 }));
        await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: 10 });
        await store.releaseTasks('A', [{ id: 'parked', holdUntil: T0 + 60_000 }]);
        await reopen();
        const due = await store.acquireDueTasks({ owner: 'B', now: T0 + 1, leaseMs: 1000, limit: 10 });
        expect(due.map(plain)).toEqual([plain(makeRecord({ id: 'parked', nextRunTime: T0 }))]);
      });
    });
  }

  if (kind.persistent) {
    it("watch reports another instance's writes (another process) once, ignores the store's own, stops when asked", async () => {
      const other = backing.open();
      await other.start(recordingContext().context);
      try {
        let calls = 0;
        const stop = store.watch?.(() => void calls++);
        expect(stop).toBeTypeOf('function');
        await store.addTask(makeRecord({ id: 'own' }));
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(calls).toBe(0);
        await other.addTask(makeRecord({ id: 'foreign' }));
        await expect.poll(() => calls, { timeout: 2000 }).toBe(1);
        expect((await store.getTasks()).map((record) => record.id).sort()).toEqual(['foreign', 'own']);
        stop?.();
        await other.addTask(makeRecord({ id: 'unwatched' }));
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(calls).toBe(1);
      } finally {
        await other.close();
      }
    });

    describe('unreadable records', () => {
      it('are reported once, kept untouched, and never due, listed or a wake-up', async () => {
        await addAll(makeRecord({ id: 'good', nextRunTime: T0 + 5000 }));
        await store.close();
        await backing.injectBrokenRecord?.('bad', T0 - 1000);
        const raw = await backing.rawRecord?.('bad');
        expect(raw).toBeDefined();
        store = backing.open();
        await store.start(context);

        expect((await store.getTasks()).map((record) => record.id)).toEqual(['good']);
        expect(await store.getTask('bad')).toBeUndefined();
        expect(await store.earliestWakeup('A')).toBe(T0 + 5000);
        expect(await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: 10 })).toEqual([]);
        await expect(store.addTask(makeRecord({ id: 'bad' }))).rejects.toThrow(ConflictingIdError);
        await addAll(makeRecord({ id: 'other', nextRunTime: T0 - 500 }));
        const due = await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: 1 });
        expect(due.map((record) => record.id)).toEqual(['other']);
        await store.releaseTasks('A', [{ id: 'other', nextRunTime: 'remove' }]);
        expect((await store.removeAllTasks()).sort()).toEqual(['good']);

        expect(reports.map(([id]) => id)).toEqual(['bad']);
        expect(reports[0]?.[1]).toBeInstanceOf(SerializationError);
        expect(reports[0]?.[1].message).toContain("'bad'");
        expect(await backing.rawRecord?.('bad')).toBe(raw);

        await reopen();
        await store.getTasks();
        expect(reports.map(([id]) => id)).toEqual(['bad', 'bad']);
        expect(await backing.rawRecord?.('bad')).toBe(raw);
      });
    });
  }
});
