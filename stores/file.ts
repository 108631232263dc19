/**
 * `FileStore`: every task in one JSON document on disk, shared safely by several processes on one machine.
 *
 * - Every write is atomic: a temp file in the same directory, fsync, rename over the document, fsync of the
 *   directory. A reader sees the old document or the new one, never half of one.
 * - Every read-modify-write holds a proper-lockfile lock (`<path>.lock`) and re-reads the document first,
 *   so changes by other processes are never lost. Writes queued while one is in flight are applied together
 *   (one lock, one read, one write), so a wake-up's run slots do not cost one fsync each. The directory's
 *   fsync comes after the lock is released (the rename is already visible to other processes; only its
 *   durability is pending) and before the callers hear back, so the lock is held for one fsync, not two.
 * - Waiting for a lock another process holds is asynchronous (proper-lockfile's retries on timers). A
 *   killed holder's lock is taken over after `lockStale`.
 * - Task leases and run slots live in the document too, so schedulers in several processes never both run
 *   one due run, and `maxInstances` counts across all of them.
 * - A corrupt, truncated or foreign file is a `SerializationError` at `start()` naming the file, which is
 *   never overwritten. One unreadable task entry is reported, kept verbatim and skipped.
 *
 * Each change rewrites the whole document and a wake-up scans every task: meant for up to a few thousand
 * tasks. Beyond that, or for many changes per second, use `SQLiteStore`.
 */
