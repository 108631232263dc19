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
 * - The run history is in `kairos_runs` (bounded per task, read through its indexes), the run-now requests of the
 *   `kairos` command in `kairos_run_requests`.
 * - A watch reports only the commits other processes need to hear of: triggers count the changes to tasks and the
 *   requests made in `kairos_revision`, which run history and run-slot writes leave as it is.
 * - The schema has a version (`PRAGMA user_version`) and an application id (`PRAGMA application_id`);
 *   `start()` migrates an older schema and refuses a foreign, newer or corrupt database, naming the file.
 * - A row that cannot be read back is reported once and kept untouched: this process remembers its id and
 *   content in memory and leaves it out of due queries until the row changes (nothing is written to it).
 *
 * This file is the store class. Its parts, internal: the schema, migrations and prepared statements in
 * sqlite-schema.ts, the reads and write transactions in sqlite-table.ts, the run history in sqlite-history.ts,
 * the run-now requests in sqlite-requests.ts, the busy retry in sqlite-locking.ts,
 * the checks of the database file in sqlite-file.ts; what it shares with `FileStore` (path checks, watch,
 * unreadable records, leases ended at close) in support/.
 */
import { basename, resolve } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { KairosError, ValueError } from '../src/errors.js';
import type { RunNowRequest, RunQuery, StoredRunRecord } from '../src/history.js';
import { serializeTaskBody } from '../src/serialization.js';
import type {
  AcquireOptions,
  AfterTriggerEntry,
  RunSlotAnswer,
  RunSlotClaim,
  SharedTaskStore,
  StoreContext,
  TaskChange,
  TaskRecord,
  TaskRelease,
} from '../src/store.js';
import { type DurationInput, parseDuration } from '../src/time.js';
import { describeValue } from '../src/validate.js';
import { checkHeader, checkSameFile, type FileIdentity, openedFile } from './sqlite-file.js';
import { RunHistory } from './sqlite-history.js';
import { asStoreError, type BusyWait, DRIVER_BUSY_TIMEOUT_MS, runWhileBusy } from './sqlite-locking.js';
import { RunRequestTable } from './sqlite-requests.js';
import { checkOwnership, configure, type Database, migrate } from './sqlite-schema.js';
import { TaskTable } from './sqlite-table.js';
import { checkStoreOptions, notStartedError } from './support/guards.js';
import { LeaseOwners } from './support/lease-owners.js';
import { storedText } from './support/run-records.js';
import { SlotBatcher } from './support/slot-batch.js';
import { prepareStorePath } from './support/store-path.js';
import { StoreWatches } from './support/watch.js';

export { SQLITE_APPLICATION_ID, SQLITE_SCHEMA_VERSION } from './sqlite-schema.js';

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

const OPTION_KEYS: ReadonlySet<string> = new Set(['path', 'busyTimeout']);
const DEFAULT_BUSY_TIMEOUT_MS = 5000;

type DatabaseConstructor = typeof BetterSqlite3;

/** Everything that exists only while the store is open. */
interface OpenState {
  db: Database;
  /** What the store reads and writes in the database. */
  table: TaskTable;
  history: RunHistory;
  requests: RunRequestTable;
  context: StoreContext;
  /** The file opened, which every write checks the path still names. */
  file: FileIdentity;
  busy: BusyWait;
}

/**
 * Keeps tasks in an SQLite database. `persistent` (functions are stored by name, args as JSON) and `shared`
 * (several processes on one machine may use one database at once).
 * @example new Scheduler({ stores: { default: new SQLiteStore({ path: './data/tasks.db' }) }, functions: { report } })
 */
