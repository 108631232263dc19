// SQLiteStore run history and run-now requests: the migration of a version 1 database (also by several processes
// starting at once), trimming, ordering and filters through the indexes, pruning, unreadable rows, requests taken
// exactly once by two processes, old requests dropped, the busy wait, and which commits wake another process's
// watch. The behaviour every store shares: test/stores/history.test.ts.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SerializationError } from '../../src/errors.js';
import { RUN_REQUEST_MAX_AGE_MS, type RunNowRequest, type StoredRunRecord } from '../../src/history.js';
import { serializeTaskBody } from '../../src/serialization.js';
import type { StoreContext } from '../../src/store.js';
import { SQLITE_APPLICATION_ID, SQLiteStore } from '../../stores/sqlite.js';
import { makeRecord, recordingContext, T0 } from './harness.js';

let dir: string;
let path: string;
const stores: SQLiteStore[] = [];

async function started(context: StoreContext = recordingContext().context): Promise<SQLiteStore> {
  const store = new SQLiteStore({ path });
  stores.push(store);
  await store.start(context);
  return store;
}

/** Runs `work` on a connection of its own to the test database. */
function withDatabase<T>(work: (db: Database.Database) => T): T {
  const db = new Database(path);
  try {
    return work(db);
  } finally {
    db.close();
  }
}

/** A run record of `taskId` that ended at `endedAt`. */
function makeRun(runId: string, taskId: string, endedAt: number, extra: Partial<StoredRunRecord> = {}) {
  const record: StoredRunRecord = {
    runId,
    taskId,
    taskName: taskId,
    scheduledRunTime: endedAt - 10,
    startedAt: endedAt - 5,
    endedAt,
    durationMs: 5,
    outcome: 'success',
    attempts: 1,
    args: [],
    schedulerId: 'S',
    ...extra,
  };
  return record;
}

function makeRequest(requestId: string, requestedAt: number, extra: Partial<RunNowRequest> = {}) {
  const request: RunNowRequest = { requestId, taskId: 'a', requestedAt, ...extra };
  return request;
}

const ids = (records: readonly StoredRunRecord[]) => records.map((record) => record.runId);

/** A logger that keeps the lines it writes, parsed. */
function capturingLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

/** The schema version 1 of kairos created (before run history), verbatim. */
const VERSION_1_SCHEMA = `CREATE TABLE kairos_tasks (
     id TEXT PRIMARY KEY NOT NULL,
     next_run_time INTEGER,
     data TEXT NOT NULL,
     lease_owner TEXT,
     lease_expires_at INTEGER,
     lease_run_time INTEGER,
     lease_held INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX kairos_tasks_due ON kairos_tasks (next_run_time, id)
     WHERE lease_owner IS NULL AND next_run_time IS NOT NULL;
   CREATE INDEX kairos_tasks_leased ON kairos_tasks (lease_expires_at) WHERE lease_owner IS NOT NULL;
   CREATE TABLE kairos_run_slots (
     run_id TEXT PRIMARY KEY NOT NULL,
     task_id TEXT NOT NULL,
     owner TEXT NOT NULL,
     expires_at INTEGER NOT NULL
   );
   CREATE INDEX kairos_run_slots_task ON kairos_run_slots (task_id, expires_at);`;

/** Writes a database as kairos 0.1 (schema version 1) left it, holding the task 'old' and one run slot. */
function writeVersion1Database(): void {
  withDatabase((db) => {
    db.pragma('journal_mode = WAL');
    db.exec(VERSION_1_SCHEMA);
    db.prepare('INSERT INTO kairos_tasks (id, next_run_time, data) VALUES (?, ?, ?)').run(
      'old',
      T0,
      JSON.stringify(serializeTaskBody(makeRecord({ id: 'old' }))),
    );
    db.prepare('INSERT INTO kairos_run_slots VALUES (?, ?, ?, ?)').run('slot-1', 'old', 'A', T0 + 1e12);
    db.pragma(`application_id = ${SQLITE_APPLICATION_ID}`);
    db.pragma('user_version = 1');
  });
}

