// Scale: SQLiteStore with 100,000 tasks and FileStore with 1,000 stay fast at start-up and at each wake-up.
// The figures are printed; the bounds are loose (a slow CI machine passes), the plans are checked elsewhere.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serializeTaskBody } from '../../src/serialization.js';
import { IntervalTrigger } from '../../src/triggers/interval.js';
import type { TriggerSpec } from '../../src/triggers/trigger.js';
import { FileStore } from '../../stores/file.js';
import { SQLiteStore } from '../../stores/sqlite.js';
import { makeRecord, recordingContext, T0 } from './harness.js';

const HOUR = 3_600_000;
const figures: string[] = [];

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

/** Runs `work` and returns how long it took, in ms. */
async function timed<T>(work: () => Promise<T>): Promise<[number, T]> {
  const startedAt = performance.now();
  const result = await work();
  return [performance.now() - startedAt, result];
}

/** The median time of `runs` calls of `work`, in ms. */
async function median(runs: number, work: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let run = 0; run < runs; run++) times.push((await timed(work))[0]);
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)] as number;
}

function report(label: string, ms: number): void {
  figures.push(`${label.padEnd(58)} ${ms.toFixed(2).padStart(9)} ms`);
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kairos-scale-'));
});
afterAll(async () => {
  process.stdout.write(`\nstore figures (this machine):\n${figures.join('\n')}\n`);
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

  it('starts, finds its next wake-up, and acquires and releases 1,000 due tasks quickly', async () => {
    const [startMs] = await timed(async () => {
      store = new SQLiteStore({ path });
      await store.start(recordingContext().context);
    });
    report('SQLite 100k: start()', startMs);
    const wakeupMs = await median(21, () => store.earliestWakeup('A'));
    report('SQLite 100k: earliestWakeup() (median of 21)', wakeupMs);
    expect(await store.earliestWakeup('A')).toBe(T0 - (DUE - 1));

    const [firstAcquireMs, firstDue] = await timed(() =>
      store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: DUE }),
    );
    report('SQLite 100k: acquireDueTasks() of 1,000 due, first read', firstAcquireMs);
    expect(firstDue).toHaveLength(DUE);
    expect(await store.acquireDueTasks({ owner: 'B', now: T0, leaseMs: 30_000, limit: DUE })).toEqual([]);
    // The leases expire unreleased: the same tasks are acquired again, their triggers already built.
    const [acquireMs, due] = await timed(() =>
      store.acquireDueTasks({ owner: 'A', now: T0 + 1000, leaseMs: 30_000, limit: DUE }),
    );
    report('SQLite 100k: acquireDueTasks() of 1,000 due, read before', acquireMs);
    expect(due.map((record) => record.id)).toEqual(firstDue.map((record) => record.id));

    const releases = due.map((record, index) => ({ id: record.id, nextRunTime: T0 + 2 * HOUR + index }));
    const [releaseMs] = await timed(() => store.releaseTasks('A', releases));
    report('SQLite 100k: releaseTasks() of 1,000', releaseMs);
    const emptyAcquireMs = await median(21, () =>
      store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 30_000, limit: 512 }),
    );
    report('SQLite 100k: acquireDueTasks() with nothing due (median)', emptyAcquireMs);
    const claimMs = await median(21, async () => {
      const runId = crypto.randomUUID();
      await store.claimRunSlot({
        taskId: 'task-000001',
        runId,
        owner: 'A',
        expiresAt: Date.now() + 30_000,
        maxInstances: 1,
      });
      await store.releaseRunSlot(runId);
    });
    report('SQLite 100k: claimRunSlot() + releaseRunSlot() (median)', claimMs);

    expect(startMs).toBeLessThan(1000);
    expect(wakeupMs).toBeLessThan(10);
    // The first read builds 1,000 triggers (250 cron in a zone): that cost is the trigger classes'.
    expect(firstAcquireMs).toBeLessThan(10_000);
    expect(acquireMs).toBeLessThan(500);
    expect(releaseMs).toBeLessThan(500);
    expect(emptyAcquireMs).toBeLessThan(10);
  });
});

describe('FileStore with 1,000 tasks', () => {
  const TOTAL = 1000;
  const DUE = 100;

  it('adds, starts, finds its next wake-up, and acquires and releases 100 due tasks in reasonable time', async () => {
    const path = join(dir, 'tasks.json');
    const writer = new FileStore({ path });
    await writer.start(recordingContext().context);
    const records = Array.from({ length: TOTAL }, (_, index) =>
      makeRecord({
        id: `task-${String(index).padStart(4, '0')}`,
        trigger: new IntervalTrigger({ minutes: 1 + (index % 90) }, { startAt: T0 + index }),
        nextRunTime: index < DUE ? T0 - index : T0 + HOUR + index,
      }),
    );
    const [addMs] = await timed(() => Promise.all(records.map((record) => writer.addTask(record))));
    report('File 1k: 1,000 concurrent addTask() (batched writes)', addMs);
    const [oneAddMs] = await timed(() => writer.addTask(makeRecord({ id: 'one-more', nextRunTime: null })));
    report('File 1k: one addTask() (lock, read, write, fsync, rename)', oneAddMs);
    await writer.close();

    const store = new FileStore({ path });
    const [startMs] = await timed(() => store.start(recordingContext().context));
    report('File 1k: start()', startMs);
    const wakeupMs = await median(21, () => store.earliestWakeup('A'));
    report('File 1k: earliestWakeup() (median of 21)', wakeupMs);
    const [acquireMs, due] = await timed(() =>
      store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 30_000, limit: 512 }),
    );
    report('File 1k: acquireDueTasks() of 100 due', acquireMs);
    expect(due).toHaveLength(DUE);
    const [releaseMs] = await timed(() =>
      store.releaseTasks(
        'A',
        due.map((record) => ({ id: record.id, nextRunTime: T0 + 2 * HOUR })),
      ),
    );
    report('File 1k: releaseTasks() of 100', releaseMs);
    const emptyAcquireMs = await median(21, () =>
      store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 30_000, limit: 512 }),
    );
    report('File 1k: acquireDueTasks() with nothing due (median)', emptyAcquireMs);
    const claimMs = await median(11, async () => {
      const runId = crypto.randomUUID();
      await store.claimRunSlot({
        taskId: 'task-0001',
        runId,
        owner: 'A',
        expiresAt: Date.now() + 30_000,
        maxInstances: 1,
      });
      await store.releaseRunSlot(runId);
    });
    report('File 1k: claimRunSlot() + releaseRunSlot() (median)', claimMs);
    await store.close();

    expect(startMs).toBeLessThan(1000);
    expect(wakeupMs).toBeLessThan(20);
    expect(acquireMs).toBeLessThan(1000);
    expect(emptyAcquireMs).toBeLessThan(20);
  });
});
