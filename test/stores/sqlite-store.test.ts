// SQLiteStore specifics: schema and pragmas, index use, bad databases at start, odd rows, busy timeout, watching.
import { statSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SerializationError, ValueError } from '../../src/errors.js';
import { SQLITE_APPLICATION_ID, SQLITE_SCHEMA_VERSION, SQLiteStore } from '../../stores/sqlite.js';
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

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kairos-sqlite-store-'));
  path = join(dir, 'tasks.db');
});
afterEach(async () => {
  vi.restoreAllMocks();
  for (const store of stores.splice(0)) await store.close();
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
      expect(indexes).toEqual(['kairos_run_slots_task', 'kairos_tasks_due', 'kairos_tasks_leased']);
    });
  });

  it('opens an existing kairos database without changing its schema', async () => {
    const store = await started();
    await store.addTask(makeRecord({ id: 'a' }), { replaceExisting: false });
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
      await store.addTask(makeRecord({ id: `t${index}`, args: ['x'.repeat(2000)] }), {
        replaceExisting: false,
      });
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
    await store.addTask(makeRecord({ id: 'good', nextRunTime: T0 }), { replaceExisting: false });
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

describe('SQLiteStore sharing', () => {
  it('waits at most busyTimeout for a write lock another connection holds', async () => {
    const store = await started({ path, busyTimeout: 200 });
    const blocker = new Database(path);
    blocker.exec('BEGIN IMMEDIATE');
    try {
      const startedAt = Date.now();
      const error = await store
        .addTask(makeRecord({ id: 'a' }), { replaceExisting: false })
        .catch((reason: unknown) => reason);
      expect((error as { code?: string }).code).toBe('SQLITE_BUSY');
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(180);
    } finally {
      blocker.exec('ROLLBACK');
      blocker.close();
    }
    await store.addTask(makeRecord({ id: 'a' }), { replaceExisting: false });
  });

  it('operations before start reject; a store can be started again after close', async () => {
    const store = new SQLiteStore({ path });
    await expect(store.getTasks()).rejects.toThrow(/not started/);
    await store.start(recordingContext().context);
    await store.addTask(makeRecord({ id: 'a' }), { replaceExisting: false });
    await store.close();
    await expect(store.getTask('a')).rejects.toThrow(/not started/);
    await store.start(recordingContext().context);
    stores.push(store);
    expect((await store.getTasks()).map((record) => record.id)).toEqual(['a']);
  });
});
