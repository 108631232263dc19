/**
 * `SQLiteStore`: tasks in an SQLite database through better-sqlite3 (an optional peer dependency, loaded by
 * `start()`, never by importing kairos).
 *
 * - WAL journal, `synchronous = NORMAL` (a process crash loses nothing; a power loss may lose the last
 *   commits), and a busy timeout: several processes on one machine may share the file.
 * - One row per task: `next_run_time` in a column of its own, indexed (a partial index holds only the unleased,
 *   scheduled rows), the rest of the task as JSON in `data`. A wake-up reads the due rows through the index
 *   and never all tasks: acquiring N due tasks is one indexed SELECT and one UPDATE in one `BEGIN IMMEDIATE`.
 * - Task leases are columns of the row, run slots rows of `kairos_run_slots`, so that schedulers in several
 *   processes never both run one due run and `maxInstances` counts across all of them.
 * - The schema has a version (`PRAGMA user_version`) and an application id (`PRAGMA application_id`);
 *   `start()` migrates an older schema and refuses a foreign, newer or corrupt database, naming the file.
 * - A row that cannot be read back is reported once and kept untouched: this process remembers its id and
 *   content in memory and leaves it out of due queries until the row changes (nothing is written to it).
 */
import { type FSWatcher, watch as watchFs } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import {
  ConflictingIdError,
  KairosError,
  SerializationError,
  TaskLookupError,
  ValueError,
} from '../src/errors.js';
import {
  deserializeTaskBody,
  isPlainObject,
  parseTaskText,
  serializeTaskBody,
} from '../src/serialization.js';
import {
  type AcquireOptions,
  compareTaskRecords,
  type RunSlotClaim,
  type StoreContext,
  type TaskRecord,
  type TaskRelease,
  type TaskStore,
} from '../src/store.js';
import { type DurationInput, describeValue, parseDuration } from '../src/time.js';

/** Options of `new SQLiteStore()`. */
export interface SQLiteStoreOptions {
  /** The database file; created (with its directory) at `start()` if missing. */
  path: string;
  /**
   * How long a statement waits for another process's write lock before failing. better-sqlite3 is
   * synchronous: the event loop waits too. @default 5000 ms
   */
  busyTimeout?: DurationInput;
}

/** `PRAGMA application_id` of a kairos database ('kair'). */
export const SQLITE_APPLICATION_ID = 0x6b616972;
/** The schema version (`PRAGMA user_version`) this release creates; older ones are migrated at `start()`. */
export const SQLITE_SCHEMA_VERSION = 1;

const DEFAULT_BUSY_TIMEOUT_MS = 5000;
/** File system events closer together than this are checked once. */
const WATCH_DEBOUNCE_MS = 25;
/** The first 16 bytes of every SQLite database file. */
const SQLITE_HEADER = 'SQLite format 3\u0000';

/**
 * `MIGRATIONS[n]` upgrades schema version n to n + 1 (0 is an empty database). A later release appends one
 * entry and bumps `SQLITE_SCHEMA_VERSION`; `start()` runs the missing ones in one transaction.
 */
const MIGRATIONS: ReadonlyArray<string> = [
  `CREATE TABLE kairos_tasks (
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
   CREATE INDEX kairos_run_slots_task ON kairos_run_slots (task_id, expires_at);`,
];

type Database = BetterSqlite3.Database;
type DatabaseConstructor = typeof BetterSqlite3;

/** A task row as the queries return it. */
interface TaskRow {
  id: string;
  next_run_time: unknown;
  data: unknown;
}

/** A row with the instant at which it could next be acquired. */
interface WakeupRow extends TaskRow {
  at: number;
}

