/**
 * `FileStore`: every task in one JSON document on disk, shared safely by several processes on one machine.
 *
 * - Every write is atomic: a temp file in the same directory, fsync, rename over the document, fsync of the
 *   directory. A reader sees the old document or the new one, never half of one.
 * - Every read-modify-write holds a proper-lockfile lock (`<path>.lock`) and re-reads the document first,
 *   so changes by other processes are never lost. Writes queued while one is in flight are applied together
 *   (one lock, one read, one write), so a wake-up's run slots do not cost one fsync each.
 * - Task leases and run slots live in the document too, so schedulers in several processes never both run
 *   one due run, and `maxInstances` counts across all of them.
 * - A corrupt, truncated or foreign file is a `SerializationError` at `start()` naming the file, which is
 *   never overwritten. One unreadable task entry is reported, kept verbatim and skipped.
 *
 * Each change rewrites the whole document and a wake-up scans every task: meant for up to a few thousand
 * tasks. Beyond that, or for many changes per second, use `SQLiteStore`.
 */
import { type FSWatcher, watch as watchFs } from 'node:fs';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
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
  type RunSlotClaim,
  type StoreContext,
  type TaskRecord,
  type TaskRelease,
  type TaskStore,
} from '../src/store.js';
import { describeValue } from '../src/time.js';

/** Options of `new FileStore()`. */
export interface FileStoreOptions {
  /** The JSON document holding the tasks; created (with its directory) at `start()` if missing. */
  path: string;
}

/** The `format` field that marks a kairos task document. */
export const FILE_STORE_FORMAT = 'kairos-file-store';
/** The document format version this release writes; older versions are migrated at `start()`. */
export const FILE_STORE_VERSION = 1;