import { type FSWatcher, watch as watchFs } from 'node:fs';
import { open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { lock as lockFile } from 'proper-lockfile';
import {
  ConflictingIdError,
  KairosError,
  SerializationError,
  TaskLookupError,
  ValueError,
} from '../src/errors.js';
import { deserializeTask, isPlainObject, serializeTask } from '../src/serialization.js';
import {
  type AcquireOptions,
  compareTaskRecords,
  copyTaskRecord,
  type RunSlotClaim,
  type StoreContext,
  type TaskChange,
  type TaskRecord,
  type TaskRelease,
  type TaskStore,
} from '../src/store.js';
import { type DurationInput, describeValue, MAX_TIMER_DELAY_MS, parseDuration } from '../src/time.js';
import { checkStoreOptions, describeIoError, prepareStorePath } from './support.js';

/** Options of `new FileStore()`. */
export interface FileStoreOptions {
  /** The JSON document holding the tasks; created (with its directory) at `start()` if missing. */
  path: string;
  /**
   * How long after its holder stopped refreshing it (the holder was killed) the file's lock (`<path>.lock`) is
   * taken over by another process; until then, the other processes' writes to the file wait. At least 2 s
   * (proper-lockfile's minimum). Every process sharing the file should use the same value. @default 5000 ms
   */
  lockStale?: DurationInput;
}

/** The `format` field that marks a kairos task document. */
export const FILE_STORE_FORMAT = 'kairos-file-store';
/** The document format version this release writes; older versions are migrated at `start()`. */
export const FILE_STORE_VERSION = 1;

const OPTION_KEYS: ReadonlySet<string> = new Set(['path', 'lockStale']);
/** `lockStale` by default. */
const DEFAULT_LOCK_STALE_MS = 5000;
/** proper-lockfile's smallest `stale` (it silently raises smaller values). */
const MIN_LOCK_STALE_MS = 2000;
/** proper-lockfile's smallest `update` interval. */
const MIN_LOCK_UPDATE_MS = 1000;
/** First and largest delay between two tries to take a lock another process holds. */
const LOCK_RETRY_FIRST_MS = 2;
const LOCK_RETRY_MAX_MS = 25;
/** Permission bits of a new document. */
const DEFAULT_MODE = 0o644;
/** File system events closer together than this are reported to the watcher once. */
const WATCH_DEBOUNCE_MS = 25;

/** A task lease: who holds the task, until when, and the next run time it was acquired with. */
interface Lease {
  owner: string;
  expiresAt: number;
  /** The task's next run time when acquired; a release changes it only if it still is this one. */
  runTime: number | null;
  /** True for a parked task (`holdUntil`): a change to the task ends the hold. */
  held: boolean;
}

/** A run slot: one run in progress. */
interface RunSlot {
  taskId: string;
  owner: string;
  expiresAt: number;
}

/** One entry of the `tasks` section: its JSON text and the record it holds, or why it cannot be read. */
type TaskEntry =
  | { text: string; record: TaskRecord; error: null }
  | { text: string; record: null; error: SerializationError };

/** The document in memory. */
interface DocumentState {
  tasks: Map<string, TaskEntry>;
  leases: Map<string, Lease>;
  runSlots: Map<string, RunSlot>;
}

/** A queued store operation; writes that queue up together share one locked read-modify-write. */
interface Operation {
  write: boolean;
  /** Does the work on the current document; a write sets `change.dirty` if it changed it. */
  run(state: DocumentState, change: { dirty: boolean }): unknown;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

let instances = 0;

/**
 * Keeps tasks in one JSON file. `persistent` (functions are stored by name, args as JSON) and `shared`
 * (several processes on one machine may use one file at once).
 * @example new Scheduler({ stores: { default: new FileStore({ path: './data/tasks.json' }) }, functions: { report } })
 */
export class FileStore implements TaskStore {
  readonly persistent = true;
  readonly shared = true;
  /** The document's absolute path. */
  readonly path: string;
  /** `lockStale` in ms. */
  readonly lockStaleMs: number;
  /** The key proper-lockfile files this instance's lock under (its lock directory is shared: `<path>.lock`). */
  readonly #lockKey: string;
  /** How the lock is taken and kept, from `lockStale`. */
  readonly #lockOptions: LockOptions;
  #context: StoreContext | null = null;
  /** The document as last read or written, or null to force a read. */
  #state: DocumentState | null = null;
  /** Identity (inode, size, mtime) of the file `#state` was read from or written to. */
  #identity: string | null = null;
  /** Identity of the file this instance wrote last, so the watcher can ignore its own writes. */
  #lastWritten: string | null = null;
  /** Permission bits of the document as last read, which a rewrite keeps. */
  #mode = DEFAULT_MODE;
  /** True after a rename whose directory fsync is still to come (after the lock is released). */
  #renamed = false;
  #queue: Operation[] = [];
  /** The running drain of `#queue`, if any. */
  #draining: Promise<void> | null = null;
  /** Owners that acquired tasks through this instance: their leases end at `close()`. */
  #owners = new Set<string>();
  /** Broken entries already reported, with the text they were reported for. */
  #reported = new Map<string, string>();
  #watchers = new Set<() => void>();

  /**
   * Validates the options; touches no file until `start()`.
   * @throws ValueError naming the bad value: a non-object, an unknown option, a bad path or `lockStale`.
   */
  constructor(options: FileStoreOptions) {
    checkStoreOptions(options, OPTION_KEYS, 'FileStore');
    if (typeof options.path !== 'string' || options.path.trim() === '') {
      throw new ValueError(`FileStore: path must be a non-empty string, got ${describeValue(options.path)}`);
    }
    this.path = resolve(options.path);
    this.lockStaleMs = parseLockStale(options.lockStale);
    this.#lockOptions = lockOptionsFor(this.lockStaleMs);
    this.#lockKey = `${this.path}#kairos-file-store-${++instances}`;
  }

  /**
   * Creates the document if missing, migrates an older format, and checks it. A path the store cannot use is an
   * error naming it: a directory or a path under a file is a `ValueError`, a directory or file that cannot be
   * written a `KairosError`, a corrupt or foreign file a `SerializationError`.
   */
  async start(context: StoreContext): Promise<void> {
    this.#context = context;
    this.#state = null;
    this.#mode = DEFAULT_MODE;
    this.#reported.clear();
    try {
      await prepareStorePath(this.path, { store: 'FileStore', replacesByRename: true });
      await this.#withLock(async () => {
        const read = await readDocument(this.path);
        if (read === null || read.text === null) {
          await this.#write(emptyState());
          return;
        }
        this.#mode = read.mode;
        const { state, version } = this.#adopt(read.text, read.identity);
        if (version < FILE_STORE_VERSION) await this.#write(state);
      });
    } catch (error) {
      this.#context = null;
      this.#state = null;
      throw error;
    }
  }

  /** Waits for queued work, ends the task leases this instance's owners hold (parked tasks), stops watching. */
  async close(): Promise<void> {
    for (const stop of [...this.#watchers]) stop();
    try {
      if (this.#context !== null && this.#owners.size > 0) await this.#endLeasesOf(new Set(this.#owners));
      await this.#draining;
    } finally {
      this.#owners.clear();
      this.#state = null;
      this.#identity = null;
      this.#context = null;
    }
  }

  async addTask(record: TaskRecord): Promise<void> {
    const entry = validEntry(record);
    await this.#enqueue(true, (state, change) => {
      if (state.tasks.has(record.id)) throw new ConflictingIdError(record.id, this.#alias);
      this.#putEntry(state, record.id, entry);
      change.dirty = true;
    });
  }

  /** Reads, changes and writes the task under the file lock, on the document as it is on disk now. */
  async updateTask(id: string, change: TaskChange): Promise<TaskRecord> {
    return this.#enqueue(true, (state, write) => {
      const entry = state.tasks.get(id);
      if (entry === undefined) throw new TaskLookupError(id, this.#alias);
      if (entry.error !== null) throw keptError(id, entry.error);
      const lease = state.leases.get(id);
      const leasedRunTime = lease !== undefined && !lease.held ? lease.runTime : null;
      const updated = change(entry.record, { leasedRunTime });
      if (updated === entry.record) return updated;
      this.#putEntry(state, id, validEntry(updated));
      write.dirty = true;
      return updated;
    });
  }

  async removeTask(id: string): Promise<TaskRecord> {
    return this.#enqueue(true, (state, change) => {
      const entry = state.tasks.get(id);
      if (entry === undefined) throw new TaskLookupError(id, this.#alias);
      if (entry.error !== null) throw keptError(id, entry.error);
      state.tasks.delete(id);
      state.leases.delete(id);
      change.dirty = true;
      return entry.record;
    });
  }

  /** Removes every readable task; unreadable entries are kept (see the class comment). */
  async removeAllTasks(): Promise<string[]> {
    return this.#enqueue(true, (state, change) => {
      const removed: string[] = [];
      for (const [id, entry] of state.tasks) {
        if (entry.record === null) continue;
        state.tasks.delete(id);
        state.leases.delete(id);
        removed.push(id);
      }
      change.dirty = removed.length > 0;
      return removed;
    });
  }

  async getTask(id: string): Promise<TaskRecord | undefined> {
    return this.#enqueue(false, (state) => state.tasks.get(id)?.record ?? undefined);
  }

  async getTasks(): Promise<TaskRecord[]> {
    return this.#enqueue(false, (state) => readableRecords(state).sort(compareTaskRecords));
  }

  async earliestWakeup(_owner: string): Promise<number | null> {
    return this.#enqueue(false, (state) => {
      let earliest: number | null = null;
      for (const record of readableRecords(state)) {
        const at = wakeupOf(record, state.leases.get(record.id));
        if (at !== null && (earliest === null || at < earliest)) earliest = at;
      }
      return earliest;
    });
  }

  async acquireDueTasks({ owner, now, leaseMs, limit }: AcquireOptions): Promise<TaskRecord[]> {
    // Most wake-ups of a scheduler sharing the file find nothing: answer those without taking the lock.
    const anyDue = await this.#enqueue(false, (state) => dueRecords(state, now, 1).length > 0);
    if (!anyDue) return [];
    this.#owners.add(owner);
    return this.#enqueue(true, (state, change) => {
      const due = dueRecords(state, now, limit);
      for (const record of due) {
        state.leases.set(record.id, {
          owner,
          expiresAt: now + leaseMs,
          runTime: record.nextRunTime,
          held: false,
        });
      }
      change.dirty = due.length > 0;
      return due;
    });
  }

  /**
   * Ends `owner`'s leases. A release sets the next run time only if it is still the one the task was acquired
   * with: a change another process made meanwhile (a pause, a reschedule) wins.
   */
  async releaseTasks(owner: string, releases: readonly TaskRelease[]): Promise<string[]> {
    if (releases.length === 0) return [];
    return this.#enqueue(true, (state, change) => {
      const released: string[] = [];
      for (const release of releases) {
        const lease = state.leases.get(release.id);
        const entry = state.tasks.get(release.id);
        if (lease?.owner !== owner || entry?.record == null) continue;
        released.push(release.id);
        change.dirty = true;
        if ('holdUntil' in release) {
          lease.expiresAt = release.holdUntil;
          lease.held = true;
          continue;
        }
        state.leases.delete(release.id);
        if (entry.record.nextRunTime !== lease.runTime) continue;
        if (release.nextRunTime === 'remove') state.tasks.delete(release.id);
        else state.tasks.set(release.id, validEntry(copyTaskRecord(entry.record, release.nextRunTime)));
      }
      return released;
    });
  }

  async claimRunSlot({ taskId, runId, owner, expiresAt, maxInstances }: RunSlotClaim): Promise<boolean> {
    return this.#enqueue(true, (state, change) => {
      const now = Date.now();
      let live = 0;
      for (const [id, slot] of state.runSlots) {
        if (slot.expiresAt <= now) {
          state.runSlots.delete(id);
          change.dirty = true;
        } else if (slot.taskId === taskId) {
          live++;
        }
      }
      if (live >= maxInstances) return false;
      state.runSlots.set(runId, { taskId, owner, expiresAt });
      change.dirty = true;
      return true;
    });
  }

  async renewRunSlots(owner: string, runIds: readonly string[], expiresAt: number): Promise<void> {
    if (runIds.length === 0) return;
    await this.#enqueue(true, (state, change) => {
      for (const runId of runIds) {
        const slot = state.runSlots.get(runId);
        if (slot === undefined || slot.owner !== owner) continue;
        slot.expiresAt = expiresAt;
        change.dirty = true;
      }
    });
  }

  async releaseRunSlot(runId: string): Promise<void> {
    await this.#enqueue(true, (state, change) => {
      change.dirty = state.runSlots.delete(runId);
    });
  }

  /**
   * Calls `listener` (debounced) when another process rewrites the document, seen through `fs.watch` on its
   * directory (the document is replaced by rename, so the file itself cannot be watched); this instance's own
   * writes are ignored. Like the scheduler's timer, a watch keeps the process alive (a worker waiting for
   * tasks another process adds) until it is stopped; `close()` stops it too. Returns a function that stops
   * watching.
   */
  watch(listener: () => void): () => void {
    let timer: NodeJS.Timeout | undefined;
    const check = async () => {
      const identity = await fileIdentity(this.path);
      if (identity !== null && identity !== this.#lastWritten) listener();
    };
    const watcher: FSWatcher = watchFs(dirname(this.path), (_event, filename) => {
      if (filename !== basename(this.path)) return;
      clearTimeout(timer);
      timer = setTimeout(() => void check().catch(() => {}), WATCH_DEBOUNCE_MS);
      timer.unref();
    });
    watcher.on('error', (error) =>
      this.#context?.logger.warn({ err: error, path: this.path }, 'FileStore: watching stopped'),
    );
    const stop = () => {
      clearTimeout(timer);
      watcher.close();
      this.#watchers.delete(stop);
    };
    this.#watchers.add(stop);
    return stop;
  }

  /** Ends every task lease these owners hold. */
  #endLeasesOf(owners: ReadonlySet<string>): Promise<void> {
    return this.#enqueue(true, (state, change) => {
      for (const [id, lease] of state.leases) {
        if (!owners.has(lease.owner)) continue;
        state.leases.delete(id);
        change.dirty = true;
      }
    });
  }

  get #alias(): string {
    return this.#context?.alias ?? 'file';
  }

  /** Queues an operation; reads run on the current document, consecutive writes share one locked round. */
  #enqueue<T>(write: boolean, run: (state: DocumentState, change: { dirty: boolean }) => T): Promise<T> {
    if (this.#context === null)
      return Promise.reject(new KairosError(`FileStore '${this.path}' is not started`));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ write, run, resolve: resolve as (value: unknown) => void, reject });
      this.#draining ??= this.#drain();
    });
  }

  /** Runs queued operations until none is left; `#draining` is cleared in the same tick the queue is seen empty. */
  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const head = this.#queue[0] as Operation;
        const count = head.write ? countLeading(this.#queue, (operation) => operation.write) : 1;
        const batch = this.#queue.splice(0, count);
        try {
          if (head.write) {
            await this.#checkPresent();
            // Callers hear back only once the lock is released, so "done" never means "still locked".
            const outcomes = await this.#withLock(() => this.#runWrites(batch));
            outcomes.forEach((outcome, index) => {
              const operation = batch[index] as Operation;
              if (outcome.ok) operation.resolve(outcome.value);
              else operation.reject(outcome.error);
            });
          } else {
            settle(batch, await this.#fresh());
          }
        } catch (error) {
          this.#state = null;
          for (const operation of batch) operation.reject(error);
        }
      }
    } finally {
      this.#draining = null;
    }
  }

  /**
   * Applies a batch of writes to a freshly read document, writes it once if any of them changed it, and
   * returns each operation's outcome (settled by the caller after the lock is released).
   */
  async #runWrites(batch: Operation[]): Promise<Array<ReturnType<typeof attempt>>> {
    const state = await this.#fresh();
    const change = { dirty: false };
    const outcomes = batch.map((operation) => attempt(() => operation.run(state, change)));
    if (change.dirty) await this.#write(state);
    return outcomes;
  }

  /** The document as it is on disk now (re-read only if the file changed). */
  async #fresh(): Promise<DocumentState> {
    const read = await readDocument(this.path, this.#state === null ? null : this.#identity);
    if (read === null) throw this.#deletedError();
    this.#mode = read.mode;
    if (read.text === null) return this.#state as DocumentState;
    return this.#adopt(read.text, read.identity).state;
  }

  /**
   * Fails at once if the document is gone: proper-lockfile would otherwise retry creating its lock in a deleted
   * directory for the whole lock wait (twice `lockStale`) before failing.
   */
  async #checkPresent(): Promise<void> {
    const code = await stat(this.path).then(
      () => null,
      (error: NodeJS.ErrnoException) => error.code,
    );
    if (code === 'ENOENT' || code === 'ENOTDIR') throw this.#deletedError();
  }

  /** The error for a document that was deleted (alone or with its directory) while the store was open. */
  #deletedError(cause?: unknown): KairosError {
    return new KairosError(
      `FileStore: the task file '${this.path}' was deleted while the store was open; its tasks are gone from disk. Restore the file, or restart the store to begin with an empty one`,
      { cause },
    );
  }

  /** Makes a document text the current state, reusing unchanged entries and reporting new unreadable ones. */
  #adopt(text: string, identity: string): { state: DocumentState; version: number } {
    const { state, version } = parseDocument(text, this.path, this.#state);
    for (const [id, entry] of state.tasks) {
      if (entry.error !== null && this.#reported.get(id) !== entry.text) {
        this.#reported.set(id, entry.text);
        this.#context?.reportBrokenRecord(id, entry.error);
      }
    }
    this.#state = state;
    this.#identity = identity;
    return { state, version };
  }

  /** Stores a new version of a task; a hold on it ends (it changed, so it is worth trying again), a lease stays. */
  #putEntry(state: DocumentState, id: string, entry: TaskEntry): void {
    state.tasks.set(id, entry);
    if (state.leases.get(id)?.held) state.leases.delete(id);
    this.#reported.delete(id);
  }

  /**
   * Writes the document atomically (temp file, fsync, rename) and remembers what was written. The directory's
   * fsync is left to `#withLock`, after the lock is released.
   */
  async #write(state: DocumentState): Promise<void> {
    const identity = await writeAtomically(this.path, renderDocument(state), this.#mode);
    this.#renamed = true;
    this.#state = state;
    this.#identity = identity;
    this.#lastWritten = identity;
  }

  /**
   * Runs `work` holding the inter-process lock on the document. A rename made meanwhile is made durable (fsync
   * of the directory) after the lock is released and before this resolves: other processes may read the new
   * document at once, and whoever renames after it fsyncs the directory before hearing back too.
   */
  async #withLock<T>(work: () => Promise<T>): Promise<T> {
    let lost: Error | null = null;
    let release: () => Promise<void>;
    try {
      release = await lockFile(this.#lockKey, {
        ...this.#lockOptions,
        realpath: false,
        lockfilePath: `${this.path}.lock`,
        onCompromised: (error) => {
          lost = error;
        },
      });
    } catch (error) {
      throw this.#lockError(error);
    }
    try {
      const result = await work();
      if (lost !== null)
        throw new KairosError(`FileStore: lost the lock on '${this.path}' while writing`, { cause: lost });
      return result;
    } finally {
      await release().catch(() => {});
      if (this.#renamed) {
        this.#renamed = false;
        await syncDirectory(dirname(this.path));
      }
    }
  }

  /** Why the lock could not be taken, naming the file. */
  #lockError(error: unknown): KairosError {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'ENOENT') return this.#deletedError(error);
    if (code === 'ELOCKED') {
      return new KairosError(
        `FileStore: the task file '${this.path}' is locked by another process: its lock '${this.path}.lock' stayed held through ${this.#lockOptions.retries.retries} tries (${(LOCK_WAIT_FACTOR * this.lockStaleMs) / 1000} s or more). A killed holder's lock is taken over after lockStale (${this.lockStaleMs} ms), so a live process holds it`,
        { cause: error },
      );
    }
    return new KairosError(`FileStore: cannot lock '${this.path}' (${describeIoError(error)})`, {
      cause: error,
    });
  }
}