const STORE_OPEN = fileURLToPath(new URL('../support/store-open.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Runs `body` in a child process (node, under tsx), where `store` is a `SQLiteStore` on the test database (not
 * started), `args` its arguments, `print(value)` answers, and `signal(name)` / `await signalled(name)` make and
 * wait for a file of that name in the test directory (to start processes together). Resolves with what it
 * printed, parsed.
 */
async function inChild(body: string, args: readonly string[] = []): Promise<unknown> {
  const code = `
    const { pino } = await import('pino');
    const { existsSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { openStore } = await import(${JSON.stringify(STORE_OPEN)});
    const [location, dir, ...args] = process.argv.slice(1);
    const store = openStore('sqlite', location);
    const print = (value) => process.stdout.write(JSON.stringify(value));
    const signal = (name) => writeFileSync(join(dir, name), '');
    const signalled = async (name) => {
      while (!existsSync(join(dir, name))) await new Promise((resolve) => setTimeout(resolve, 5));
    };
    ${body}
    await store.close();`;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', code, path, dir, ...args],
    { cwd: ROOT },
  );
  return JSON.parse(stdout);
}

/** Makes the file `name` in the test directory, which children wait for with `signalled`. */
async function signal(name: string): Promise<void> {
  await writeFile(join(dir, name), '');
}

/** Resolves once the files `names` exist in the test directory (children made them with `signal`). */
async function signalled(...names: string[]): Promise<void> {
  await expect
    .poll(async () => (await readdir(dir)).filter((name) => names.includes(name)).length, {
      timeout: 20_000,
      interval: 10,
    })
    .toBe(names.length);
}

const START_IN_CHILD =
  "await store.start({ logger: pino({ level: 'silent' }), alias: 'default', reportBrokenRecord: () => {} });";

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kairos-sqlite-history-'));
  path = join(dir, 'tasks.db');
});
afterEach(async () => {
  vi.restoreAllMocks();
  for (const store of stores.splice(0)) await store.close().catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

describe('SQLiteStore migration of a version 1 database (kairos before run history)', () => {
  it('adds the history, request and revision tables in place; tasks, leases and run slots are kept', async () => {
    writeVersion1Database();
    const store = await started();
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
      expect(db.pragma('user_version', { simple: true })).toBe(2);
      expect(
        db.prepare("SELECT name FROM sqlite_schema WHERE name LIKE 'kairos_r%' ORDER BY name").pluck().all(),
      ).toEqual([
        'kairos_revision',
        'kairos_run_requests',
        'kairos_run_requests_inserted',
        'kairos_run_slots',
        'kairos_run_slots_task',
        'kairos_runs',
        'kairos_runs_ended',
        'kairos_runs_task',
      ]);
    });
  });

  it('several processes starting at once on it: every one starts, the schema is migrated once', async () => {
    writeVersion1Database();
    const children = Array.from({ length: 4 }, (_, index) =>
      inChild(
        `signal('ready-' + args[0]);
         await signalled('go');
         ${START_IN_CHILD}
         await store.appendRuns([{ runId: 'child-' + args[0], taskId: 'old', taskName: 'old', scheduledRunTime: 1,
           startedAt: 1, endedAt: 2, durationMs: 1, outcome: 'success', attempts: 1, args: [], schedulerId: 'c' }], 20);
         print((await store.getTasks()).map((record) => record.id));`,
        [String(index)],
      ),
    );
    await signalled('ready-0', 'ready-1', 'ready-2', 'ready-3');
    await signal('go');
    expect(await Promise.all(children)).toEqual([['old'], ['old'], ['old'], ['old']]);
    const store = await started();
    expect(ids(await store.getRuns({ limit: 10 })).sort()).toEqual([
      'child-0',
      'child-1',
      'child-2',
      'child-3',
    ]);
    withDatabase((db) => {
      expect(db.pragma('user_version', { simple: true })).toBe(2);
      expect(db.prepare('SELECT * FROM kairos_revision').all()).toEqual([{ id: 1, revision: 0 }]);
    });
  }, 30_000);
});

