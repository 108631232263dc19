// The run history part of the TaskStore contract (src/store.ts: appendRuns, getRuns, pruneRuns) and, for shared
// stores, run requests (RunNowRequests), run against every store in test/stores/harness.ts.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RUN_REQUEST_MAX_AGE_MS, type StoredRunRecord } from '../../src/history.js';
import { isSharedStore, type SharedTaskStore, type StoreContext, type TaskStore } from '../../src/store.js';
import { makeRecord, recordingContext, type StoreBacking, selectedStores, T0 } from './harness.js';

let sequence = 0;

/** A run record of `taskId` that ended at `endedAt`, with `overrides`. */
function run(taskId: string, endedAt: number, overrides: Partial<StoredRunRecord> = {}): StoredRunRecord {
  sequence++;
  return {
    runId: `s1:${sequence}`,
    taskId,
    taskName: `name of ${taskId}`,
    scheduledRunTime: endedAt - 100,
    startedAt: endedAt - 40,
    endedAt,
    durationMs: 40,
    outcome: 'success',
    attempts: 1,
    args: [],
    schedulerId: 's1',
    ...overrides,
  };
}

/** Every field a record can hold, each with a value other than the default. */
function fullRecords(): StoredRunRecord[] {
  return [
    run('a', T0, {
      args: [1, 'two', { three: [3, 3.5], nested: { deep: null } }, null, true, []],
      result: { rows: 3, ok: true, list: ['x', 'y'] },
      replayOf: 's0:17',
    }),
    run('a', T0 + 1, {
      outcome: 'error',
      attempts: 3,
      error: {
        name: 'TypeError',
        message: 'boom: ünïcødé ✓',
        stack: 'TypeError: boom\n    at job (jobs.js:1:1)',
      },
    }),
    run('a', T0 + 2, { result: `${'x'.repeat(1024)}…`, resultTruncated: true }),
    run('b', T0 + 3, {
      outcome: 'missed',
      startedAt: null,
      durationMs: null,
      attempts: 0,
      missedCount: 12_345,
    }),
    run('b', T0 + 4, { outcome: 'skipped', startedAt: null, durationMs: null, attempts: 0 }),
    run('b', T0 + 5, { outcome: 'timeout', error: { name: 'TimeoutError', message: 't', stack: '' } }),
    run('b', T0 + 6, { outcome: 'aborted', result: null, error: { name: 'Error', message: 'a', stack: '' } }),
    run('c', T0 + 7, { result: 0 }),
    run('c', T0 + 8, { result: 'text' }),
  ];
}

describe.each(selectedStores())('$name store: run history', (kind) => {
  let backing: StoreBacking;
  let store: TaskStore;
  let context: StoreContext;

  beforeEach(async () => {
    backing = await kind.setUp();
    ({ context } = recordingContext());
    store = backing.open();
    await store.start(context);
  });
  afterEach(async () => {
    await store.close();
    await backing.cleanUp();
  });

  it('gives back every field of every record as appended, newest first', async () => {
    const records = fullRecords();
    await store.appendRuns(records, 20);
    const found = await store.getRuns({ limit: 100 });
    expect(found).toEqual([...records].reverse());
  });

  if (kind.persistent) {
    it('keeps run history across a restart', async () => {
      const records = fullRecords();
      await store.appendRuns(records, 20);
      await store.close();
      store = backing.open();
      await store.start(context);
      expect(await store.getRuns({ limit: 100 })).toEqual([...records].reverse());
    });
  }

  it('orders by end time, and records that ended in the same millisecond by appending order', async () => {
    const late = run('a', T0 + 50);
    const early = run('b', T0 + 10);
    const tie1 = run('a', T0 + 30);
    const tie2 = run('c', T0 + 30);
    await store.appendRuns([late, early, tie1], 20);
    await store.appendRuns([tie2], 20);
    const ids = (await store.getRuns({ limit: 10 })).map((record) => record.runId);
    expect(ids).toEqual([late.runId, tie2.runId, tie1.runId, early.runId]);
  });

  it('keeps the newest perTask records of each task the batch names, and no other task loses any', async () => {
    await store.addTask(makeRecord({ id: 'a' }));
    await store.addTask(makeRecord({ id: 'b' }));
    const b = [run('b', T0), run('b', T0 + 1)];
    await store.appendRuns(b, 3);
    const a = Array.from({ length: 7 }, (_, i) => run('a', T0 + 10 + i));
    await store.appendRuns(a.slice(0, 4), 3);
    await store.appendRuns(a.slice(4), 3);
    const ofA = await store.getRuns({ taskId: 'a', limit: 100 });
    expect(ofA.map((record) => record.runId)).toEqual(
      a
        .slice(-3)
        .reverse()
        .map((record) => record.runId),
    );
    expect((await store.getRuns({ taskId: 'b', limit: 100 })).map((record) => record.runId)).toEqual(
      b.reverse().map((record) => record.runId),
    );
    // A smaller perTask later trims further at the task's next append.
    await store.appendRuns([run('a', T0 + 100)], 1);
    expect(await store.getRuns({ taskId: 'a', limit: 100 })).toHaveLength(1);
  });

  it('trims within one batch larger than perTask', async () => {
    const batch = Array.from({ length: 1000 }, (_, i) => run(`t${i % 10}`, T0 + i));
    await store.appendRuns(batch, 5);
    const all = await store.getRuns({ limit: 10_000 });
    expect(all).toHaveLength(50);
    expect(all.map((record) => record.runId)).toEqual(
      batch
        .slice(-50)
        .reverse()
        .map((record) => record.runId),
    );
  });

  it('leaves out a record whose run id is stored already', async () => {
    const first = run('a', T0);
    await store.appendRuns([first], 20);
    await store.appendRuns([{ ...first, outcome: 'error', endedAt: T0 + 5 }, run('a', T0 + 6)], 20);
    const found = await store.getRuns({ taskId: 'a', limit: 10 });
    expect(found).toHaveLength(2);
    expect(found[1]).toEqual(first);
  });

  it('filters by task, run id, outcomes and end time, and honours the limit', async () => {
    const records = fullRecords();
    await store.appendRuns(records, 20);
    const ids = (found: StoredRunRecord[]) => found.map((record) => record.runId);
    const byId = (indexes: number[]) => indexes.map((index) => (records[index] as StoredRunRecord).runId);
    expect(ids(await store.getRuns({ taskId: 'b', limit: 10 }))).toEqual(byId([6, 5, 4, 3]));
    expect(ids(await store.getRuns({ taskId: 'nope', limit: 10 }))).toEqual([]);
    expect(ids(await store.getRuns({ runId: records[4]?.runId, limit: 10 }))).toEqual(byId([4]));
    expect(ids(await store.getRuns({ outcomes: ['error', 'timeout', 'aborted'], limit: 10 }))).toEqual(
      byId([6, 5, 1]),
    );
    expect(ids(await store.getRuns({ since: T0 + 6, limit: 10 }))).toEqual(byId([8, 7, 6]));
    expect(
      ids(await store.getRuns({ taskId: 'a', outcomes: ['success'], since: T0 + 1, limit: 10 })),
    ).toEqual(byId([2]));
    expect(ids(await store.getRuns({ limit: 2 }))).toEqual(byId([8, 7]));
  });

  it("prunes removed tasks' records that ended before the cutoff or beyond the newest `keep`, never a stored task's", async () => {
    await store.addTask(makeRecord({ id: 'alive' }));
    const alive = [run('alive', T0 - 10_000_000), run('alive', T0)];
    const goneOld = [run('gone', T0 - 9_000_000), run('gone', T0 - 8_000_000)];
    const goneNew = [run('gone', T0 - 50), run('other-gone', T0 - 40), run('gone', T0 - 30)];
    await store.appendRuns([...alive, ...goneOld, ...goneNew], 20);
    expect(await store.pruneRuns(T0 - 1_000_000, 2)).toBe(3);
    const left = (await store.getRuns({ limit: 100 })).map((record) => record.runId);
    expect(left).toEqual([alive[1], goneNew[2], goneNew[1], alive[0]].map((record) => record?.runId));
    expect(await store.pruneRuns(T0 - 1_000_000, 2)).toBe(0);
  });
});