/** The prepared statements, made once per `start()`. */
interface Statements {
  insert: BetterSqlite3.Statement<[string, number | null, string]>;
  upsert: BetterSqlite3.Statement<[string, number | null, string]>;
  update: BetterSqlite3.Statement<[number | null, string, string]>;
  selectOne: BetterSqlite3.Statement<[string], TaskRow>;
  selectAll: BetterSqlite3.Statement<[], TaskRow>;
  deleteOne: BetterSqlite3.Statement<[string]>;
  deleteMany: BetterSqlite3.Statement<[string]>;
  earliestUnleased: BetterSqlite3.Statement<[number], WakeupRow>;
  earliestLeased: BetterSqlite3.Statement<[number], WakeupRow>;
  selectDue: BetterSqlite3.Statement<{ now: number; limit: number }, TaskRow>;
  lease: BetterSqlite3.Statement<[string, number, string]>;
  hold: BetterSqlite3.Statement<[number, string, string]>;
  releaseTo: BetterSqlite3.Statement<[number | null, string, string]>;
  releaseRemove: BetterSqlite3.Statement<[string, string]>;
  endLease: BetterSqlite3.Statement<[string, string]>;
  endLeasesOf: BetterSqlite3.Statement<[string]>;
  pruneSlots: BetterSqlite3.Statement<[number]>;
  countSlots: BetterSqlite3.Statement<[string, number], number>;
  insertSlot: BetterSqlite3.Statement<[string, string, string, number]>;
  renewSlot: BetterSqlite3.Statement<[number, string, string]>;
  deleteSlot: BetterSqlite3.Statement<[string]>;
}

/** A run-slot change waiting for the next batch: a claim, or the release of a slot. */
type SlotOp = { claim: RunSlotClaim; runId?: undefined } | { claim?: undefined; runId: string };

/** Everything that exists only while the store is open. */
interface OpenState {
  db: Database;
  statements: Statements;
  context: StoreContext;
  /** Leases `owner` up to `limit` due rows; one transaction. */
  acquire: (owner: string, now: number, leaseMs: number, limit: number) => TaskRecord[];
  release: (owner: string, releases: readonly TaskRelease[]) => void;
  /** Claims and frees run slots in call order, in one transaction; a claim's result is whether it got one. */
  slotOps: (ops: readonly SlotOp[], now: number) => boolean[];
  renew: (owner: string, runIds: readonly string[], expiresAt: number) => void;
  remove: (id: string) => TaskRecord;
  removeAll: () => string[];
}

/**
 * Keeps tasks in an SQLite database. `persistent` (functions are stored by name, args as JSON) and `shared`
 * (several processes on one machine may use one database at once).
 * @example new Scheduler({ stores: { default: new SQLiteStore({ path: './data/tasks.db' }) }, functions: { report } })
 */
export class SQLiteStore implements TaskStore {
  readonly persistent = true;
  readonly shared = true;
  /** The database's absolute path. */
  readonly path: string;
  /** The busy timeout in ms. */
  readonly busyTimeoutMs: number;
  #open: OpenState | null = null;
  /** Run-slot changes waiting for this tick's transaction (`#batchSlotOp`). */
  #slotBatch: Array<{ op: SlotOp; resolve: (claimed: boolean) => void; reject: (error: unknown) => void }> =
    [];
  /** Rows known to be unreadable, by id, with the content they were found unreadable in. */
  #broken = new Map<string, string>();
  /** Owners that acquired tasks through this instance: their leases end at `close()`. */
  #owners = new Set<string>();
  #watchers = new Set<() => void>();

  /** Validates the options; loads nothing and touches no file until `start()`. */
  constructor(options: SQLiteStoreOptions) {
    if (!isPlainObject(options))
      throw new ValueError(
        `SQLiteStore: options must be an object like { path }, got ${describeValue(options)}`,
      );
    const { path, busyTimeout } = options;
    if (typeof path !== 'string' || path.trim() === '' || path.trim() === ':memory:') {
      throw new ValueError(
        `SQLiteStore: path must be a database file path, got ${describeValue(path)} (for tasks in memory use MemoryStore)`,
      );
    }
    this.path = resolve(path);
    this.busyTimeoutMs =
      busyTimeout === undefined
        ? DEFAULT_BUSY_TIMEOUT_MS
        : parseDuration(busyTimeout, 'SQLiteStore: busyTimeout');
  }

