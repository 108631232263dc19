/**
 * `SQLiteStore`: tasks in an SQLite database through better-sqlite3 (an optional peer dependency, loaded by
 * `start()`, never by importing kairos).
 *
 * - WAL journal, `synchronous = NORMAL` (a process crash loses nothing; a power loss may lose the last
 *   commits): several processes on one machine may share the file.
 * - better-sqlite3 is synchronous, so SQLite's own busy wait would stop the event loop while another process
 *   holds the write lock. The driver's busy timeout is a few ms; past it, a transaction is tried again after
 *   `setTimeout` delays (the event loop runs meanwhile) until `busyTimeout`, then fails naming the file. A
 *   transaction that gets the lock at once runs synchronously, as before: no timer, no extra promise.
 * - Every write transaction first checks that the path still names the file that was opened: a database
 *   deleted or replaced while the store runs would otherwise take writes into an unlinked file, and lose them.
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
import { type FSWatcher, statSync, watch as watchFs } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type BetterSqlite3 from 'better-sqlite3';
import {
  ConflictingIdError,
  KairosError,
  SerializationError,
  TaskLookupError,
  ValueError,
} from '../src/errors.js';
import { deserializeTaskBody, parseTaskText, serializeTaskBody } from '../src/serialization.js';
import {
  type AcquireOptions,
  compareTaskRecords,
  type RunSlotClaim,
  type StoreContext,
  type TaskChange,
  type TaskRecord,
  type TaskRelease,
  type TaskStore,
} from '../src/store.js';
import { type DurationInput, describeValue, parseDuration } from '../src/time.js';
import { checkStoreOptions, describeIoError, prepareStorePath } from './support.js';

/** Options of `new SQLiteStore()`. */
export interface SQLiteStoreOptions {
  /** The database file; created (with its directory) at `start()` if missing. */
  path: string;
  /**
   * How long a transaction waits for another connection's write lock (a process in a long or stuck write)
   * before failing with a `KairosError` that says the database is locked. The wait is asynchronous: the
   * event loop, and so every other store and timer, keeps running. @default 5000 ms
   */
  busyTimeout?: DurationInput;
}

/** `PRAGMA application_id` of a kairos database ('kair'). */
export const SQLITE_APPLICATION_ID = 0x6b616972;
/** The schema version (`PRAGMA user_version`) this release creates; older ones are migrated at `start()`. */
export const SQLITE_SCHEMA_VERSION = 1;

const OPTION_KEYS: ReadonlySet<string> = new Set(['path', 'busyTimeout']);
const DEFAULT_BUSY_TIMEOUT_MS = 5000;
/**
 * SQLite's own busy wait, which blocks the event loop: just enough for the lock to change hands between two
 * quick transactions of other processes. Longer waits are `busyTimeout`'s, asynchronous.
 */
const DRIVER_BUSY_TIMEOUT_MS = 2;
/** First and largest delay between two tries of a transaction that found the database locked. */
const BUSY_RETRY_FIRST_MS = 2;
const BUSY_RETRY_MAX_MS = 50;
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

/** A task row with its lease. */
interface LeasedTaskRow extends TaskRow {
  lease_owner: string | null;
  lease_run_time: number | null;
  lease_held: number;
}

/** A row with the instant at which it could next be acquired. */
interface WakeupRow extends TaskRow {
  at: number;
}

