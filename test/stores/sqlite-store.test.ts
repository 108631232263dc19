// SQLiteStore specifics: schema and pragmas, index use, bad databases at start, odd rows, waiting for another
// connection's lock without blocking the event loop, a database file deleted while open, watching. Unusable
// paths and the not-started guard: support.test.ts.
import { statSync, truncateSync, writeFileSync } from 'node:fs';
import { copyFile, mkdtemp, readdir, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KairosError, SerializationError, ValueError } from '../../src/errors.js';
import { SQLITE_APPLICATION_ID, SQLITE_SCHEMA_VERSION, SQLiteStore } from '../../stores/sqlite.js';
import { rejection } from './file-fixtures.js';
import { makeRecord, recordingContext, T0 } from './harness.js';

let dir: string;
let path: string;
const stores: SQLiteStore[] = [];

async function started(
  options: ConstructorParameters<typeof SQLiteStore>[0] = { path },
): Promise<SQLiteStore> {
  const store = new SQLiteStore(options);
  stores.push(store);
  await store.start(recordingContext().context);
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

/** Counts the turns of a 10 ms interval, to see whether the event loop kept running. */
function tickCounter(): { ticks: () => number; stop: () => void } {
  let ticks = 0;
  const interval = setInterval(() => ticks++, 10);
  return { ticks: () => ticks, stop: () => clearInterval(interval) };
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kairos-sqlite-store-'));
  path = join(dir, 'tasks.db');
});
afterEach(async () => {
  vi.restoreAllMocks();
  for (const store of stores.splice(0)) await store.close().catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

describe('SQLiteStore options', () => {
  it('rejects a bad path or busy timeout with a ValueError naming the value', () => {
    expect(() => new SQLiteStore({ path: '' })).toThrow(ValueError);
    expect(() => new SQLiteStore({ path: ':memory:' })).toThrow(
      /got ":memory:" \(for tasks in memory use MemoryStore\)/,
    );
    expect(() => new SQLiteStore({ path, busyTimeout: -1 })).toThrow(/busyTimeout/);
    expect(() => new SQLiteStore(null as unknown as { path: string })).toThrow(/options must be an object/);
    expect(new SQLiteStore({ path, busyTimeout: { seconds: 2 } }).busyTimeoutMs).toBe(2000);
  });

  it('rejects an unknown option or a non-object with a ValueError naming it', () => {
    const unknownKey = () => new SQLiteStore({ path, busytimeout: 1 } as unknown as { path: string });
    expect(unknownKey).toThrow(ValueError);
    expect(unknownKey).toThrow(
      /SQLiteStore: unknown option 'busytimeout' \(expected one of path, busyTimeout\)/,
    );
    for (const bad of ['tasks.db', 42, [path]]) {
      const construct = () => new SQLiteStore(bad as unknown as { path: string });
      expect(construct).toThrow(ValueError);
      expect(construct).toThrow(/options must be an object like \{ path \}, got /);
    }
  });
});

describe('SQLiteStore whose database file is deleted or replaced while it runs', () => {
  it('refuses every write with a KairosError naming the file, instead of writing into the deleted file', async () => {
    const store = await started();
    await store.addTask(makeRecord({ id: 'a', nextRunTime: T0 }));
    await rm(path);
    for (const write of [
      () => store.addTask(makeRecord({ id: 'b' })),
      () => store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: 10 }),
      () => store.updateTask('a', (current) => ({ ...current, name: 'renamed' })),
      () => store.releaseTasks('A', [{ id: 'a', nextRunTime: T0 + 60_000 }]),
      () => store.removeTask('a'),
      () => store.removeAllTasks(),
      () => store.renewRunSlots('A', ['r1'], T0),
      () => store.claimRunSlot({ taskId: 'a', runId: 'r1', owner: 'A', expiresAt: T0, maxInstances: 1 }),
      () => store.releaseRunSlot('r1'),
    ]) {
      const error = await rejection(write());
      expect(error).toBeInstanceOf(KairosError);
      expect(error.message).toBe(
        `SQLiteStore: the database file '${path}' was deleted while the store was open; writes are refused, as they would go to the deleted file and be lost. Restore the file, or restart the store to create a new one`,
      );
    }
    // A restart creates a new, empty database; nothing was silently written to the deleted one.
    await store.close();
    await store.start(recordingContext().context);
    expect(await store.getTasks()).toEqual([]);
  });

  it('the same when the whole directory is deleted', async () => {
    const store = await started();
    await rm(dir, { recursive: true, force: true });
    const error = await rejection(store.addTask(makeRecord({ id: 'b' })));
    expect(error).toBeInstanceOf(KairosError);
    expect(error.message).toMatch(/was deleted while the store was open/);
    expect(error.message).toContain(path);
  });

  it('refuses writes once another file was moved into its place', async () => {
    const store = await started();
    await store.addTask(makeRecord({ id: 'a' }));
    await copyFile(path, join(dir, 'copy.db'));
    await rename(join(dir, 'copy.db'), path);
    const error = await rejection(store.addTask(makeRecord({ id: 'b' })));
    expect(error).toBeInstanceOf(KairosError);
    expect(error.message).toMatch(
      /^SQLiteStore: the database file '.*' was replaced by another file while the store was open/,
    );
    expect(error.message).toContain(path);
  });
});