// ---- the lock ----

/** Options of proper-lockfile's `lock()` that follow from `lockStale`. */
interface LockOptions {
  stale: number;
  update: number;
  retries: { retries: number; minTimeout: number; maxTimeout: number; factor: number; randomize: boolean };
}

/** How many times `lockStale` the tries to take a lock another process holds last, at least. */
const LOCK_WAIT_FACTOR = 2;

/** Validates `lockStale`: a duration of at least proper-lockfile's minimum, 2 s. */
function parseLockStale(input: unknown): number {
  if (input === undefined) return DEFAULT_LOCK_STALE_MS;
  const staleMs = parseDuration(input, 'FileStore: lockStale');
  if (staleMs < MIN_LOCK_STALE_MS) {
    throw new ValueError(
      `FileStore: lockStale: ${describeValue(input)} is ${staleMs} ms, below proper-lockfile's minimum of ${MIN_LOCK_STALE_MS} ms`,
    );
  }
  if (staleMs / 5 > MAX_TIMER_DELAY_MS) {
    throw new ValueError(
      `FileStore: lockStale: ${describeValue(input)} is ${staleMs} ms, more than ${5 * MAX_TIMER_DELAY_MS} ms`,
    );
  }
  return staleMs;
}

/**
 * The lock's settings: refreshed every `lockStale / 5` (at least every second), and tried again (asynchronously,
 * on timers) for at least `LOCK_WAIT_FACTOR` times `lockStale` while another process holds it, which outlasts
 * a killed holder's lock.
 */