  /** Loads better-sqlite3, opens the database, and creates or migrates its schema; a bad file is a `SerializationError`. */
  async start(context: StoreContext): Promise<void> {
    if (this.#open !== null) return;
    const Driver = await loadDriver();
    await mkdir(dirname(this.path), { recursive: true });
    await checkHeader(this.path);
    let db: Database | null = null;
    try {
      db = new Driver(this.path, { timeout: this.busyTimeoutMs });
      checkOwnership(db, this.path);
      configure(db, this.path);
      migrate(db, this.path);
      this.#broken.clear();
      this.#open = this.#makeOpenState(db, context);
    } catch (error) {
      db?.close();
      throw asStoreError(error, this.path);
    }
  }

  /** Ends the task leases this instance's owners hold (parked tasks), stops watching, closes the database. */
  async close(): Promise<void> {
    for (const stop of [...this.#watchers]) stop();
    const open = this.#open;
    if (open === null) return;
    this.#open = null;
    try {
      if (this.#owners.size > 0) open.statements.endLeasesOf.run(JSON.stringify([...this.#owners]));
    } finally {
      this.#owners.clear();
      open.db.close();
    }
  }

  async addTask(record: TaskRecord, options: { replaceExisting: boolean }): Promise<void> {
    const { statements } = this.#state();
    const data = JSON.stringify(serializeTaskBody(record));
    const statement = options.replaceExisting ? statements.upsert : statements.insert;
    if (statement.run(record.id, record.nextRunTime, data).changes === 0)
      throw new ConflictingIdError(record.id, this.#alias);
  }

  async updateTask(record: TaskRecord): Promise<void> {
    const { statements } = this.#state();
    const data = JSON.stringify(serializeTaskBody(record));
    if (statements.update.run(record.nextRunTime, data, record.id).changes === 0)
      throw new TaskLookupError(record.id, this.#alias);
  }

  async removeTask(id: string): Promise<TaskRecord> {
    return this.#state().remove(id);
  }

  /** Removes every readable task; unreadable rows are kept (see the module comment). Reads every row. */
  async removeAllTasks(): Promise<string[]> {
    return this.#state().removeAll();
  }

  async getTask(id: string): Promise<TaskRecord | undefined> {
    const row = this.#state().statements.selectOne.get(id);
    return row === undefined ? undefined : (this.#readRow(row) ?? undefined);
  }

  /** Every readable task, sorted; reads every row. */
  async getTasks(): Promise<TaskRecord[]> {
    const records: TaskRecord[] = [];
    for (const row of this.#state().statements.selectAll.iterate()) {
      const record = this.#readRow(row);
      if (record !== null) records.push(record);
    }
    return records.sort(compareTaskRecords);
  }

  /** Reads at most a few rows through the indexes: the earliest unleased one and the leased ones. */
  async earliestWakeup(_owner: string): Promise<number | null> {
    const { statements } = this.#state();
    const scan = this.#broken.size + 1;
    const candidates = [
      this.#firstReadable(statements.earliestUnleased.all(scan)),
      this.#firstReadable(statements.earliestLeased.all(scan)),
    ];
    const times = candidates.filter((at): at is number => at !== null);
    return times.length === 0 ? null : Math.min(...times);
  }

  async acquireDueTasks({ owner, now, leaseMs, limit }: AcquireOptions): Promise<TaskRecord[]> {
    const open = this.#state();
    this.#owners.add(owner);
    return open.acquire(owner, now, leaseMs, limit);
  }

  /**
   * Ends `owner`'s leases, in one transaction. A release sets the next run time only if it is still the one
   * the task was acquired with: a change another process made meanwhile (a pause, a reschedule) wins.
   */
  async releaseTasks(owner: string, releases: readonly TaskRelease[]): Promise<void> {
    if (releases.length > 0) this.#state().release(owner, releases);
  }

  async claimRunSlot(claim: RunSlotClaim): Promise<boolean> {
    return this.#batchSlotOp({ claim });
  }

  async renewRunSlots(owner: string, runIds: readonly string[], expiresAt: number): Promise<void> {
    if (runIds.length > 0) this.#state().renew(owner, runIds, expiresAt);
  }

  async releaseRunSlot(runId: string): Promise<void> {
    await this.#batchSlotOp({ runId });
  }

  /**
   * Queues a run-slot change; the changes made in one tick (a burst of runs claiming or freeing slots) run in
   * call order in one transaction, and each caller hears back once it has committed.
   */
  #batchSlotOp(op: SlotOp): Promise<boolean> {
    const open = this.#state();
    return new Promise<boolean>((resolve, reject) => {
      this.#slotBatch.push({ op, resolve, reject });
      if (this.#slotBatch.length > 1) return;
      queueMicrotask(() => {
        const batch = this.#slotBatch.splice(0);
        let results: boolean[];
        try {
          results = open.slotOps(
            batch.map((entry) => entry.op),
            Date.now(),
          );
        } catch (error) {
          for (const entry of batch) entry.reject(error);
          return;
        }
        for (const [index, entry] of batch.entries()) entry.resolve(results[index] as boolean);
      });
    });
  }

  /**
   * Calls `listener` (debounced) when another connection commits, seen through `fs.watch` on the database's
   * directory (every commit writes the `-wal` file) and confirmed with `PRAGMA data_version`, which changes
   * only for other connections' commits, so this store's own writes are ignored. Like the scheduler's timer,
   * a watch keeps the process alive (a worker waiting for tasks another process adds) until it is stopped;
   * `close()` stops it too. Returns a function that stops watching.
   */
  watch(listener: () => void): () => void {
    const { db, context } = this.#state();
    const names = new Set([basename(this.path), `${basename(this.path)}-wal`]);
    let seen = dataVersion(db);
    let timer: NodeJS.Timeout | undefined;
    const check = () => {
      if (!db.open) return;
      const version = dataVersion(db);
      if (version === seen) return;
      seen = version;
      listener();
    };
    const watcher: FSWatcher = watchFs(dirname(this.path), (_event, filename) => {
      if (filename === null || !names.has(filename)) return;
      clearTimeout(timer);
      timer = setTimeout(check, WATCH_DEBOUNCE_MS);
      timer.unref();
    });
    watcher.on('error', (error) =>
      context.logger.warn({ err: error, path: this.path }, 'SQLiteStore: watching stopped'),
    );
    const stop = () => {
      clearTimeout(timer);
      watcher.close();
      this.#watchers.delete(stop);
    };
    this.#watchers.add(stop);
    return stop;
  }

  get #alias(): string {
    return this.#open?.context.alias ?? 'sqlite';
  }

  #state(): OpenState {
    if (this.#open === null) throw new KairosError(`SQLiteStore '${this.path}' is not started`);
    return this.#open;
  }

  /** The record a row holds, or null if it cannot be read back (reported once, remembered, never written). */
  #readRow(row: TaskRow): TaskRecord | null {
    const content = rowContent(row);
    if (this.#broken.get(row.id) === content) return null;
    try {
      if (typeof row.data !== 'string')
        throw new SerializationError(`task '${row.id}': its data is not text`);
      const nextRunTime = row.next_run_time as number | null;
      const record = deserializeTaskBody(parseTaskText(row.data, row.id), row.id, nextRunTime);
      this.#broken.delete(row.id);
      return record;
    } catch (error) {
      const reason =
        error instanceof SerializationError
          ? error
          : new SerializationError(`task '${row.id}': ${(error as Error).message}`);
      this.#broken.set(row.id, content);
      this.#open?.context.reportBrokenRecord(row.id, reason);
      return null;
    }
  }

  /**
   * Up to `limit` readable due rows, earliest first: asks the index for `limit` rows plus as many as are known
   * to be unreadable. `newlyBroken` counts rows this call found unreadable; `exhausted` is true when the index
   * had no more due rows to give.
   */
  #readDue(
    statements: Statements,
    now: number,
    limit: number,
  ): { records: TaskRecord[]; newlyBroken: number; exhausted: boolean } {
    const knownBroken = this.#broken.size;
    const rows = statements.selectDue.all({ now, limit: limit + knownBroken });
    const records: TaskRecord[] = [];
    for (const row of rows) {
      if (records.length >= limit) break;
      const record = this.#readRow(row);
      if (record !== null) records.push(record);
    }
    return {
      records,
      newlyBroken: this.#broken.size - knownBroken,
      exhausted: rows.length < limit + knownBroken,
    };
  }

  /** The wake-up time of the first readable row of an ordered candidate list. */
  #firstReadable(rows: readonly WakeupRow[]): number | null {
    for (const row of rows) {
      if (this.#broken.get(row.id) !== rowContent(row)) return row.at;
    }
    return null;
  }

  #makeOpenState(db: Database, context: StoreContext): OpenState {
    const statements = prepareStatements(db);
    const acquire = (owner: string, now: number, leaseMs: number, limit: number): TaskRecord[] => {
      let batch = this.#readDue(statements, now, limit);
      // Rows found unreadable just now took places in the batch: read it again, asking for as many more rows.
      while (batch.records.length < limit && batch.newlyBroken > 0 && !batch.exhausted) {
        batch = this.#readDue(statements, now, limit);
      }
      const { records } = batch;
      if (records.length > 0)
        statements.lease.run(owner, now + leaseMs, JSON.stringify(records.map((record) => record.id)));
      return records;
    };
    const release = (owner: string, releases: readonly TaskRelease[]): void => {
      for (const item of releases) {
        if ('holdUntil' in item) statements.hold.run(item.holdUntil, item.id, owner);
        else if (item.nextRunTime !== 'remove') statements.releaseTo.run(item.nextRunTime, item.id, owner);
        else if (statements.releaseRemove.run(item.id, owner).changes === 0)
          statements.endLease.run(item.id, owner);
      }
    };
    const slotOps = (ops: readonly SlotOp[], now: number): boolean[] => {
      if (ops.some((op) => op.claim !== undefined)) statements.pruneSlots.run(now);
      return ops.map(({ claim, runId }) => {
        if (claim === undefined) return statements.deleteSlot.run(runId).changes > 0;
        if ((statements.countSlots.get(claim.taskId, now) ?? 0) >= claim.maxInstances) return false;
        statements.insertSlot.run(claim.runId, claim.taskId, claim.owner, claim.expiresAt);
        return true;
      });
    };
    const renew = (owner: string, runIds: readonly string[], expiresAt: number): void => {
      for (const runId of runIds) statements.renewSlot.run(expiresAt, runId, owner);
    };
    const remove = (id: string): TaskRecord => {
      const row = statements.selectOne.get(id);
      if (row === undefined) throw new TaskLookupError(id, context.alias);
      const record = this.#readRow(row);
      if (record === null)
        throw new SerializationError(
          `task '${id}' in '${this.path}' cannot be read back; it is kept untouched`,
        );
      statements.deleteOne.run(id);
      return record;
    };
    const removeAll = (): string[] => {
      const removed: string[] = [];
      for (const row of statements.selectAll.all()) if (this.#readRow(row) !== null) removed.push(row.id);
      if (removed.length > 0) statements.deleteMany.run(JSON.stringify(removed));
      return removed;
    };
    return {
      db,
      statements,
      context,
      acquire: db.transaction(acquire).immediate,
      release: db.transaction(release).immediate,
      slotOps: db.transaction(slotOps).immediate,
      renew: db.transaction(renew).immediate,
      remove: db.transaction(remove).immediate,
      removeAll: db.transaction(removeAll).immediate,
    };
  }
}

/** Loads better-sqlite3 on demand; if it is missing, a `KairosError` that says how to install it. */
async function loadDriver(): Promise<DatabaseConstructor> {
  try {
    const module = (await import('better-sqlite3')) as { default: DatabaseConstructor };
    return module.default;
  } catch (error) {
    throw new KairosError(
      `SQLiteStore needs the optional peer dependency 'better-sqlite3', which could not be loaded ` +
        `(${(error as Error).message}). Install it with: npm install better-sqlite3`,
      { cause: error },
    );
  }
}

/** Refuses an existing non-empty file that is not an SQLite database, before SQLite opens (and could write) it. */
async function checkHeader(path: string): Promise<void> {
  const handle = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (handle === null) return;
  try {
    const header = Buffer.alloc(SQLITE_HEADER.length);
    const { bytesRead } = await handle.read(header, 0, header.length, 0);
    if (bytesRead === 0) return;
    if (bytesRead < header.length || header.toString('latin1') !== SQLITE_HEADER) {
      throw new SerializationError(
        `SQLiteStore: '${path}' is not an SQLite database (corrupt or a foreign file); it is left untouched`,
      );
    }
  } finally {
    await handle.close();
  }
}

/** WAL journal and durability settings; the busy timeout is set by the constructor option. */
function configure(db: Database, path: string): void {
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (mode !== 'wal')
    throw new KairosError(
      `SQLiteStore: '${path}' cannot use WAL journaling (journal_mode is ${describeValue(mode)})`,
    );
  db.pragma('synchronous = NORMAL');
}

/**
 * Refuses a database that is neither empty nor a kairos one of a schema version this release knows. Reads
 * only, so a refused file is left as it was. Returns the schema version (0 for an empty database).
 */
function checkOwnership(db: Database, path: string): number {
  const applicationId = db.pragma('application_id', { simple: true }) as number;
  const version = db.pragma('user_version', { simple: true }) as number;
  if (applicationId === 0 && version === 0) {
    const tables = db
      .prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table'")
      .pluck()
      .get() as number;
    if (tables > 0) {
      throw new SerializationError(
        `SQLiteStore: '${path}' holds tables of another application; kairos needs a database file of its own. It is left untouched`,
      );
    }
  } else if (applicationId !== SQLITE_APPLICATION_ID) {
    throw new SerializationError(
      `SQLiteStore: '${path}' is not a kairos database (application_id ${applicationId}); it is left untouched`,
    );
  } else if (version > SQLITE_SCHEMA_VERSION) {
    throw new SerializationError(
      `SQLiteStore: '${path}' has schema version ${version}, written by a newer kairos (this one knows up to ${SQLITE_SCHEMA_VERSION}); it is left untouched`,
    );
  }
  return version;
}

/** Creates the schema of an empty database or migrates an older one, in one transaction (checked again inside it). */
function migrate(db: Database, path: string): void {
  db.transaction(() => {
    const version = checkOwnership(db, path);
    if (version === SQLITE_SCHEMA_VERSION) return;
    for (let from = version; from < SQLITE_SCHEMA_VERSION; from++) db.exec(MIGRATIONS[from] as string);
    db.pragma(`application_id = ${SQLITE_APPLICATION_ID}`);
    db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION}`);
  }).immediate();
}

const TASK_COLUMNS = 'id, next_run_time, data';
const END_LEASE = 'lease_owner = NULL, lease_expires_at = NULL, lease_run_time = NULL, lease_held = 0';
/** A new version of a task ends a hold on it (it changed, so it is worth trying again); a lease stays. */
const END_HOLD =
  'lease_owner = iif(lease_held, NULL, lease_owner), lease_expires_at = iif(lease_held, NULL, lease_expires_at), ' +
  'lease_run_time = iif(lease_held, NULL, lease_run_time), lease_held = 0';
const IDS = 'SELECT value FROM json_each(?)';

/** Prepares every statement the store runs; the due queries name their index, so they can never scan the table. */
function prepareStatements(db: Database): Statements {
  return {
    insert: db.prepare(
      `INSERT INTO kairos_tasks (${TASK_COLUMNS}) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`,
    ),
    upsert: db.prepare(
      `INSERT INTO kairos_tasks (${TASK_COLUMNS}) VALUES (?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET next_run_time = excluded.next_run_time, data = excluded.data, ${END_HOLD}`,
    ),
    update: db.prepare(`UPDATE kairos_tasks SET next_run_time = ?, data = ?, ${END_HOLD} WHERE id = ?`),
    selectOne: db.prepare<[string], TaskRow>(`SELECT ${TASK_COLUMNS} FROM kairos_tasks WHERE id = ?`),
    selectAll: db.prepare<[], TaskRow>(`SELECT ${TASK_COLUMNS} FROM kairos_tasks`),
    deleteOne: db.prepare('DELETE FROM kairos_tasks WHERE id = ?'),
    deleteMany: db.prepare(`DELETE FROM kairos_tasks WHERE id IN (${IDS})`),
    earliestUnleased: db.prepare<[number], WakeupRow>(
      `SELECT ${TASK_COLUMNS}, next_run_time AS at FROM kairos_tasks INDEXED BY kairos_tasks_due
       WHERE lease_owner IS NULL AND next_run_time IS NOT NULL ORDER BY next_run_time, id LIMIT ?`,
    ),
    earliestLeased: db.prepare<[number], WakeupRow>(
      `SELECT ${TASK_COLUMNS}, max(next_run_time, lease_expires_at) AS at FROM kairos_tasks INDEXED BY kairos_tasks_leased
       WHERE lease_owner IS NOT NULL AND next_run_time IS NOT NULL ORDER BY at, id LIMIT ?`,
    ),
    selectDue: db.prepare<{ now: number; limit: number }, TaskRow>(
      `SELECT ${TASK_COLUMNS} FROM (
         SELECT ${TASK_COLUMNS} FROM kairos_tasks INDEXED BY kairos_tasks_due
         WHERE lease_owner IS NULL AND next_run_time IS NOT NULL AND next_run_time <= :now
         ORDER BY next_run_time, id LIMIT :limit)
       UNION ALL
       SELECT ${TASK_COLUMNS} FROM (
         SELECT ${TASK_COLUMNS} FROM kairos_tasks INDEXED BY kairos_tasks_leased
         WHERE lease_owner IS NOT NULL AND lease_expires_at <= :now AND next_run_time IS NOT NULL AND next_run_time <= :now
         ORDER BY next_run_time, id LIMIT :limit)
       ORDER BY next_run_time, id LIMIT :limit`,
    ),
    lease: db.prepare(
      `UPDATE kairos_tasks SET lease_owner = ?, lease_expires_at = ?, lease_run_time = next_run_time, lease_held = 0
       WHERE id IN (${IDS})`,
    ),
    hold: db.prepare(
      'UPDATE kairos_tasks SET lease_expires_at = ?, lease_held = 1 WHERE id = ? AND lease_owner = ?',
    ),
    releaseTo: db.prepare(
      `UPDATE kairos_tasks SET next_run_time = CASE WHEN next_run_time IS lease_run_time THEN ? ELSE next_run_time END, ${END_LEASE}
       WHERE id = ? AND lease_owner = ?`,
    ),
    releaseRemove: db.prepare(
      'DELETE FROM kairos_tasks WHERE id = ? AND lease_owner = ? AND next_run_time IS lease_run_time',
    ),
    endLease: db.prepare(`UPDATE kairos_tasks SET ${END_LEASE} WHERE id = ? AND lease_owner = ?`),
    endLeasesOf: db.prepare(`UPDATE kairos_tasks SET ${END_LEASE} WHERE lease_owner IN (${IDS})`),
    pruneSlots: db.prepare('DELETE FROM kairos_run_slots WHERE expires_at <= ?'),
    countSlots: db
      .prepare<[string, number], number>(
        'SELECT count(*) FROM kairos_run_slots WHERE task_id = ? AND expires_at > ?',
      )
      .pluck(),
    insertSlot: db.prepare(
      'INSERT INTO kairos_run_slots (run_id, task_id, owner, expires_at) VALUES (?, ?, ?, ?)',
    ),
    renewSlot: db.prepare('UPDATE kairos_run_slots SET expires_at = ? WHERE run_id = ? AND owner = ?'),
    deleteSlot: db.prepare('DELETE FROM kairos_run_slots WHERE run_id = ?'),
  };
}

/** What a row holds, as one string: a broken row is skipped only while this stays the same. */
function rowContent(row: TaskRow): string {
  return `${String(row.next_run_time)}\u0000${typeof row.data === 'string' ? row.data : `<${typeof row.data}>`}`;
}

/** `PRAGMA data_version`: changes when another connection commits. */
function dataVersion(db: Database): number {
  return db.pragma('data_version', { simple: true }) as number;
}

/** SQLite's "not a database" and "corrupt" errors at start become a `SerializationError` naming the file. */
function asStoreError(error: unknown, path: string): unknown {
  const code = (error as { code?: unknown }).code;
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new SerializationError(
      `SQLiteStore: '${path}' is corrupt or not a database (${(error as Error).message}); it is left untouched`,
      {
        cause: error,
      },
    );
  }
  return error;
}