describe('SQLiteStore schema', () => {
  it('creates a WAL database with the kairos application id, schema version and indexes', async () => {
    await started({ path: join(dir, 'nested', 'dir', 'tasks.db') });
    path = join(dir, 'nested', 'dir', 'tasks.db');
    withDatabase((db) => {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('user_version', { simple: true })).toBe(SQLITE_SCHEMA_VERSION);
      expect(db.pragma('application_id', { simple: true })).toBe(SQLITE_APPLICATION_ID);
      const indexes = db
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
        .pluck()
        .all();
      expect(indexes).toEqual([
        'kairos_run_slot_tags_tag',
        'kairos_run_slots_task',
        'kairos_runs_ended',
        'kairos_runs_task',
        'kairos_tasks_after',
        'kairos_tasks_due',
        'kairos_tasks_leased',
      ]);
    });
  });

  it('opens an existing kairos database without changing its schema', async () => {
    const store = await started();
    await store.addTask(makeRecord({ id: 'a' }));
    await store.close();
    const schema = withDatabase((db) =>
      db.prepare('SELECT sql FROM sqlite_schema ORDER BY name').pluck().all(),
    );
    const reopened = await started();
    expect((await reopened.getTasks()).map((record) => record.id)).toEqual(['a']);
    expect(
      withDatabase((db) => db.prepare('SELECT sql FROM sqlite_schema ORDER BY name').pluck().all()),
    ).toEqual(schema);
  });

  it('no statement but the full listing scans the tasks table: every other one goes through an index', async () => {
    const prepare = vi.spyOn(Database.prototype, 'prepare');
    await started();
    const sources = prepare.mock.results
      .map((result) => (result.value as { source: string }).source)
      .filter((source) => /kairos_tasks\b/.test(source) && /\bWHERE\b/.test(source));
    expect(sources.length).toBeGreaterThanOrEqual(12);
    withDatabase((db) => {
      for (const source of sources) {
        const parameters = source.includes(':now')
          ? { now: T0, limit: 10 }
          : Array.from(source.matchAll(/\?/g), () => null);
        const plan = db.prepare(`EXPLAIN QUERY PLAN ${source}`).all(parameters) as Array<{ detail: string }>;
        const fullScans = plan
          .map((step) => step.detail)
          .filter((detail) => /^SCAN kairos_tasks$/.test(detail));
        expect(fullScans, source).toEqual([]);
      }
    });
  });
});