function lockOptionsFor(staleMs: number): LockOptions {
  return {
    stale: staleMs,
    update: Math.max(staleMs / 5, MIN_LOCK_UPDATE_MS),
    retries: {
      retries: Math.ceil((LOCK_WAIT_FACTOR * staleMs) / LOCK_RETRY_MAX_MS),
      minTimeout: LOCK_RETRY_FIRST_MS,
      maxTimeout: LOCK_RETRY_MAX_MS,
      factor: 1.3,
      randomize: true,
    },
  };
}

// ---- the document ----

function emptyState(): DocumentState {
  return { tasks: new Map(), leases: new Map(), runSlots: new Map() };
}

/** A valid entry for a record; a record that cannot be stored is a `SerializationError` before anything changes. */
function validEntry(record: TaskRecord): TaskEntry {
  return { text: JSON.stringify(serializeTask(record)), record, error: null };
}

function readableRecords(state: DocumentState): TaskRecord[] {
  const records: TaskRecord[] = [];
  for (const entry of state.tasks.values()) if (entry.record !== null) records.push(entry.record);
  return records;
}

/** Up to `limit` readable tasks due at `now` and not under a live lease, earliest first. */
function dueRecords(state: DocumentState, now: number, limit: number): TaskRecord[] {
  const due = readableRecords(state).filter((record) => {
    if (record.nextRunTime === null || record.nextRunTime > now) return false;
    const lease = state.leases.get(record.id);
    return lease === undefined || lease.expiresAt <= now;
  });
  return due.sort(compareTaskRecords).slice(0, limit);
}