describe.each(selectedStores().filter((kind) => kind.shared))('$name store: run requests', (kind) => {
  let backing: StoreBacking;
  let store: SharedTaskStore;
  let context: StoreContext;

  beforeEach(async () => {
    backing = await kind.setUp();
    ({ context } = recordingContext());
    const opened = backing.open();
    if (!isSharedStore(opened)) throw new Error(`${kind.name} is not shared`);
    store = opened;
    await store.start(context);
  });
  afterEach(async () => {
    await store.close();
    await backing.cleanUp();
  });

  it('hands each request to one taker, oldest first, with its args and replayed run', async () => {
    const now = Date.now();
    await store.requestRun({ requestId: 'r2', taskId: 'b', requestedAt: now - 10 });
    await store.requestRun({
      requestId: 'r1',
      taskId: 'a',
      requestedAt: now - 20,
      args: [1, { two: [2] }],
      replayOf: 's1:9',
    });
    expect(await store.hasRunRequest('r1')).toBe(true);
    expect(await store.takeRunRequests(now)).toEqual([
      { requestId: 'r1', taskId: 'a', requestedAt: now - 20, args: [1, { two: [2] }], replayOf: 's1:9' },
      { requestId: 'r2', taskId: 'b', requestedAt: now - 10 },
    ]);
    expect(await store.hasRunRequest('r1')).toBe(false);
    expect(await store.takeRunRequests(now)).toEqual([]);
  });

  it('drops requests older than the maximum age without handing them out', async () => {
    const now = Date.now();
    await store.requestRun({
      requestId: 'stale',
      taskId: 'a',
      requestedAt: now - RUN_REQUEST_MAX_AGE_MS - 1,
    });
    await store.requestRun({ requestId: 'fresh', taskId: 'a', requestedAt: now - RUN_REQUEST_MAX_AGE_MS });
    const taken = await store.takeRunRequests(now);
    expect(taken.map((request) => request.requestId)).toEqual(['fresh']);
    expect(await store.hasRunRequest('stale')).toBe(false);
  });

  it('cancels a request no one took, and tells when someone had', async () => {
    const now = Date.now();
    await store.requestRun({ requestId: 'x', taskId: 'a', requestedAt: now });
    await store.requestRun({ requestId: 'y', taskId: 'a', requestedAt: now });
    expect(await store.cancelRunRequest('x')).toBe(true);
    expect(await store.hasRunRequest('x')).toBe(false);
    expect((await store.takeRunRequests(now)).map((request) => request.requestId)).toEqual(['y']);
    expect(await store.cancelRunRequest('y')).toBe(false);
    expect(await store.cancelRunRequest('never')).toBe(false);
  });

  it('two instances taking at once get each request exactly once', async () => {
    const other = backing.open() as SharedTaskStore;
    await other.start(recordingContext('other').context);
    try {
      const now = Date.now();
      const ids = Array.from({ length: 200 }, (_, i) => `req-${i}`);
      for (const requestId of ids) await store.requestRun({ requestId, taskId: 'a', requestedAt: now });
      const rounds = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? store : other).takeRunRequests(now)),
      );
      const taken = rounds.flat().map((request) => request.requestId);
      expect(taken.sort()).toEqual([...ids].sort());
    } finally {
      await other.close();
    }
  });
});