/** The prepared statements, made once per `start()`. */
interface Statements {
  insert: BetterSqlite3.Statement<[string, number | null, string]>;
  update: BetterSqlite3.Statement<[number | null, string, string]>;
  selectOne: BetterSqlite3.Statement<[string], TaskRow>;
  selectLeased: BetterSqlite3.Statement<[string], LeasedTaskRow>;
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

/** The device and inode a path named when the database was opened. */
interface FileIdentity {
  dev: number;
  ino: number;
}

/** How a statement waits for a lock another connection holds (see `runWhileBusy`). */
interface BusyWait {
  path: string;
  timeoutMs: number;
  /** False once the connection the statement runs on is closed (or replaced): the wait then ends. */
  alive: () => boolean;
}

/** Everything that exists only while the store is open. */
interface OpenState {
  db: Database;
  statements: Statements;
  context: StoreContext;
  /** The file opened, which every write checks the path still names. */
  file: FileIdentity;
  busy: BusyWait;
  /** Leases `owner` up to `limit` due rows; one transaction. */
  acquire: (owner: string, now: number, leaseMs: number, limit: number) => TaskRecord[];
  release: (owner: string, releases: readonly TaskRelease[]) => string[];
  /** Applies a change to one task (see `TaskStore.updateTask`). */
  update: (id: string, change: TaskChange) => TaskRecord;
  /** Claims and frees run slots in call order, in one transaction; a claim's result is whether it got one. */
  slotOps: (ops: readonly SlotOp[], now: number) => boolean[];
  renew: (owner: string, runIds: readonly string[], expiresAt: number) => void;
  remove: (id: string) => TaskRecord;
  removeAll: () => string[];
}

/** A queued run-slot change and its caller. */
interface SlotEntry {
  op: SlotOp;
  resolve: (claimed: boolean) => void;
  reject: (error: unknown) => void;
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
  /** Run-slot changes waiting for the next batch's transaction (`#batchSlotOp`). */
  #slotBatch: SlotEntry[] = [];
  /** True from the moment a batch is due (queued microtask) until its transaction settled. */
  #slotBatchPending = false;
  /** Rows known to be unreadable, by id, with the content they were found unreadable in. */
  #broken = new Map<string, string>();
  /** Owners that acquired tasks through this instance: their leases end at `close()`. */
  #owners = new Set<string>();
  #watchers = new Set<() => void>();

  /**
   * Validates the options; loads nothing and touches no file until `start()`.
   * @throws ValueError naming the bad value: a non-object, an unknown option, a bad path or busy timeout.
   */
  constructor(options: SQLiteStoreOptions) {
    checkStoreOptions(options, OPTION_KEYS, 'SQLiteStore');
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

  /**
   * Loads better-sqlite3, checks the path (a directory or a path under a file: `ValueError`; a directory or file
   * that cannot be written: `KairosError`), opens the database, and creates or migrates its schema; a bad
   * file is a `SerializationError`. All of them name the path.
   */
  async start(context: StoreContext): Promise<void> {
    if (this.#open !== null) return;
    const Driver = await loadDriver();
    await prepareStorePath(this.path, {
      store: 'SQLiteStore',
      replacesByRename: false,
      companions: [`${this.path}-wal`, `${this.path}-shm`],
    });
    await checkHeader(this.path);
    let db: Database | null = null;
    try {
      const opened = new Driver(this.path, { timeout: Math.min(DRIVER_BUSY_TIMEOUT_MS, this.busyTimeoutMs) });
      db = opened;
      const busy = { path: this.path, timeoutMs: this.busyTimeoutMs, alive: () => opened.open };
      await runWhileBusy(() => {
        checkOwnership(opened, this.path);
        configure(opened, this.path);
        migrate(opened, this.path);
      }, busy);
      this.#broken.clear();
      this.#open = this.#makeOpenState(opened, context, openedFile(this.path));
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
      if (this.#owners.size > 0) {
        const owners = JSON.stringify([...this.#owners]);
        await runWhileBusy(() => open.statements.endLeasesOf.run(owners), {
          ...open.busy,
          alive: () => open.db.open,
        });
      }
    } finally {
      this.#owners.clear();
      open.db.close();
    }
  }

  async addTask(record: TaskRecord): Promise<void> {
    const open = this.#state();
    const data = JSON.stringify(serializeTaskBody(record));
    return this.#write(open, () => {
      if (open.statements.insert.run(record.id, record.nextRunTime, data).changes === 0)
        throw new ConflictingIdError(record.id, this.#alias);
    });
  }

  /** Reads, changes and writes the task in one `BEGIN IMMEDIATE` transaction. */
  async updateTask(id: string, change: TaskChange): Promise<TaskRecord> {
    const open = this.#state();
    return this.#write(open, () => open.update(id, change));
  }

  async removeTask(id: string): Promise<TaskRecord> {
    const open = this.#state();
    return this.#write(open, () => open.remove(id));
  }

  /** Removes every readable task; unreadable rows are kept (see the module comment). Reads every row. */
  async removeAllTasks(): Promise<string[]> {
    const open = this.#state();
    return this.#write(open, open.removeAll);
  }

  async getTask(id: string): Promise<TaskRecord | undefined> {
    const open = this.#state();
    return this.#read(open, () => {
      const row = open.statements.selectOne.get(id);
      return row === undefined ? undefined : (this.#readRow(row) ?? undefined);
    });
  }

  /** Every readable task, sorted; reads every row. */
  async getTasks(): Promise<TaskRecord[]> {
    const open = this.#state();
    return this.#read(open, () => {
      const records: TaskRecord[] = [];
      for (const row of open.statements.selectAll.iterate()) {
        const record = this.#readRow(row);
        if (record !== null) records.push(record);
      }
      return records.sort(compareTaskRecords);
    });
  }

