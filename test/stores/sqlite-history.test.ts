// SQLiteStore's own run history and run-now request tests: the migration of a version 1 database in place,
// statements that read through the indexes, unreadable rows, and the busy wait. What it does alike with FileStore
// (the migration by several processes starting at once, trimming, ordering and filters, pruning, requests taken
// exactly once by two processes, the watch) runs over both stores in test/stores/file-history.test.ts. The
// behaviour every store shares: test/stores/history.test.ts.
import Database from 'better-sqlite3';
import { describe, expect, it, vi } from 'vitest';
import { makeRecord, recordingContext, T0 } from './harness.js';
import {
  capturingLogger,
  ids,
  makeRequest,
  makeRun,
  SQLITE_KIND,
  useHistoryFixture,
  withDatabase as withDatabaseAt,
  writeVersion1Database,
} from './history-children.js';

const fixture = useHistoryFixture(SQLITE_KIND);

/** Runs `work` on a connection of its own to the test database. */
const withDatabase = <T>(work: (db: Database.Database) => T): T => withDatabaseAt(fixture.path, work);

describe('SQLiteStore migration of a version 1 database (kairos before run history)', () => {
  it('adds the history, request and revision tables in place; tasks, leases and run slots are kept', async () => {
    writeVersion1Database(fixture.path);
    const store = await fixture.started();
    expect((await store.getTasks()).map((record) => record.id)).toEqual(['old']);
    expect(
      await store.claimRunSlot({
        taskId: 'old',
        runId: 'r',
        owner: 'B',
        expiresAt: T0 + 1e12,
        maxInstances: 1,
      }),
    ).toBe(false);
    await store.appendRuns([makeRun('run-1', 'old', T0)], 20);
    expect(ids(await store.getRuns({ limit: 10 }))).toEqual(['run-1']);
    await store.requestRun(makeRequest('q-1', Date.now()));
    expect(await store.hasRunRequest('q-1')).toBe(true);
    withDatabase((db) => {
      expect(db.pragma('user_version', { simple: true })).toBe(3);
      expect(
        db.prepare("SELECT name FROM sqlite_schema WHERE name LIKE 'kairos_r%' ORDER BY name").pluck().all(),
      ).toEqual([
        'kairos_revision',
        'kairos_run_requests',
        'kairos_run_requests_inserted',
        'kairos_run_slot_tags',
        'kairos_run_slot_tags_freed',
        'kairos_run_slot_tags_tag',
        'kairos_run_slots',
        'kairos_run_slots_task',
        'kairos_runs',
        'kairos_runs_ended',
        'kairos_runs_task',
      ]);
    });
  });
});