/** When a task could next be acquired: its next run time, or later if a lease holds it until then. */
function wakeupOf(record: TaskRecord, lease: Lease | undefined): number | null {
  if (record.nextRunTime === null) return null;
  return lease === undefined ? record.nextRunTime : Math.max(record.nextRunTime, lease.expiresAt);
}

/** Parses a document text and checks its envelope (format, version). */
function parseEnvelope(text: string, path: string): { version: number; json: Record<string, unknown> } {
  if (text.trim() === '')
    throw new SerializationError(
      `FileStore: the task file '${path}' is empty (truncated?); it is left untouched`,
    );
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new SerializationError(
      `FileStore: the task file '${path}' is not valid JSON (${(error as Error).message}; truncated or corrupt?); it is left untouched`,
      { cause: error },
    );
  }
  if (!isPlainObject(json) || json.format !== FILE_STORE_FORMAT) {
    throw new SerializationError(
      `FileStore: '${path}' is not a kairos task file (it lacks "format": "${FILE_STORE_FORMAT}"); it is left untouched`,
    );
  }
  const version = json.version;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    throw new SerializationError(
      `FileStore: '${path}' has an invalid format version ${describeValue(version)}; it is left untouched`,
    );
  }
  if (version > FILE_STORE_VERSION) {
    throw new SerializationError(
      `FileStore: '${path}' has format version ${version}, written by a newer kairos (this one reads up to ${FILE_STORE_VERSION}); it is left untouched`,
    );
  }
  return { version, json };
}