  /** Reads at most a few rows through the indexes: the earliest unleased one and the leased ones. */
  async earliestWakeup(_owner: string): Promise<number | null> {
    const open = this.#state();
    return this.#read(open, () => {
      const { statements } = open;
      const scan = this.#broken.size + 1;
      const unleased = this.#firstReadable(statements.earliestUnleased.all(scan));
      const leased = this.#firstReadable(statements.earliestLeased.all(scan));
      if (unleased === null) return leased;
      return leased === null ? unleased : Math.min(unleased, leased);
    });
  }

  async acquireDueTasks({ owner, now, leaseMs, limit }: AcquireOptions): Promise<TaskRecord[]> {
    const open = this.#state();
    this.#owners.add(owner);
    return this.#write(open, () => open.acquire(owner, now, leaseMs, limit));
  }

  /**
   * Ends `owner`'s leases, in one transaction. A release sets the next run time only if it is still the one
   * the task was acquired with: a change another process made meanwhile (a pause, a reschedule) wins.
   */
  async releaseTasks(owner: string, releases: readonly TaskRelease[]): Promise<string[]> {
    if (releases.length === 0) return [];
    const open = this.#state();
    return this.#write(open, () => open.release(owner, releases));
  }

  async claimRunSlot(claim: RunSlotClaim): Promise<boolean> {
    return this.#batchSlotOp({ claim });
  }

  async renewRunSlots(owner: string, runIds: readonly string[], expiresAt: number): Promise<void> {
    if (runIds.length === 0) return;
    const open = this.#state();
    return this.#write(open, () => open.renew(owner, runIds, expiresAt));
  }

  async releaseRunSlot(runId: string): Promise<void> {
    await this.#batchSlotOp({ runId });
  }

  /**
   * Queues a run-slot change; the changes made in one tick (a burst of runs claiming or freeing slots) run in
   * call order in one transaction, and each caller hears back once it has committed. While a batch waits for
   * the lock, later changes gather into the next batch, which runs after it: call order is kept.
   */
  #batchSlotOp(op: SlotOp): Promise<boolean> {
    this.#state();
    return new Promise<boolean>((resolve, reject) => {
      this.#slotBatch.push({ op, resolve, reject });
      if (this.#slotBatchPending) return;
      this.#slotBatchPending = true;
      queueMicrotask(() => this.#flushSlotBatch());
    });
  }

  /** Runs the queued run-slot changes in one transaction; runs the next batch when this one has settled. */
  #flushSlotBatch(): void {
    const batch = this.#slotBatch.splice(0);
    const open = this.#open;
    let outcome: boolean[] | Promise<boolean[]>;
    try {
      if (open === null) throw this.#notStarted();
      const ops = batch.map((entry) => entry.op);
      outcome = this.#write(open, () => open.slotOps(ops, Date.now()));
    } catch (error) {
      this.#settleSlotBatch(batch, error, null);
      return;
    }
    if (!(outcome instanceof Promise)) {
      this.#settleSlotBatch(batch, null, outcome);
      return;
    }
    outcome.then(
      (results) => this.#settleSlotBatch(batch, null, results),
      (error: unknown) => this.#settleSlotBatch(batch, error, null),
    );
  }

  /** Answers a batch's callers, then starts the batch that gathered meanwhile, if any. */
  #settleSlotBatch(batch: readonly SlotEntry[], error: unknown, results: readonly boolean[] | null): void {
    for (const [index, entry] of batch.entries()) {
      if (results === null) entry.reject(error);
      else entry.resolve(results[index] as boolean);
    }
    if (this.#slotBatch.length > 0) queueMicrotask(() => this.#flushSlotBatch());
    else this.#slotBatchPending = false;
  }

  /**
   * Runs a write (a transaction, or one statement) on the open database. It first checks that the path still
   * names the file that was opened (one `stat`), then runs; if another connection holds the write lock, it is
   * tried again asynchronously (see `runWhileBusy`). Synchronous when the lock is free: no timer, no promise.
   */
  #write<T>(open: OpenState, run: () => T): T | Promise<T> {
    return runWhileBusy(() => {
      checkSameFile(open.file, this.path);
      return run();
    }, open.busy);
  }

  /** Runs a read on the open database; like `#write`, without the file check (reads never lose data). */
  #read<T>(open: OpenState, run: () => T): T | Promise<T> {
    return runWhileBusy(run, open.busy);
  }

  /**
   * Calls `listener` (debounced) when another connection commits, seen through `fs.watch` on the database's
   * directory (every commit writes the `-wal` file) and confirmed with `PRAGMA data_version`, which changes
   * only for other connections' commits, so this store's own writes are ignored. Like the scheduler's timer,
   * a watch keeps the process alive (a worker waiting for tasks another process adds) until it is stopped;
   * `close()` stops it too. Returns a function that stops watching.
   */
  watch(listener: () => void): () => void {
    const { db, context, file } = this.#state();
    const names = new Set([basename(this.path), `${basename(this.path)}-wal`]);
    let seen = dataVersion(db);
    let timer: NodeJS.Timeout | undefined;
    let lost = false;
    const check = () => {
      if (!db.open) return;
      try {
        checkSameFile(file, this.path);
        const version = dataVersion(db);
        if (version === seen) return;
        seen = version;
      } catch (error) {
        // A deleted or replaced file is said at once, not only at the next write; an error is never thrown
        // out of a timer callback.
        if (!lost) context.logger.error({ err: error, path: this.path }, 'SQLiteStore: watching');
        lost = true;
        return;
      }
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
    if (this.#open === null) throw this.#notStarted();
    return this.#open;
  }

  #notStarted(): KairosError {
    return new KairosError(`SQLiteStore '${this.path}' is not started`);
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

  #makeOpenState(db: Database, context: StoreContext, file: FileIdentity): OpenState {
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
    const release = (owner: string, releases: readonly TaskRelease[]): string[] => {
      const released: string[] = [];
      for (const item of releases) {
        let held: boolean;
        if ('holdUntil' in item) held = statements.hold.run(item.holdUntil, item.id, owner).changes > 0;
        else if (item.nextRunTime !== 'remove')
          held = statements.releaseTo.run(item.nextRunTime, item.id, owner).changes > 0;
        else
          held =
            statements.releaseRemove.run(item.id, owner).changes > 0 ||
            statements.endLease.run(item.id, owner).changes > 0;
        if (held) released.push(item.id);
      }
      return released;
    };
    const update = (id: string, change: TaskChange): TaskRecord => {
      const row = statements.selectLeased.get(id);
      if (row === undefined) throw new TaskLookupError(id, context.alias);
      const current = this.#readRow(row);
      if (current === null)
        throw new SerializationError(
          `task '${id}' in '${this.path}' cannot be read back; it is kept untouched`,
        );
      const leasedRunTime = row.lease_owner !== null && row.lease_held === 0 ? row.lease_run_time : null;
      const updated = change(current, { leasedRunTime });
      if (updated === current) return current;
      const data = JSON.stringify(serializeTaskBody(updated));
      statements.update.run(updated.nextRunTime, data, id);
      return updated;
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
    const state: OpenState = {
      db,
      statements,
      context,
      file,
      busy: { path: this.path, timeoutMs: this.busyTimeoutMs, alive: () => this.#open === state },
      acquire: db.transaction(acquire).immediate,
      release: db.transaction(release).immediate,
      update: db.transaction(update).immediate,
      slotOps: db.transaction(slotOps).immediate,
      renew: db.transaction(renew).immediate,
      remove: db.transaction(remove).immediate,
      removeAll: db.transaction(removeAll).immediate,
    };
    return state;
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
    update: db.prepare(`UPDATE kairos_tasks SET next_run_time = ?, data = ?, ${END_HOLD} WHERE id = ?`),
    selectOne: db.prepare<[string], TaskRow>(`SELECT ${TASK_COLUMNS} FROM kairos_tasks WHERE id = ?`),
    selectLeased: db.prepare<[string], LeasedTaskRow>(
      `SELECT ${TASK_COLUMNS}, lease_owner, lease_run_time, lease_held FROM kairos_tasks WHERE id = ?`,
    ),
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

/**
 * Names the file in SQLite's errors: "not a database" and "corrupt" become a `SerializationError`, any other
 * SQLite error (I/O, read-only, disk full) a `KairosError`, each with the driver's error as `cause`. Other
 * errors (kairos' own, a failing task change) pass unchanged.
 */
function asStoreError(error: unknown, path: string): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return error;
  const message = (error as Error).message;
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new SerializationError(
      `SQLiteStore: '${path}' is corrupt or not a database (${message}); it is left untouched`,
      { cause: error },
    );
  }
  return new KairosError(`SQLiteStore: '${path}': ${message} (${code})`, { cause: error });
}

// ---- waiting for another connection's lock; the file under the path ----

/** True for SQLite's "another connection holds a lock" errors (`SQLITE_BUSY*`, `SQLITE_LOCKED*`). */
function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/**
 * Runs `run` now; if the database is locked by another connection, tries it again after growing `setTimeout`
 * delays (the event loop runs meanwhile) until `busyTimeout` has passed, then fails with a `KairosError` that
 * says the database is locked. `run` must be a whole transaction or one statement, so that a try that failed
 * left nothing behind. Returns synchronously when the first try succeeds or fails otherwise.
 */
function runWhileBusy<T>(run: () => T, wait: BusyWait): T | Promise<T> {
  try {
    return run();
  } catch (error) {
    if (!isBusy(error)) throw asStoreError(error, wait.path);
    return retryWhileBusy(run, wait, error);
  }
}

async function retryWhileBusy<T>(run: () => T, wait: BusyWait, firstError: unknown): Promise<T> {
  // The first try already waited the driver's own busy timeout.
  const deadline = Date.now() + wait.timeoutMs - DRIVER_BUSY_TIMEOUT_MS;
  let lastError = firstError;
  let delay = BUSY_RETRY_FIRST_MS;
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      throw new KairosError(
        `SQLiteStore: the database '${wait.path}' is locked: another connection (a process in a long or stuck write transaction) held its lock for all of busyTimeout (${wait.timeoutMs} ms)`,
        { cause: lastError },
      );
    }
    await sleep(Math.min(delay, remaining));
    delay = Math.min(delay * 2, BUSY_RETRY_MAX_MS);
    if (!wait.alive())
      throw new KairosError(`SQLiteStore '${wait.path}' was closed while waiting for its lock`, {
        cause: lastError,
      });
    try {
      return run();
    } catch (error) {
      if (!isBusy(error)) throw asStoreError(error, wait.path);
      lastError = error;
    }
  }
}