describe('SQLiteStore run history', () => {
  it("no history statement scans a table but the prune of removed tasks' records", async () => {
    const prepare = vi.spyOn(Database.prototype, 'prepare');
    await fixture.started();
    const sources = prepare.mock.results
      .map((result) => (result.value as { source: string }).source)
      .filter((source) => /kairos_run(s|_requests)\b/.test(source) && !source.includes('NOT EXISTS'));
    expect(sources.length).toBeGreaterThanOrEqual(8);
    withDatabase((db) => {
      for (const source of sources) {
        const parameters = source.includes(':')
          ? { taskId: 'a', runId: 'r', perTask: 1, since: 0, outcomes: null }
          : Array.from(source.matchAll(/\?/g), () => null);
        const plan = db.prepare(`EXPLAIN QUERY PLAN ${source}`).all(parameters) as Array<{ detail: string }>;
        const scans = plan.map((step) => step.detail).filter((detail) => /^SCAN kairos_runs\b/.test(detail));
        const sorts = plan.map((step) => step.detail).filter((detail) => detail.includes('TEMP B-TREE'));
        expect(scans, source).toEqual([]);
        // Only a task's records are sorted (at most perTask of a live task); the listing of all reads in order.
        if (!source.includes('INDEXED BY kairos_runs_task')) expect(sorts, source).toEqual([]);
      }
    });
  });

  it('a row that cannot be read back is left out and logged once; the rows around it are read', async () => {
    const { logger, lines } = capturingLogger();
    const store = await fixture.started({ ...recordingContext().context, logger });
    await store.appendRuns([makeRun('before', 'a', T0), makeRun('after', 'a', T0 + 2)], 20);
    withDatabase((db) => {
      const insert = db.prepare(
        'INSERT INTO kairos_runs (run_id, task_id, ended_at, outcome, data) VALUES (?, ?, ?, ?, ?)',
      );
      insert.run('torn', 'a', T0 + 1, 'success', '{"runId": "torn", "tas');
      insert.run(
        'wrong',
        'a',
        T0 + 1,
        'success',
        JSON.stringify({ ...makeRun('wrong', 'a', T0 + 1), outcome: 'fine' }),
      );
      insert.run('blob', 'a', T0 + 1, 'success', Buffer.from('{}'));
    });
    for (let round = 0; round < 2; round++) {
      expect(ids(await store.getRuns({ limit: 10 }))).toEqual(['after', 'before']);
      expect(ids(await store.getRuns({ taskId: 'a', limit: 2 }))).toEqual(['after', 'before']);
    }
    expect(lines.map((line) => [line.level, line.run])).toEqual([
      [40, 'blob'],
      [40, 'wrong'],
      [40, 'torn'],
    ]);
    expect(lines[1]?.msg).toBe(
      "SQLiteStore: run record 'wrong' cannot be read back (field 'outcome' is \"fine\"); it is left out of the run history",
    );
    // Trimming and pruning still count them: they are rows like any other.
    await store.appendRuns([makeRun('newest', 'a', T0 + 3)], 2);
    expect(
      withDatabase((db) => db.prepare('SELECT run_id FROM kairos_runs ORDER BY seq').pluck().all()),
    ).toEqual(['blob', 'newest']);
  });
});

describe('SQLiteStore run-now requests', () => {
  it('with no request waiting, takeRunRequests writes nothing (no write transaction)', async () => {
    const store = await fixture.started();
    const blocker = new Database(fixture.path);
    blocker.exec('BEGIN IMMEDIATE');
    try {
      const startedAt = Date.now();
      expect(await store.takeRunRequests(Date.now())).toEqual([]);
      expect(Date.now() - startedAt).toBeLessThan(100);
    } finally {
      blocker.exec('ROLLBACK');
      blocker.close();
    }
  });

  it('appends and takes wait for a write lock another connection holds, then go through', async () => {
    const store = await fixture.started();
    await store.requestRun(makeRequest('q', Date.now()));
    const blocker = new Database(fixture.path);
    blocker.exec('BEGIN IMMEDIATE');
    setTimeout(() => {
      blocker.exec('COMMIT');
      blocker.close();
    }, 200);
    const startedAt = Date.now();
    const [, taken] = await Promise.all([
      store.appendRuns([makeRun('r', 'a', T0)], 20),
      store.takeRunRequests(Date.now()),
    ]);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(180);
    expect(taken.map((request) => request.requestId)).toEqual(['q']);
    expect(ids(await store.getRuns({ limit: 10 }))).toEqual(['r']);
  });
});

describe("SQLiteStore watch: what wakes another process's watch", () => {
  it('a task written by plain SQL (a process of an older kairos) wakes it: the triggers count it', async () => {
    const watcher = await fixture.started();
    const other = await fixture.started();
    let calls = 0;
    watcher.watch(() => void calls++);
    await other.addTask(makeRecord({ id: 'a' }));
    await expect.poll(() => calls, { timeout: 2000 }).toBe(1);
    withDatabase((db) =>
      db.prepare('UPDATE kairos_tasks SET next_run_time = ? WHERE id = ?').run(T0 + 5, 'a'),
    );
    await expect.poll(() => calls, { timeout: 2000 }).toBe(2);
  });
});