/**
 * Upgrades an older document in place, one version at a time. `MIGRATIONS[n]` turns version n into n + 1;
 * version 1 is the first format, so there are none yet.
 */
const MIGRATIONS: Record<number, (json: Record<string, unknown>) => void> = {};

/** Parses a document, migrating an older version; entries whose text is unchanged are reused from `previous`. */
function parseDocument(
  text: string,
  path: string,
  previous: DocumentState | null,
): { state: DocumentState; version: number } {
  const { version, json } = parseEnvelope(text, path);
  for (let from = version; from < FILE_STORE_VERSION; from++) MIGRATIONS[from]?.(json);
  const tasks = section(json, 'tasks', path);
  const state = emptyState();
  for (const [id, value] of Object.entries(tasks))
    state.tasks.set(id, parseEntry(id, value, previous?.tasks.get(id)));
  for (const [id, value] of Object.entries(section(json, 'leases', path)))
    state.leases.set(id, parseLease(id, value, path));
  for (const [id, value] of Object.entries(section(json, 'runSlots', path)))
    state.runSlots.set(id, parseSlot(id, value, path));
  return { state, version };
}

function section(json: Record<string, unknown>, name: string, path: string): Record<string, unknown> {
  const value = json[name] ?? {};
  if (!isPlainObject(value))
    throw new SerializationError(
      `FileStore: '${path}': "${name}" must be an object; the file is left untouched`,
    );
  return value;
}