describe('SQLiteStore refuses a bad database at start, naming it and leaving it untouched', () => {
  /** A kairos database of 400 tasks (about 1 MB), cut to half its size. */
  async function truncatedDatabase(): Promise<void> {
    const store = new SQLiteStore({ path });
    await store.start(recordingContext().context);
    for (let index = 0; index < 400; index++) {
      await store.addTask(makeRecord({ id: `t${index}`, args: ['x'.repeat(2000)] }));
    }
    await store.close();
    truncateSync(path, Math.floor(statSync(path).size / 2));
  }

  const cases: Array<[string, () => void | Promise<void>, RegExp]> = [
    ['a truncated database', truncatedDatabase, /corrupt or not a database/],
    ['a text file', () => writeFileSync(path, 'hello, I am not a database\n'), /not an SQLite database/],
    ['a truncated header', () => writeFileSync(path, 'SQLite for'), /not an SQLite database/],
    [
      "another application's database",
      () => withDatabase((db) => db.exec('CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)')),
      /holds tables of another application/,
    ],
    [
      'another application id',
      () => withDatabase((db) => db.pragma('application_id = 1234')),
      /not a kairos database \(application_id 1234\)/,
    ],
    [
      'a newer kairos schema',
      () =>
        withDatabase((db) => {
          db.pragma(`application_id = ${SQLITE_APPLICATION_ID}`);
          db.pragma('user_version = 99');
        }),
      /schema version 99, written by a newer kairos/,
    ],
  ];

  it.each(cases)('%s', async (_name, prepareFile, message) => {
    await prepareFile();
    const before = await readFile(path);
    const error = await new SQLiteStore({ path }).start(recordingContext().context).then(
      () => null,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(SerializationError);
    expect((error as Error).message).toContain(path);
    expect((error as Error).message).toMatch(message);
    expect((await readFile(path)).equals(before), 'the file changed').toBe(true);
    expect(await readdir(dir)).toEqual(['tasks.db']);
  });
});

describe('SQLiteStore rows that cannot be read back', () => {
  it('are reported once each, skipped, and left byte for byte as they were', async () => {
    const store = await started();
    await store.addTask(makeRecord({ id: 'good', nextRunTime: T0 }));
    const insert = (id: string, nextRunTime: unknown, data: unknown) =>
      withDatabase((db) =>
        db
          .prepare('INSERT INTO kairos_tasks (id, next_run_time, data) VALUES (?, ?, ?)')
          .run(id, nextRunTime, data),
      );
    insert('not-an-object', T0 - 3, '42');
    insert('blob', T0 - 2, Buffer.from('{}'));
    insert('text-time', 'soon', JSON.stringify({ id: 'text-time' }));
    insert(
      'other-id',
      T0 - 1,
      JSON.stringify({ ...JSON.parse(JSON.stringify(makeRecord({ id: 'x' }))), id: 'x' }),
    );
    const rows = () => withDatabase((db) => db.prepare('SELECT * FROM kairos_tasks ORDER BY id').all());
    const before = rows().filter((row) => (row as { id: string }).id !== 'good');

    const { context, reports } = recordingContext();
    await store.close();
    const reopened = new SQLiteStore({ path });
    stores.push(reopened);
    await reopened.start(context);
    for (let round = 0; round < 3; round++) {
      const due = await reopened.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 10, limit: 2 });
      expect(due.map((record) => record.id)).toEqual(round === 0 ? ['good'] : []);
      expect((await reopened.getTasks()).map((record) => record.id)).toEqual(['good']);
    }
    expect(reports.map(([id]) => id).sort()).toEqual(['blob', 'not-an-object', 'other-id', 'text-time']);
    expect(reports.every(([, error]) => error instanceof SerializationError)).toBe(true);
    expect(reports.find(([id]) => id === 'other-id')?.[1].message).toBe(
      'task \'other-id\': the stored task names another id, "x"',
    );
    expect(rows().filter((row) => (row as { id: string }).id !== 'good')).toEqual(before);
  });

  it('a repaired row is read again', async () => {
    const { context, reports } = recordingContext();
    const store = new SQLiteStore({ path });
    stores.push(store);
    await store.start(context);
    withDatabase((db) =>
      db.prepare('INSERT INTO kairos_tasks (id, next_run_time, data) VALUES (?, ?, ?)').run('a', T0, '{oops'),
    );
    expect(await store.getTask('a')).toBeUndefined();
    expect(await store.earliestWakeup('A')).toBeNull();
    const { nextRunTime: _omitted, ...body } = JSON.parse(JSON.stringify(makeRecord({ id: 'a' })));
    const data = JSON.stringify({ ...body, trigger: makeRecord({ id: 'a' }).trigger.toJSON() });
    withDatabase((db) => db.prepare('UPDATE kairos_tasks SET data = ? WHERE id = ?').run(data, 'a'));
    expect((await store.getTask('a'))?.id).toBe('a');
    expect(await store.earliestWakeup('A')).toBe(T0);
    expect(reports.map(([id]) => id)).toEqual(['a']);
  });
});

