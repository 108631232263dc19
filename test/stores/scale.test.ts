// Scale: SQLiteStore with 100,000 tasks and FileStore with 1,000 do at that size what they do with ten: start,
// find the next wake-up, acquire exactly the due tasks (leased against other owners), release them, and claim run
// slots. Behaviour only: how fast is measured by the benchmarks (S7 for SQLite), never asserted in a unit test.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IntervalTrigger, type TriggerSpec } from '../../src/index.js';
import { serializeTaskBody } from '../../src/serialization.js';
import { FileStore } from '../../stores/file.js';
import { SQLiteStore } from '../../stores/sqlite.js';
import { makeRecord, recordingContext, T0 } from './harness.js';

const HOUR = 3_600_000;

/** A trigger spec of its own for each task: every fourth a cron rule in a zone, the others intervals. */
function distinctTrigger(index: number): TriggerSpec {
  if (index % 4 === 0) {
    return {
      type: 'cron',
      expression: `${index % 60} ${index % 24} * * 1-5`,
      timezone: 'Europe/Berlin',
      startAt: new Date(T0 + index).toISOString(),
    };
  }
  return { type: 'interval', minutes: 1 + (index % 90), startAt: new Date(T0 + index).toISOString() };
}

/** Ids `prefix` + index for indexes [0, count), zero-padded to `width`. */
function ids(prefix: string, count: number, width: number): string[] {
  return Array.from({ length: count }, (_, index) => `${prefix}${String(index).padStart(width, '0')}`);
}

/** Claims a run slot of `taskId` with maxInstances 1, a second claim is refused, and the slot frees on release. */
async function checkRunSlot(store: SQLiteStore | FileStore, taskId: string): Promise<void> {
  const claim = (runId: string, owner: string) =>
    store.claimRunSlot({ taskId, runId, owner, expiresAt: Date.now() + 30_000, maxInstances: 1 });
  expect(await claim('run-1', 'A')).toBe(true);
  expect(await claim('run-2', 'B')).toBe(false);
  await store.releaseRunSlot('run-1');
  expect(await claim('run-3', 'B')).toBe(true);
  await store.releaseRunSlot('run-3');
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kairos-scale-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('SQLiteStore with 100,000 tasks', () => {
  const TOTAL = 100_000;
  const DUE = 1000;
  let path: string;
  let store: SQLiteStore;

  beforeAll(async () => {
    path = join(dir, 'tasks.db');
    const creator = new SQLiteStore({ path });
    await creator.start(recordingContext().context);
    await creator.close();
    const db = new Database(path);
    const insert = db.prepare('INSERT INTO kairos_tasks (id, next_run_time, data) VALUES (?, ?, ?)');
    const template = serializeTaskBody(makeRecord({ id: 'template' }));
    db.transaction(() => {
      for (let index = 0; index < TOTAL; index++) {
        const id = `task-${String(index).padStart(6, '0')}`;
        const nextRunTime = index < DUE ? T0 - index : index % 50 === 0 ? null : T0 + HOUR + index * 1000;
        insert.run(
          id,
          nextRunTime,
          JSON.stringify({ ...template, id, name: id, args: [index], trigger: distinctTrigger(index) }),
        );
      }
    })();
    db.close();
  });
  afterAll(async () => {
    await store?.close();
  });

  it('starts, finds its next wake-up, acquires exactly the 1,000 due tasks, releases them, and claims run slots', async () => {
    store = new SQLiteStore({ path });
    await store.start(recordingContext().context);
    expect(await store.earliestWakeup('A')).toBe(T0 - (DUE - 1));

    const firstDue = await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: DUE });
    expect(firstDue.map((record) => record.id).sort()).toEqual(ids('task-', DUE, 6));
    expect(firstDue.every((record) => (record.nextRunTime as number) <= T0)).toBe(true);
    expect(firstDue[0]?.args).toEqual([DUE - 1]);
    expect(await store.acquireDueTasks({ owner: 'B', now: T0, leaseMs: 30_000, limit: DUE })).toEqual([]);
    // The leases expire unreleased: the same tasks are acquired again, their triggers already built.
    const due = await store.acquireDueTasks({ owner: 'A', now: T0 + 1000, leaseMs: 30_000, limit: DUE });
    expect(due.map((record) => record.id)).toEqual(firstDue.map((record) => record.id));

    await store.releaseTasks(
      'A',
      due.map((record, index) => ({ id: record.id, nextRunTime: T0 + 2 * HOUR + index })),
    );
    expect(await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 30_000, limit: 512 })).toEqual([]);
    // Released to two hours on, the due tasks are no longer the earliest: task-001001 is, an hour and 1,001 s on.
    expect(await store.earliestWakeup('A')).toBe(T0 + HOUR + 1001 * 1000);
    expect((await store.getTask('task-000007'))?.nextRunTime).toBe(
      T0 + 2 * HOUR + due.findIndex((record) => record.id === 'task-000007'),
    );
    await checkRunSlot(store, 'task-000001');
  });
});

describe('FileStore with 1,000 tasks', () => {
  const TOTAL = 1000;
  const DUE = 100;

  it('keeps every one of 1,000 concurrent adds, then acquires exactly the 100 due tasks and releases them', async () => {
    const path = join(dir, 'tasks.json');
    const writer = new FileStore({ path });
    await writer.start(recordingContext().context);
    const records = ids('task-', TOTAL, 4).map((id, index) =>
      makeRecord({
        id,
        trigger: new IntervalTrigger({ minutes: 1 + (index % 90) }, { startAt: T0 + index }),
        nextRunTime: index < DUE ? T0 - index : T0 + HOUR + index,
      }),
    );
    await Promise.all(records.map((record) => writer.addTask(record)));
    await writer.addTask(makeRecord({ id: 'one-more', nextRunTime: null }));
    await writer.close();

    // A new instance on the file (a restart) reads every task the batched writes wrote.
    const store = new FileStore({ path });
    await store.start(recordingContext().context);
    expect((await store.getTasks()).map((record) => record.id).sort()).toEqual([
      'one-more',
      ...ids('task-', TOTAL, 4),
    ]);
    expect(await store.earliestWakeup('A')).toBe(T0 - (DUE - 1));
    const due = await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 30_000, limit: 512 });
    expect(due.map((record) => record.id).sort()).toEqual(ids('task-', DUE, 4));
    expect(due[0]?.id).toBe('task-0099');
    expect(await store.acquireDueTasks({ owner: 'B', now: T0, leaseMs: 30_000, limit: 512 })).toEqual([]);
    await store.releaseTasks(
      'A',
      due.map((record) => ({ id: record.id, nextRunTime: T0 + 2 * HOUR })),
    );
    expect(await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 30_000, limit: 512 })).toEqual([]);
    expect(await store.earliestWakeup('A')).toBe(T0 + HOUR + DUE);
    await checkRunSlot(store, 'task-0001');
    await store.close();
  });
});