export class SQLiteStore implements SharedTaskStore {
  readonly persistent = true;
  readonly shared = true;
  /** The database's absolute path. */
  readonly path: string;
  /** The busy timeout in ms. */
  readonly busyTimeoutMs: number;
  #open: OpenState | null = null;
  /** Run-slot changes made in one tick, applied in one transaction. */
  readonly #slots = new SlotBatcher((ops) => {
    const open = this.#state();
    return this.#write(open, () => open.table.slotOps(ops, Date.now()));
  });
  /** Owners that acquired tasks through this instance: their leases end at `close()`. */
  readonly #owners = new LeaseOwners();
  readonly #watches = new StoreWatches();

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
      const file = openedFile(this.path);
      const state: OpenState = {
        db: opened,
        table: new TaskTable(opened, context, this.path),
        history: new RunHistory(opened, context),
        requests: new RunRequestTable(opened, context),
        context,
        file,
        busy: { path: this.path, timeoutMs: this.busyTimeoutMs, alive: () => this.#open === state },
      };
      this.#open = state;
    } catch (error) {
      db?.close();
      throw asStoreError(error, this.path);
    }
  }

  /** Ends the task leases this instance's owners hold (parked tasks), stops watching, closes the database. */
  async close(): Promise<void> {
    this.#watches.stopAll();
    const open = this.#open;
    if (open === null) return;
    this.#open = null;
    try {
      await this.#owners.close(async (owners) => {
        if (owners.size === 0) return;
        await runWhileBusy(() => open.table.endLeasesOf(owners), { ...open.busy, alive: () => open.db.open });
      });
    } finally {
      open.db.close();
    }
  }

  async addTask(record: TaskRecord): Promise<void> {
    const open = this.#state();
    const data = JSON.stringify(serializeTaskBody(record));
    return this.#write(open, () => open.table.insert(record, data));
  }

  /** Reads, changes and writes the task in one `BEGIN IMMEDIATE` transaction. */
  async updateTask(id: string, change: TaskChange): Promise<TaskRecord> {
    const open = this.#state();
    return this.#write(open, () => open.table.update(id, change));
  }

  async removeTask(id: string): Promise<TaskRecord> {
    const open = this.#state();
    return this.#write(open, () => open.table.remove(id));
  }

  /** Removes every readable task; unreadable rows are kept (see the module comment). Reads every row. */
  async removeAllTasks(): Promise<string[]> {
    const open = this.#state();
    return this.#write(open, open.table.removeAll);
  }

  async getTask(id: string): Promise<TaskRecord | undefined> {
    const open = this.#state();
    return this.#read(open, () => open.table.get(id));
  }

  /** Every readable task, sorted; reads every row. */
  async getTasks(): Promise<TaskRecord[]> {
    const open = this.#state();
    return this.#read(open, () => open.table.all());
  }

  /** Reads at most a few rows through the indexes: the earliest unleased one and the leased ones. */
  async earliestWakeup(_owner: string): Promise<number | null> {
    const open = this.#state();
    return this.#read(open, () => open.table.earliestWakeup());
  }

  async acquireDueTasks({ owner, now, leaseMs, limit }: AcquireOptions): Promise<TaskRecord[]> {
    const open = this.#state();
    this.#owners.add(owner);
    return this.#write(open, () => open.table.acquire(owner, now, leaseMs, limit));
  }

  /**
   * Ends `owner`'s leases, in one transaction. A release sets the next run time only if it is still the one
   * the task was acquired with: a change another process made meanwhile (a pause, a reschedule) wins.
   */
  async releaseTasks(owner: string, releases: readonly TaskRelease[]): Promise<string[]> {
    if (releases.length === 0) return [];
    const open = this.#state();
    return this.#write(open, () => open.table.release(owner, releases));
  }

  /** Batched with the other run-slot changes of the tick: one transaction for a burst. */
  async claimRunSlot(claim: RunSlotClaim): Promise<RunSlotAnswer> {
    this.#state();
    return this.#slots.enqueue({ claim });
  }

  async renewRunSlots(owner: string, runIds: readonly string[], expiresAt: number): Promise<void> {
    if (runIds.length === 0) return;
    const open = this.#state();
    return this.#write(open, () => open.table.renew(owner, runIds, expiresAt));
  }

  /** Batched like `claimRunSlot`. */
  async releaseRunSlot(runId: string): Promise<void> {
    this.#state();
    await this.#slots.enqueue({ runId });
  }

  async getConcurrencyLimits(): Promise<Record<string, number>> {
    const open = this.#state();
    return this.#read(open, () => open.table.limits());
  }

  /** Other processes' watches hear of it (through the revision). */
  async setConcurrencyLimit(tag: string, limit: number | null): Promise<void> {
    const open = this.#state();
    return this.#write(open, () => open.table.setLimit(tag, limit));
  }

  /** Through a partial index on the rows whose data names an after-trigger. */
  async getAfterTriggers(): Promise<AfterTriggerEntry[]> {
    const open = this.#state();
    return this.#read(open, () => open.table.afterTriggers());
  }

  /** One transaction for the batch: inserts, then trims each task it names. */
  async appendRuns(records: readonly StoredRunRecord[], perTask: number): Promise<void> {
    if (records.length === 0) return;
    const open = this.#state();
    const rows = records.map((record) => ({ record, data: storedText(record) }));
    return this.#write(open, () => open.history.append(rows, perTask));
  }

  /** Reads through an index, newest first, only as many rows as the answer needs (a task's: at most all of them). */
  async getRuns(query: RunQuery): Promise<StoredRunRecord[]> {
    const open = this.#state();
    return this.#read(open, () => open.history.query(query));
  }

  /** One statement; it reads every record (to find those of removed tasks). */
  async pruneRuns(endedBefore: number, keep: number): Promise<number> {
    const open = this.#state();
    return this.#write(open, () => open.history.prune(endedBefore, keep));
  }

  /** A request whose id is stored already is left as it is. Other processes' watches hear of it. */
  async requestRun(request: RunNowRequest): Promise<void> {
    const open = this.#state();
    const data = storedText(request);
    return this.#write(open, () => open.requests.insert(request, data));
  }

  /** A write transaction only when there are requests (one read says). */
  async takeRunRequests(now: number): Promise<RunNowRequest[]> {
    const open = this.#state();
    if (!(await this.#read(open, () => open.requests.any()))) return [];
    return this.#write(open, () => open.requests.take(now));
  }

  async hasRunRequest(requestId: string): Promise<boolean> {
    const open = this.#state();
    return this.#read(open, () => open.requests.has(requestId));
  }

  async cancelRunRequest(requestId: string): Promise<boolean> {
    const open = this.#state();
    return this.#write(open, () => open.requests.cancel(requestId));
  }

  /**
   * Calls `listener` (debounced) when another connection commits a change to tasks or a run request, seen through
   * `fs.watch` on the database's directory (every commit writes the `-wal` file) and confirmed with `PRAGMA
   * data_version`, which changes only for other connections' commits, so this store's own writes are ignored,
   * and with the database's revision, which run history and run-slot commits leave as it is. (When this store
   * changed a task and another connection appended history since the last check, that is reported too.) Like
   * the scheduler's timer, a watch keeps the process alive (a worker waiting for tasks another process adds)
   * until it is stopped; `close()` stops it too. Returns a function that stops watching.
   */
  watch(listener: () => void): () => void {
    const { db, context, file, table } = this.#state();
    let seenVersion = dataVersion(db);
    let seenRevision = table.revision();
    let lost = false;
    const isForeign = (): boolean => {
      if (!db.open) return false;
      try {
        checkSameFile(file, this.path);
        const version = dataVersion(db);
        const revision = table.revision();
        const foreign = version !== seenVersion && revision !== seenRevision;
        seenVersion = version;
        seenRevision = revision;
        return foreign;
      } catch (error) {
        // A deleted or replaced file is said at once, not only at the next write; an error is never thrown
        // out of a timer callback.
        if (!lost) context.logger.error({ err: error, path: this.path }, 'SQLiteStore: watching');
        lost = true;
        return false;
      }
    };
    const files = [basename(this.path), `${basename(this.path)}-wal`];
    return this.#watches.watch(
      { store: 'SQLiteStore', path: this.path, files, logger: () => context.logger, isForeign },
      listener,
    );
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

  #state(): OpenState {
    if (this.#open === null) throw notStartedError('SQLiteStore', this.path);
    return this.#open;
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

/** `PRAGMA data_version`: changes when another connection commits. */
function dataVersion(db: Database): number {
  return db.pragma('data_version', { simple: true }) as number;
}
