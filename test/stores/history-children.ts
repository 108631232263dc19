/**
 * What the run-history tests of the file-backed stores share (test/stores/file-history.test.ts runs the tests
 * both pass over `HISTORY_KINDS`; test/stores/sqlite-history.test.ts keeps SQLiteStore's own): the two kinds with
 * their version 1 fixtures, a fresh store per test, child processes on it started together by signal files, and
 * the run and request builders.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, beforeEach, expect, vi } from 'vitest';
import { RUN_REQUEST_MAX_AGE_MS, type RunNowRequest, type StoredRunRecord } from '../../src/history.js';
import { serializeTask, serializeTaskBody } from '../../src/serialization.js';
import type { StoreContext } from '../../src/store.js';
import { FILE_STORE_FORMAT, FileStore } from '../../stores/file.js';
import { SQLITE_APPLICATION_ID, SQLiteStore } from '../../stores/sqlite.js';
import { makeRecord, recordingContext, T0 } from './harness.js';

/** A run record of `taskId` that ended at `endedAt`. */
export function makeRun(
  runId: string,
  taskId: string,
  endedAt: number,
  extra: Partial<StoredRunRecord> = {},
) {
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

export function makeRequest(requestId: string, requestedAt: number, extra: Partial<RunNowRequest> = {}) {
  const request: RunNowRequest = { requestId, taskId: 'a', requestedAt, ...extra };
  return request;
}

/**
 * Requests of the task 'a' made at `now` and before: 'late', 'too-old' (older than RUN_REQUEST_MAX_AGE_MS),
 * 'just-in-time' (with args and replayOf), two tied ('tie-first', 'tie-second'), and 'tie-first' made again later.
 */
export async function makeRequestsToTake(store: FileStore | SQLiteStore, now: number): Promise<void> {
  await store.requestRun(makeRequest('late', now - 10));
  await store.requestRun(makeRequest('too-old', now - RUN_REQUEST_MAX_AGE_MS - 1));
  await store.requestRun(
    makeRequest('just-in-time', now - RUN_REQUEST_MAX_AGE_MS, { args: [1], replayOf: 'x:1' }),
  );
  await store.requestRun(makeRequest('tie-first', now - 20));
  await store.requestRun(makeRequest('tie-second', now - 20));
  await store.requestRun(makeRequest('tie-first', now - 5));
}

export const ids = (records: readonly StoredRunRecord[]) => records.map((record) => record.runId);

/** A logger that keeps the lines it writes, parsed. */
export function capturingLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

/**
 * Appends three runs of 'b' and then, in two batches, three of 'a', keeping 2 per task: 'a-old' ended last but
 * was appended first, so it is the one trimmed. Left: 'b-2', 'b-3', 'a-1', 'a-2', in that appending order.
 */
export async function appendPastPerTask(store: FileStore | SQLiteStore): Promise<void> {
  await store.appendRuns(
    [makeRun('b-1', 'b', T0), makeRun('b-2', 'b', T0 + 1), makeRun('b-3', 'b', T0 + 2)],
    2,
  );
  await store.appendRuns([makeRun('a-old', 'a', T0 + 100)], 2);
  await store.appendRuns([makeRun('a-1', 'a', T0 + 1), makeRun('a-2', 'a', T0 + 2)], 2);
}

/** The FileStore document at `path`, as JSON. */
export async function readDocument(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
}

/** A document as kairos 0.1 (format version 1) wrote it: the task 'old', leased to 'A', with one run slot. */
export function version1Document(): string {
  return JSON.stringify(
    {
      format: FILE_STORE_FORMAT,
      version: 1,
      tasks: { old: serializeTask(makeRecord({ id: 'old' })) },
      leases: { old: { owner: 'A', expiresAt: T0 + 1e12, runTime: T0, held: false } },
      runSlots: { 'slot-1': { taskId: 'old', owner: 'A', expiresAt: T0 + 1e12 } },
    },
    null,
    2,
  );
}

/** Runs `work` on a connection of its own to the database at `path`. */
export function withDatabase<T>(path: string, work: (db: Database.Database) => T): T {
  const db = new Database(path);
  try {
    return work(db);
  } finally {
    db.close();
  }
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

/** Writes a database as kairos 0.1 (schema version 1) left it at `path`, holding the task 'old' and one run slot. */
export function writeVersion1Database(path: string): void {
  withDatabase(path, (db) => {
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

/** A file-backed store kind under test. */
export interface HistoryKind<S extends FileStore | SQLiteStore = FileStore | SQLiteStore> {
  /** The kind's name for test/support/store-open.ts. */
  name: 'file' | 'sqlite';
  /** The store's path in the test directory. */
  fileName: string;
  open(path: string): S;
  /** Writes the store as kairos 0.1 (version 1, before run history) left it: the task 'old' and a run slot. */
  writeVersion1(path: string): Promise<void>;
  /** Checks that the store was migrated to the current version once: its revision is still 0. */
  expectMigratedOnce(path: string): Promise<void>;
  /** The revision another process's watch reads. */
  revision(path: string): Promise<number>;
  /**
   * How many requests are made before and while two processes take them (fewer for the FileStore, which
   * rewrites its document at each request).
   */
  requestsToTake: readonly [before: number, during: number];
}

export const FILE_KIND: HistoryKind<FileStore> = {
  name: 'file',
  fileName: join('store', 'tasks.json'),
  open: (path) => new FileStore({ path }),
  async writeVersion1(path) {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, version1Document());
  },
  async expectMigratedOnce(path) {
    expect(await readDocument(path)).toMatchObject({ version: 3, revision: 0 });
  },
  revision: async (path) => (await readDocument(path)).revision as number,
  requestsToTake: [50, 100],
};

export const SQLITE_KIND: HistoryKind<SQLiteStore> = {
  name: 'sqlite',
  fileName: 'tasks.db',
  open: (path) => new SQLiteStore({ path }),
  async writeVersion1(path) {
    writeVersion1Database(path);
  },
  async expectMigratedOnce(path) {
    withDatabase(path, (db) => {
      expect(db.pragma('user_version', { simple: true })).toBe(3);
      expect(db.prepare('SELECT * FROM kairos_revision').all()).toEqual([{ id: 1, revision: 0 }]);
    });
  },
  revision: async (path) =>
    withDatabase(path, (db) => db.prepare('SELECT revision FROM kairos_revision').pluck().get() as number),
  requestsToTake: [200, 300],
};

/** Both kinds, for `describe.each`. */
export const HISTORY_KINDS: ReadonlyArray<HistoryKind> = [FILE_KIND, SQLITE_KIND];

/** The statement a child runs to start its store. */
export const START_IN_CHILD =
  "await store.start({ logger: pino({ level: 'silent' }), alias: 'default', reportBrokenRecord: () => {} });";

const STORE_OPEN = fileURLToPath(new URL('../support/store-open.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A fresh temp directory per test with a store of one kind in it; made at first use, removed after the test. */
export interface HistoryFixture<S extends FileStore | SQLiteStore> {
  readonly dir: string;
  /** The store's path. */
  readonly path: string;
  /** A new store on `path`, started with `context` (closed after the test). */
  started(context?: StoreContext): Promise<S>;
  /**
   * Runs `body` in a child process (node, under tsx), where `store` is a store of the kind on `path` (not
   * started), `args` its arguments, `print(value)` answers, and `signal(name)` / `await signalled(name)` make and
   * wait for a file of that name in the signal directory (to start processes together). Resolves with what it
   * printed, parsed.
   */
  inChild(body: string, args?: readonly string[]): Promise<unknown>;
  /** Makes the file `name`, which children wait for with `signalled`. */
  signal(name: string): Promise<void>;
  /** Resolves once the files `names` exist (children made them with `signal`). */
  signalled(...names: string[]): Promise<void>;
}

/** Registers the hooks of a `HistoryFixture` of `kind` in the enclosing scope. */
export function useHistoryFixture<S extends FileStore | SQLiteStore>(
  kind: HistoryKind<S>,
): HistoryFixture<S> {
  let dir: string | undefined;
  const stores: S[] = [];
  beforeEach(() => {
    dir = undefined;
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    for (const store of stores.splice(0)) await store.close().catch(() => {});
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });
  const fixture: HistoryFixture<S> = {
    get dir() {
      if (dir === undefined) {
        dir = mkdtempSync(join(tmpdir(), `kairos-${kind.name}-history-`));
        // Next to the store, not in its directory: the FileStore's watch looks there.
        mkdirSync(join(dir, 'signals'));
      }
      return dir;
    },
    get path() {
      return join(fixture.dir, kind.fileName);
    },
    async started(context = recordingContext().context) {
      const store = kind.open(fixture.path);
      stores.push(store);
      await store.start(context);
      return store;
    },
    async inChild(body, args = []) {
      const code = `
        const { pino } = await import('pino');
        const { existsSync, writeFileSync } = await import('node:fs');
        const { join } = await import('node:path');
        const { openStore } = await import(${JSON.stringify(STORE_OPEN)});
        const [location, dir, ...args] = process.argv.slice(1);
        const store = openStore(${JSON.stringify(kind.name)}, location);
        const print = (value) => process.stdout.write(JSON.stringify(value));
        const signal = (name) => writeFileSync(join(dir, name), '');
        const signalled = async (name) => {
          while (!existsSync(join(dir, name))) await new Promise((resolve) => setTimeout(resolve, 5));
        };
        ${body}
        await store.close();`;
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [
          '--import',
          'tsx',
          '--input-type=module',
          '-e',
          code,
          fixture.path,
          join(fixture.dir, 'signals'),
          ...args,
        ],
        { cwd: ROOT },
      );
      return JSON.parse(stdout);
    },
    async signal(name) {
      await writeFile(join(fixture.dir, 'signals', name), '');
    },
    async signalled(...names) {
      await expect
        .poll(
          async () =>
            (await readdir(join(fixture.dir, 'signals'))).filter((name) => names.includes(name)).length,
          { timeout: 20_000, interval: 10 },
        )
        .toBe(names.length);
    },
  };
  return fixture;
}