/** One task entry; an unreadable one keeps its JSON as is, with the reason. */
function parseEntry(id: string, value: unknown, previous: TaskEntry | undefined): TaskEntry {
  const text = JSON.stringify(value);
  if (previous !== undefined && previous.text === text) return previous;
  try {
    if (isPlainObject(value) && value.id !== id) {
      throw new SerializationError(`task '${id}': the entry names another id, ${describeValue(value.id)}`);
    }
    return { text, record: deserializeTask(value), error: null };
  } catch (error) {
    const reason =
      error instanceof SerializationError
        ? error
        : new SerializationError(`task '${id}': ${(error as Error).message}`);
    return { text, record: null, error: reason };
  }
}

function parseLease(id: string, value: unknown, path: string): Lease {
  if (
    isPlainObject(value) &&
    typeof value.owner === 'string' &&
    Number.isFinite(value.expiresAt) &&
    (value.runTime === null || Number.isFinite(value.runTime)) &&
    typeof value.held === 'boolean'
  ) {
    return {
      owner: value.owner,
      expiresAt: value.expiresAt as number,
      runTime: value.runTime as number | null,
      held: value.held,
    };
  }
  throw new SerializationError(
    `FileStore: '${path}': the lease of task '${id}' is malformed; the file is left untouched`,
  );
}

function parseSlot(id: string, value: unknown, path: string): RunSlot {
  if (
    isPlainObject(value) &&
    typeof value.taskId === 'string' &&
    typeof value.owner === 'string' &&
    Number.isFinite(value.expiresAt)
  ) {
    return { taskId: value.taskId, owner: value.owner, expiresAt: value.expiresAt as number };
  }
  throw new SerializationError(
    `FileStore: '${path}': run slot '${id}' is malformed; the file is left untouched`,
  );
}

/** The document text: one task, lease or run slot per line, so that diffs and manual reading stay easy. */
function renderDocument(state: DocumentState): string {
  const tasks = [...state.tasks].map(([id, entry]): [string, string] => [id, entry.text]);
  const leases = [...state.leases].map(([id, lease]): [string, string] => [id, JSON.stringify(lease)]);
  const slots = [...state.runSlots].map(([id, slot]): [string, string] => [id, JSON.stringify(slot)]);
  return (
    `{\n  "format": ${JSON.stringify(FILE_STORE_FORMAT)},\n  "version": ${FILE_STORE_VERSION},\n` +
    `  "tasks": ${renderSection(tasks)},\n  "leases": ${renderSection(leases)},\n  "runSlots": ${renderSection(slots)}\n}\n`
  );
}