/** The device and inode `path` names now (right after the database was opened there). */
function openedFile(path: string): FileIdentity {
  const { dev, ino } = statSync(path);
  return { dev, ino };
}

/**
 * Throws if `path` no longer names the file that was opened: deleted (with its directory or not) or replaced.
 * SQLite would go on writing to the open, unlinked file, and every write would be lost at the next start.
 */
function checkSameFile(opened: FileIdentity, path: string): void {
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(path, { throwIfNoEntry: false });
  } catch (error) {
    // ENOTDIR: a directory of the path was replaced by a file, so the database file is gone too.
    if ((error as NodeJS.ErrnoException).code !== 'ENOTDIR')
      throw new KairosError(
        `SQLiteStore: cannot check the database file '${path}' (${describeIoError(error)})`,
        {
          cause: error,
        },
      );
    stats = undefined;
  }
  if (stats === undefined) {
    throw new KairosError(
      `SQLiteStore: the database file '${path}' was deleted while the store was open; writes are refused, as they would go to the deleted file and be lost. Restore the file, or restart the store to create a new one`,
    );
  }
  if (stats.ino !== opened.ino || stats.dev !== opened.dev) {
    throw new KairosError(
      `SQLiteStore: the database file '${path}' was replaced by another file while the store was open; writes are refused, as they would go to the replaced file and be lost. Restart the store to open the new file`,
    );
  }
}