describe('SQLiteStore waits for a lock another connection holds without blocking the event loop', () => {
  /** Another connection to the database, in a write transaction (as a process stuck in one would be). */
  function holdWriteLock(): Database.Database {
    const blocker = new Database(path);
    blocker.exec('BEGIN IMMEDIATE');
    return blocker;
  }

  it('fails after busyTimeout with a KairosError saying the database is locked; the event loop ran meanwhile', async () => {
    const store = await started({ path, busyTimeout: 300 });
    const blocker = holdWriteLock();
    const counter = tickCounter();
    try {
      const startedAt = Date.now();
      const error = await rejection(store.addTask(makeRecord({ id: 'a' })));
      const elapsed = Date.now() - startedAt;
      expect(error).toBeInstanceOf(KairosError);
      expect(error.message).toBe(
        `SQLiteStore: the database '${path}' is locked: another connection (a process in a long or stuck write transaction) held its lock for all of busyTimeout (300 ms)`,
      );
      expect((error.cause as { code?: string }).code).toBe('SQLITE_BUSY');
      expect(elapsed).toBeGreaterThanOrEqual(280);
      expect(elapsed).toBeLessThan(1000);
      // 30 turns of a 10 ms interval fit in 300 ms; a synchronous busy wait lets none run.
      expect(counter.ticks()).toBeGreaterThanOrEqual(10);
    } finally {
      counter.stop();
      blocker.exec('ROLLBACK');
      blocker.close();
    }
    await store.addTask(makeRecord({ id: 'a' }));
    expect((await store.getTasks()).map((record) => record.id)).toEqual(['a']);
  });

  it('every write waits, and goes through once the other connection commits', async () => {
    const store = await started({ path, busyTimeout: 2000 });
    await store.addTask(makeRecord({ id: 'a', nextRunTime: T0 }));
    await store.addTask(makeRecord({ id: 'b', nextRunTime: T0 }));
    await store.addTask(makeRecord({ id: 'gone', nextRunTime: null }));
    await store.claimRunSlot({
      taskId: 'a',
      runId: 'old',
      owner: 'A',
      expiresAt: T0 + 1e12,
      maxInstances: 3,
    });
    await store.claimRunSlot({
      taskId: 'a',
      runId: 'kept',
      owner: 'A',
      expiresAt: T0 + 1e12,
      maxInstances: 3,
    });
    const blocker = holdWriteLock();
    const counter = tickCounter();
    const startedAt = Date.now();
    setTimeout(() => {
      blocker.exec('COMMIT');
      blocker.close();
    }, 200);
    try {
      const [acquired, added, claimed, , , removed, , reads] = await Promise.all([
        store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 60_000, limit: 1 }),
        store.addTask(makeRecord({ id: 'c', nextRunTime: null })).then(() => 'added'),
        store.claimRunSlot({ taskId: 'a', runId: 'new', owner: 'A', expiresAt: T0 + 1e12, maxInstances: 3 }),
        store.releaseRunSlot('old'),
        store.renewRunSlots('A', ['kept'], T0 + 2e12),
        store.removeTask('gone'),
        store.updateTask('b', (current) => ({ ...current, name: 'renamed' })),
        Promise.all([store.getTask('b'), store.earliestWakeup('A')]),
      ]);
      const elapsed = Date.now() - startedAt;
      expect(elapsed).toBeGreaterThanOrEqual(180);
      expect(elapsed).toBeLessThan(1500);
      expect(counter.ticks()).toBeGreaterThanOrEqual(8);
      expect(acquired.map((record) => record.id)).toEqual(['a']);
      expect(added).toBe('added');
      expect(claimed).toBe(true);
      expect(removed.id).toBe('gone');
      // Reads do not wait for a writer (WAL): they saw the tasks as they were before the writes.
      expect(reads[0]?.name).toBe('b');
      expect(await store.releaseTasks('A', [{ id: 'a', nextRunTime: T0 + 60_000 }])).toEqual(['a']);
      expect((await store.getTasks()).map((record) => [record.id, record.name])).toEqual([
        ['b', 'renamed'],
        ['a', 'a'],
        ['c', 'c'],
      ]);
      const slots = withDatabase((db) =>
        db.prepare('SELECT run_id, expires_at FROM kairos_run_slots ORDER BY run_id').all(),
      );
      expect(slots).toEqual([
        { run_id: 'kept', expires_at: T0 + 2e12 },
        { run_id: 'new', expires_at: T0 + 1e12 },
      ]);
    } finally {
      counter.stop();
    }
  });

  it('start waits for the lock too (a migration is a write transaction)', async () => {
    await (await started()).close();
    stores.splice(0);
    const blocker = holdWriteLock();
    const counter = tickCounter();
    setTimeout(() => {
      blocker.exec('COMMIT');
      blocker.close();
    }, 200);
    try {
      await started({ path, busyTimeout: 2000 });
      expect(counter.ticks()).toBeGreaterThanOrEqual(8);
    } finally {
      counter.stop();
    }
  });

  it('an operation waiting when the store is closed fails with a KairosError saying so', async () => {
    const store = await started({ path, busyTimeout: 2000 });
    const blocker = holdWriteLock();
    try {
      const adding = rejection(store.addTask(makeRecord({ id: 'a' })));
      await new Promise((resolve) => setTimeout(resolve, 50));
      await store.close();
      const error = await adding;
      expect(error).toBeInstanceOf(KairosError);
      expect(error.message).toBe(`SQLiteStore '${path}' was closed while waiting for its lock`);
    } finally {
      blocker.exec('ROLLBACK');
      blocker.close();
    }
  });
});