describe('SQLiteStore run history', () => {
  it('appendRuns keeps the newest perTask records of each task the batch names, by appending order', async () => {
    const store = await started();
    await store.appendRuns(
      [makeRun('b-1', 'b', T0), makeRun('b-2', 'b', T0 + 1), makeRun('b-3', 'b', T0 + 2)],
      2,
    );
    // 'a-old' ended last but was appended first: it is the one trimmed.
    await store.appendRuns([makeRun('a-old', 'a', T0 + 100)], 2);
    await store.appendRuns([makeRun('a-1', 'a', T0 + 1), makeRun('a-2', 'a', T0 + 2)], 2);
    expect(ids(await store.getRuns({ taskId: 'a', limit: 10 }))).toEqual(['a-2', 'a-1']);
    expect(ids(await store.getRuns({ taskId: 'b', limit: 10 }))).toEqual(['b-3', 'b-2']);
    // A batch naming only 'a' leaves 'b' alone, even with a smaller perTask.
    await store.appendRuns([makeRun('a-3', 'a', T0 + 3)], 1);
    expect(ids(await store.getRuns({ taskId: 'a', limit: 10 }))).toEqual(['a-3']);
    expect(ids(await store.getRuns({ taskId: 'b', limit: 10 }))).toEqual(['b-3', 'b-2']);
  });

  it('a run id stored already is left out: the first record stays', async () => {
    const store = await started();
    await store.appendRuns([makeRun('r', 'a', T0, { outcome: 'error' })], 5);
    await store.appendRuns([makeRun('r', 'a', T0 + 1), makeRun('r', 'b', T0 + 2)], 5);
    const runs = await store.getRuns({ limit: 10 });
    expect(runs.map((run) => [run.runId, run.taskId, run.outcome])).toEqual([['r', 'a', 'error']]);
  });

  it('getRuns: newest first by end, ties by appending order (later first), with every filter and the limit', async () => {
    const store = await started();
    await store.appendRuns(
      [
        makeRun('a-1', 'a', T0 + 10),
        makeRun('b-1', 'b', T0 + 10, { outcome: 'error' }),
        makeRun('a-2', 'a', T0 + 5, { outcome: 'missed', startedAt: null, durationMs: null, missedCount: 3 }),
        makeRun('b-2', 'b', T0 + 20, { outcome: 'timeout' }),
      ],
      20,
    );
    await store.appendRuns([makeRun('a-3', 'a', T0 + 10, { replayOf: 'a-1', args: [1, { x: 'y' }] })], 20);
    expect(ids(await store.getRuns({ limit: 10 }))).toEqual(['b-2', 'a-3', 'b-1', 'a-1', 'a-2']);
    expect(ids(await store.getRuns({ limit: 2 }))).toEqual(['b-2', 'a-3']);
    expect(ids(await store.getRuns({ taskId: 'a', limit: 10 }))).toEqual(['a-3', 'a-1', 'a-2']);
    expect(ids(await store.getRuns({ taskId: 'a', limit: 1 }))).toEqual(['a-3']);
    expect(ids(await store.getRuns({ outcomes: ['error', 'timeout'], limit: 10 }))).toEqual(['b-2', 'b-1']);
    expect(ids(await store.getRuns({ taskId: 'b', outcomes: ['error'], limit: 10 }))).toEqual(['b-1']);
    expect(ids(await store.getRuns({ since: T0 + 10, limit: 10 }))).toEqual(['b-2', 'a-3', 'b-1', 'a-1']);
    expect(ids(await store.getRuns({ runId: 'a-2', limit: 10 }))).toEqual(['a-2']);
    expect(ids(await store.getRuns({ runId: 'a-2', taskId: 'b', limit: 10 }))).toEqual([]);
    expect(ids(await store.getRuns({ outcomes: [], limit: 10 }))).toEqual([]);
    expect(await store.getRuns({ runId: 'a-3', limit: 1 })).toEqual([
      makeRun('a-3', 'a', T0 + 10, { replayOf: 'a-1', args: [1, { x: 'y' }] }),
    ]);
    expect((await store.getRuns({ runId: 'a-2', limit: 1 }))[0]).toEqual(
      makeRun('a-2', 'a', T0 + 5, { outcome: 'missed', startedAt: null, durationMs: null, missedCount: 3 }),
    );
  });

  it("no history statement scans a table but the prune of removed tasks' records", async () => {
    const prepare = vi.spyOn(Database.prototype, 'prepare');
    await started();
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

  it('pruneRuns deletes records of removed tasks ended before the cutoff and beyond the newest `keep`', async () => {
    const store = await started();
    await store.addTask(makeRecord({ id: 'live' }));
    await store.appendRuns(
      [
        makeRun('live-old', 'live', T0 - 1000),
        makeRun('gone-1', 'gone', T0 - 1000),
        makeRun('gone-2', 'gone', T0 + 1),
        makeRun('gone-3', 'gone', T0 + 2),
        makeRun('other-1', 'other', T0 + 3),
        makeRun('other-2', 'other', T0 + 3),
      ],
      20,
    );
    // Removed tasks' records from T0 on: other-2, other-1, gone-3, gone-2 (newest first); keep 3.
    expect(await store.pruneRuns(T0, 3)).toBe(2);
    expect(ids(await store.getRuns({ limit: 10 }))).toEqual(['other-2', 'other-1', 'gone-3', 'live-old']);
    expect(await store.pruneRuns(T0, 3)).toBe(0);
    expect(await store.pruneRuns(T0 + 3, 10)).toBe(1);
    expect(await store.pruneRuns(T0 + 1e9, 0)).toBe(2);
    expect(ids(await store.getRuns({ limit: 10 }))).toEqual(['live-old']);
  });

  it('a row that cannot be read back is left out and logged once; the rows around it are read', async () => {
    const { logger, lines } = capturingLogger();
    const store = await started({ ...recordingContext().context, logger });
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

  it('a record that is not JSON is a SerializationError, and nothing of its batch is stored', async () => {
    const store = await started();
    const error = await store
      .appendRuns([makeRun('fine', 'a', T0), makeRun('big', 'a', T0, { args: [10n] })], 20)
      .catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(SerializationError);
    expect((error as Error).message).toMatch(/^run 'big' cannot be stored: it is not JSON/);
    expect(await store.getRuns({ limit: 10 })).toEqual([]);
  });
});

describe('SQLiteStore run-now requests', () => {
  it('takeRunRequests returns requests oldest first, drops those older than RUN_REQUEST_MAX_AGE_MS, empties the table', async () => {
    const store = await started();
    const now = Date.now();
    await store.requestRun(makeRequest('late', now - 10));
    await store.requestRun(makeRequest('too-old', now - RUN_REQUEST_MAX_AGE_MS - 1));
    await store.requestRun(
      makeRequest('just-in-time', now - RUN_REQUEST_MAX_AGE_MS, { args: [1], replayOf: 'x:1' }),
    );
    await store.requestRun(makeRequest('tie-first', now - 20));
    await store.requestRun(makeRequest('tie-second', now - 20));
    await store.requestRun(makeRequest('tie-first', now - 5));
    expect(await store.hasRunRequest('too-old')).toBe(true);
    const taken = await store.takeRunRequests(now);
    expect(taken).toEqual([
      makeRequest('just-in-time', now - RUN_REQUEST_MAX_AGE_MS, { args: [1], replayOf: 'x:1' }),
      makeRequest('tie-first', now - 20),
      makeRequest('tie-second', now - 20),
      makeRequest('late', now - 10),
    ]);
    expect(await store.hasRunRequest('too-old')).toBe(false);
    expect(await store.takeRunRequests(now)).toEqual([]);
  });

  it('cancelRunRequest removes a waiting request once', async () => {
    const store = await started();
    await store.requestRun(makeRequest('q', Date.now()));
    expect(await store.cancelRunRequest('q')).toBe(true);
    expect(await store.cancelRunRequest('q')).toBe(false);
    expect(await store.hasRunRequest('q')).toBe(false);
  });

  it('with no request waiting, takeRunRequests writes nothing (no write transaction)', async () => {
    const store = await started();
    const blocker = new Database(path);
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
    const store = await started();
    await store.requestRun(makeRequest('q', Date.now()));
    const blocker = new Database(path);
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

  it('two processes taking requests while more are made: each request is taken exactly once', async () => {
    const store = await started();
    const made: string[] = [];
    const request = async (count: number) => {
      for (let index = 0; index < count; index++) {
        const requestId = `q-${made.length}`;
        made.push(requestId);
        await store.requestRun(makeRequest(requestId, Date.now()));
      }
    };
    await request(200);
    const takers = [0, 1].map((index) =>
      inChild(
        `${START_IN_CHILD}
         const taken = [];
         signal('ready-' + args[0]);
         await signalled('go');
         while (!existsSync(join(dir, 'stop'))) {
           for (const request of await store.takeRunRequests(Date.now())) taken.push(request.requestId);
           await new Promise((resolve) => setTimeout(resolve, 1));
         }
         for (const request of await store.takeRunRequests(Date.now())) taken.push(request.requestId);
         print(taken);`,
        [String(index)],
      ),
    );
    await signalled('ready-0', 'ready-1');
    await signal('go');
    await request(300);
    await signal('stop');
    const [first, second] = (await Promise.all(takers)) as [string[], string[]];
    expect(first.length).toBeGreaterThan(0);
    expect(second.length).toBeGreaterThan(0);
    expect([...first, ...second].sort()).toEqual([...made].sort());
    expect(await store.takeRunRequests(Date.now())).toEqual([]);
  }, 30_000);
});

describe("SQLiteStore watch: what wakes another process's watch", () => {
  it('a task change and a request wake it; run history, run slots and taking requests do not', async () => {
    const watcher = await started();
    const other = await started();
    let calls = 0;
    watcher.watch(() => void calls++);
    const settled = () => new Promise((resolve) => setTimeout(resolve, 200));

    await other.appendRuns([makeRun('r-1', 'a', T0)], 20);
    await other.claimRunSlot({ taskId: 'a', runId: 's', owner: 'B', expiresAt: T0 + 1e12, maxInstances: 1 });
    await other.releaseRunSlot('s');
    await other.pruneRuns(T0 + 1, 0);
    await settled();
    expect(calls).toBe(0);

    await other.addTask(makeRecord({ id: 'a' }));
    await expect.poll(() => calls, { timeout: 2000 }).toBe(1);
    await other.appendRuns([makeRun('r-2', 'a', T0)], 20);
    await settled();
    expect(calls).toBe(1);

    await other.requestRun(makeRequest('q', Date.now()));
    await expect.poll(() => calls, { timeout: 2000 }).toBe(2);
    await other.takeRunRequests(Date.now());
    await settled();
    expect(calls).toBe(2);

    // A task written by plain SQL (a process of an older kairos) counts too: the triggers count it.
    withDatabase((db) =>
      db.prepare('UPDATE kairos_tasks SET next_run_time = ? WHERE id = ?').run(T0 + 5, 'a'),
    );
    await expect.poll(() => calls, { timeout: 2000 }).toBe(3);
    // Its own writes do not wake it.
    await watcher.addTask(makeRecord({ id: 'b' }));
    await watcher.requestRun(makeRequest('own', Date.now()));
    await settled();
    expect(calls).toBe(3);
  });
});