/** A lock whose holder died is taken over after this long (proper-lockfile's minimum is 2 s). */
const LOCK_STALE_MS = 5000;
/** How often a held lock is refreshed (only matters if a write takes longer than this). */
const LOCK_UPDATE_MS = 1000;
/** Retries while another process holds the lock: together they outlast `LOCK_STALE_MS`. */
const LOCK_RETRIES = { retries: 400, minTimeout: 2, maxTimeout: 25, factor: 1.3, randomize: true };
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
  /** The key proper-lockfile files this instance's lock under (its lock directory is shared: `<path>.lock`). */
  readonly #lockKey: string;
  #context: StoreContext | null = null;
  /** The document as last read or written, or null to force a read. */
  #state: DocumentState | null = null;
  /** Identity (inode, size, mtime) of the file `#state` was read from or written to. */
  #identity: string | null = null;
  /** Identity of the file this instance wrote last, so the watcher can ignore its own writes. */
  #lastWritten: string | null = null;
  #queue: Operation[] = [];
  /** The running drain of `#queue`, if any. */
  #draining: Promise<void> | null = null;
  /** Owners that acquired tasks through this instance: their leases end at `close()`. */
  #owners = new Set<string>();
  /** Broken entries already reported, with the text they were reported for. */
  #reported = new Map<string, string>();
  #watchers = new Set<() => void>();

  /** Validates the options; touches no file until `start()`. */
  constructor(options: FileStoreOptions) {
    if (!isPlainObject(options))
      throw new ValueError(
        `FileStore: options must be an object like { path }, got ${describeValue(options)}`,
      );
    if (typeof options.path !== 'string' || options.path.trim() === '') {
      throw new ValueError(`FileStore: path must be a non-empty string, got ${describeValue(options.path)}`);
    }
    this.path = resolve(options.path);
    this.#lockKey = `${this.path}#kairos-file-store-${++instances}`;
  }

  /** Creates the document if missing, migrates an older format, and checks it; a bad file is a `SerializationError`. */
  async start(context: StoreContext): Promise<void> {
    this.#context = context;
    this.#state = null;
    this.#reported.clear();
    try {
      await mkdir(dirname(this.path), { recursive: true });
      await this.#withLock(async () => {
        const read = await readDocument(this.path);
        if (read === null || read === 'unchanged') {
          await this.#write(emptyState());
          return;
        }
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

  async addTask(record: TaskRecord, options: { replaceExisting: boolean }): Promise<void> {
    const entry = validEntry(record);
    await this.#enqueue(true, (state, change) => {
      if (state.tasks.has(record.id) && !options.replaceExisting)
        throw new ConflictingIdError(record.id, this.#alias);
      this.#putEntry(state, record.id, entry);
      change.dirty = true;
    });
  }

  async updateTask(record: TaskRecord): Promise<void> {
    const entry = validEntry(record);
    await this.#enqueue(true, (state, change) => {
      if (!state.tasks.has(record.id)) throw new TaskLookupError(record.id, this.#alias);
      this.#putEntry(state, record.id, entry);
      change.dirty = true;
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
  async releaseTasks(owner: string, releases: readonly TaskRelease[]): Promise<void> {
    if (releases.length === 0) return;
    await this.#enqueue(true, (state, change) => {
      for (const release of releases) {
        const lease = state.leases.get(release.id);
        const entry = state.tasks.get(release.id);
        if (lease?.owner !== owner || entry?.record == null) continue;
        change.dirty = true;
        if ('holdUntil' in release) {
          lease.expiresAt = release.holdUntil;
          lease.held = true;
          continue;
        }
        state.leases.delete(release.id);
        if (entry.record.nextRunTime !== lease.runTime) continue;
        if (release.nextRunTime === 'remove') state.tasks.delete(release.id);
        else state.tasks.set(release.id, validEntry({ ...entry.record, nextRunTime: release.nextRunTime }));
      }
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
    if (read === 'unchanged') return this.#state as DocumentState;
    if (read === null) throw new KairosError(`FileStore: the task file '${this.path}' has disappeared`);
    return this.#adopt(read.text, read.identity).state;
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

  /** Writes the document atomically and remembers what was written. */
  async #write(state: DocumentState): Promise<void> {
    const identity = await writeAtomically(this.path, renderDocument(state));
    this.#state = state;
    this.#identity = identity;
    this.#lastWritten = identity;
  }

  /** Runs `work` holding the inter-process lock on the document. */
  async #withLock<T>(work: () => Promise<T>): Promise<T> {
    let lost: Error | null = null;
    let release: () => Promise<void>;
    try {
      release = await lockFile(this.#lockKey, {
        stale: LOCK_STALE_MS,
        update: LOCK_UPDATE_MS,
        retries: LOCK_RETRIES,
        realpath: false,
        lockfilePath: `${this.path}.lock`,
        onCompromised: (error) => {
          lost = error;
        },
      });
    } catch (error) {
      throw new KairosError(`FileStore: cannot lock '${this.path}' (${(error as Error).message})`, {
        cause: error,
      });
    }
    try {
      const result = await work();
      if (lost !== null)
        throw new KairosError(`FileStore: lost the lock on '${this.path}' while writing`, { cause: lost });
      return result;
    } finally {
      await release().catch(() => {});
    }
  }
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

/**
 * Reads the document through one file handle, so that text and identity belong together. Null if the file
 * does not exist; `'unchanged'` if its identity is `known`.
 */
async function readDocument(
  path: string,
  known: string | null = null,
): Promise<{ text: string; identity: string } | null | 'unchanged'> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    const identity = identityOf(await handle.stat({ bigint: true }));
    if (identity === known) return 'unchanged';
    return { text: await handle.readFile('utf8'), identity };
  } finally {
    await handle.close();
  }
}

let temporaries = 0;

/** Writes `text` to `path` atomically: temp file, fsync, rename, fsync of the directory. Returns the new identity. */
async function writeAtomically(path: string, text: string): Promise<string> {
  const temporary = `${path}.${process.pid}-${++temporaries}.tmp`;
  const mode = await open(path, 'r')
    .then(async (existing) => {
      try {
        return Number((await existing.stat()).mode & 0o777);
      } finally {
        await existing.close();
      }
    })
    .catch(() => 0o644);
  let identity: string;
  const handle = await open(temporary, 'wx', mode);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
    identity = identityOf(await handle.stat({ bigint: true }));
  } catch (error) {
    await handle.close();
    await unlink(temporary).catch(() => {});
    throw error;
  }
  await handle.close();
  try {
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => {});
    throw error;
  }
  await syncDirectory(dirname(path));
  return identity;
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