function renderSection(entries: Array<[string, string]>): string {
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([key, text]) => `    ${JSON.stringify(key)}: ${text}`).join(',\n')}\n  }`;
}

// ---- files ----

/** Identity of a file version: a rename gives a new inode, a rewrite a new mtime. */
function identityOf(stats: { ino: bigint; size: bigint; mtimeNs: bigint }): string {
  return `${stats.ino}:${stats.size}:${stats.mtimeNs}`;
}

async function fileIdentity(path: string): Promise<string | null> {
  const handle = await open(path, 'r').catch(() => null);
  if (handle === null) return null;
  try {
    return identityOf(await handle.stat({ bigint: true }));
  } finally {
    await handle.close();
  }
}

/** A read of the document: its identity and permission bits, and its text (null when unchanged). */
interface DocumentRead {
  identity: string;
  mode: number;
  text: string | null;
}

/**
 * Reads the document through one file handle, so that text and identity belong together. Null if the file
 * (or its directory) does not exist; `text` is null if its identity is `known`, which one `stat` tells (the
 * usual case under the lock: this instance wrote the file last).
 */
async function readDocument(path: string, known: string | null = null): Promise<DocumentRead | null> {
  if (known !== null) {
    const stats = await stat(path, { bigint: true }).catch(() => null);
    if (stats !== null && identityOf(stats) === known)
      return { identity: known, mode: Number(stats.mode & 0o777n), text: null };
  }
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new KairosError(`FileStore: cannot read the task file '${path}' (${describeIoError(error)})`, {
      cause: error,
    });
  }
  try {
    const stats = await handle.stat({ bigint: true });
    const identity = identityOf(stats);
    const mode = Number(stats.mode & 0o777n);
    if (identity === known) return { identity, mode, text: null };
    return { identity, mode, text: await handle.readFile('utf8') };
  } catch (error) {
    throw new KairosError(`FileStore: cannot read the task file '${path}' (${describeIoError(error)})`, {
      cause: error,
    });
  } finally {
    await handle.close();
  }
}

let temporaries = 0;

/**
 * Writes `text` to `path` atomically: a temp file with permission bits `mode`, fsync, rename over `path`. The
 * caller fsyncs the directory afterwards (`syncDirectory`). Returns the new identity.
 */
async function writeAtomically(path: string, text: string, mode: number): Promise<string> {
  const temporary = `${path}.${process.pid}-${++temporaries}.tmp`;
  try {
    let identity: string;
    const handle = await open(temporary, 'wx', mode);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
      identity = identityOf(await handle.stat({ bigint: true }));
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
    return identity;
  } catch (error) {
    await unlink(temporary).catch(() => {});
    throw new KairosError(`FileStore: cannot write the task file '${path}' (${describeIoError(error)})`, {
      cause: error,
    });
  }
}

/** Makes a rename durable; some platforms cannot open directories, which is harmless. */
async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r').catch(() => null);
  if (handle === null) return;
  await handle.sync().catch(() => {});
  await handle.close();
}

// ---- small helpers ----

function countLeading<T>(items: readonly T[], test: (item: T) => boolean): number {
  let count = 0;
  while (count < items.length && test(items[count] as T)) count++;
  return count;
}

function settle(batch: readonly Operation[], state: DocumentState): void {
  for (const operation of batch) {
    const outcome = attempt(() => operation.run(state, { dirty: false }));
    if (outcome.ok) operation.resolve(outcome.value);
    else operation.reject(outcome.error);
  }
}

function attempt(work: () => unknown): { ok: true; value: unknown } | { ok: false; error: unknown } {
  try {
    return { ok: true, value: work() };
  } catch (error) {
    return { ok: false, error };
  }
}

/** The error for an operation on an entry that cannot be read back (it is kept, not touched). */
function keptError(id: string, cause: SerializationError): SerializationError {
  return new SerializationError(`task '${id}' cannot be read back (${cause.message}); it is kept untouched`, {
    cause,
  });
}
