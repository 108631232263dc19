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
 *   one due run, and `maxInstances` counts across all of them; so do the run history (bounded per task) and the
 *   run-now requests of the `kairos` command.
 * - A watch reports only the writes other processes need to hear of: the document's `revision` counts them, and
 *   run history, run slots and taken requests leave it as it is (file-watch.ts).
 * - A corrupt, truncated or foreign file is a `SerializationError` at `start()` naming the file, which is
 *   never overwritten. One unreadable task entry is reported, kept verbatim and skipped; an unreadable run
 *   record is kept and skipped (logged); an unreadable run request is logged and dropped at the next write.
 *
 * Each change rewrites the whole document and a wake-up scans every task: meant for up to a few thousand
 * tasks. Beyond that, or for many changes per second, use `SQLiteStore`.
 *
 * This file is the store class. Its parts, internal: the document's format in file-document.ts, its run history
 * in file-history.ts, its file (reads, atomic writes) in file-io.ts, the lock in file-lock.ts, the operation queue
 * in file-queue.ts, what its watch reports in file-watch.ts; what it shares with `SQLiteStore` (path checks,
 * watch, unreadable records, leases ended at close, reading run records back) in support/.
 */
import { basename, dirname, resolve } from 'node:path';
import { ConflictingIdError, TaskLookupError, ValueError } from '../src/errors.js';
import {
  RUN_REQUEST_MAX_AGE_MS,
  type RunNowRequest,
  type RunQuery,
  type StoredRunRecord,
} from '../src/history.js';
import {
  type AcquireOptions,
  type AfterTriggerEntry,
  compareTaskRecords,
  copyTaskRecord,
  type RunSlotAnswer,
  type RunSlotClaim,
  type SharedTaskStore,
  type StoreContext,
  type TaskChange,
  type TaskRecord,
  type TaskRelease,
} from '../src/store.js';
import type { DurationInput } from '../src/time.js';
import { AfterTrigger } from '../src/triggers/after.js';
import { describeValue } from '../src/validate.js';
import {
  type DocumentState,
  dueRecords,
  emptyState,
  FILE_STORE_VERSION,
  freesLimitedTag,
  keptError,
  parseDocument,
  type RunSlot,
  readableRecords,
  renderDocument,
  type TaskEntry,
  validEntry,
  wakeupOf,
} from './file-document.js';
import { appendRunEntries, pruneRunEntries, queryRuns, recordEntry } from './file-history.js';
import {
  checkDocumentPresent,
  documentDeletedError,
  fileIdentity,
  readDocument,
  syncDirectory,
  writeAtomically,
} from './file-io.js';
import { DocumentLock, parseLockStale } from './file-lock.js';
import { type Change, OperationQueue } from './file-queue.js';
import { readRevision, WatchedRevisions } from './file-watch.js';
import { BrokenRecords } from './support/broken-records.js';
import { checkStoreOptions, notStartedError } from './support/guards.js';
import { LeaseOwners } from './support/lease-owners.js';
import { readRunRequest, storedText, UnreadableRuns } from './support/run-records.js';
import { prepareStorePath } from './support/store-path.js';
import { StoreWatches } from './support/watch.js';

export { FILE_STORE_FORMAT, FILE_STORE_VERSION } from './file-document.js';

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

const OPTION_KEYS: ReadonlySet<string> = new Set(['path', 'lockStale']);
/** Permission bits of a new document. */
const DEFAULT_MODE = 0o644;

/**
 * Keeps tasks in one JSON file. `persistent` (functions are stored by name, args as JSON) and `shared`
 * (several processes on one machine may use one file at once).
 * @example new Scheduler({ stores: { default: new FileStore({ path: './data/tasks.json' }) }, functions: { report } })
 */
export class FileStore implements SharedTaskStore {
  readonly persistent = true;
  readonly shared = true;
  /** The document's absolute path. */
  readonly path: string;
  /** `lockStale` in ms. */
  readonly lockStaleMs: number;
  /** The inter-process lock on the document. */
  readonly #lock: DocumentLock;
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
  /** The store's operations, a round at a time: a read, or the writes queued together under one lock. */
  readonly #queue = new OperationQueue<DocumentState>({
    read: () => this.#fresh(),
    write: async (apply) => {
      await checkDocumentPresent(this.path);
      await this.#withLock(async () => {
        const state = await this.#fresh();
        const read = state.revision;
        const change = apply(state);
        if (!change.dirty) return;
        if (!change.quiet) state.revision = read + 1;
        await this.#write(state);
        this.#revisions.wrote(read, state.revision);
      });
    },
    failed: () => {
      this.#state = null;
    },
  });
  /** Owners that acquired tasks through this instance: their leases end at `close()`. */
  readonly #owners = new LeaseOwners();
  /** Broken entries already reported, with the text they were reported for. */
  readonly #broken = new BrokenRecords();
  readonly #watches = new StoreWatches();
  /** The revisions of the document each watch has accounted for (file-watch.ts). */
  readonly #revisions = new WatchedRevisions();
  /** Stored run records found unreadable, each logged once. */
  readonly #unreadableRuns = new UnreadableRuns('FileStore');
  /** Run requests found unreadable (dropped), by id, with the text each was logged for, so each is logged once. */
  readonly #droppedRequests = new Map<string, string>();

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
    this.#lock = new DocumentLock(this.path, this.lockStaleMs);
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
    this.#broken.clear();
    this.#droppedRequests.clear();
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
    this.#watches.stopAll();
    this.#revisions.clear();
    try {
      await this.#owners.close(async (owners) => {
        if (this.#context !== null && owners.size > 0) await this.#endLeasesOf(owners);
        await this.#queue.idle;
      });
    } finally {
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

  /**
   * Run-slot changes are quiet (no other process's watch hears of them), but for freeing a slot (or one that
   * expired) of a tag that has a concurrency limit: runs waiting for the tag elsewhere then try again.
   */
  async claimRunSlot(claim: RunSlotClaim): Promise<RunSlotAnswer> {
    const { taskId, runId, owner, expiresAt, maxInstances } = claim;
    const tags = claim.tags ?? [];
    return this.#enqueue(true, (state, change) => {
      change.quiet = true;
      const now = Date.now();
      let live = 0;
      const liveByTag = new Map<string, number>();
      for (const [id, slot] of state.runSlots) {
        if (slot.expiresAt <= now) {
          state.runSlots.delete(id);
          change.dirty = true;
          if (freesLimitedTag(state.tagLimits, slot)) change.quiet = false;
          continue;
        }
        if (slot.taskId === taskId) live++;
        if (tags.length > 0 && slot.tags !== undefined) {
          for (const tag of slot.tags) liveByTag.set(tag, (liveByTag.get(tag) ?? 0) + 1);
        }
      }
      if (live >= maxInstances) return false;
      for (const tag of tags) {
        const limit = state.tagLimits.get(tag);
        if (limit !== undefined && (liveByTag.get(tag) ?? 0) >= limit) return tag;
      }
      const slot: RunSlot = { taskId, owner, expiresAt };
      if (tags.length > 0) slot.tags = [...tags];
      state.runSlots.set(runId, slot);
      change.dirty = true;
      return true;
    });
  }

  async renewRunSlots(owner: string, runIds: readonly string[], expiresAt: number): Promise<void> {
    if (runIds.length === 0) return;
    await this.#enqueue(true, (state, change) => {
      change.quiet = true;
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
      const slot = state.runSlots.get(runId);
      change.quiet = slot === undefined || !freesLimitedTag(state.tagLimits, slot);
      change.dirty = state.runSlots.delete(runId);
    });
  }

  async getConcurrencyLimits(): Promise<Record<string, number>> {
    return this.#enqueue(false, (state) => Object.fromEntries(state.tagLimits));
  }

  /** Other processes' watches hear of it. */
  async setConcurrencyLimit(tag: string, limit: number | null): Promise<void> {
    await this.#enqueue(true, (state, change) => {
      if (limit === null) change.dirty = state.tagLimits.delete(tag);
      else if (state.tagLimits.get(tag) !== limit) {
        state.tagLimits.set(tag, limit);
        change.dirty = true;
      }
    });
  }

  /** Reads the document (its task entries hold their records already). */
  async getAfterTriggers(): Promise<AfterTriggerEntry[]> {
    return this.#enqueue(false, (state) => {
      const entries: AfterTriggerEntry[] = [];
      for (const [id, entry] of state.tasks) {
        if (entry.record?.trigger instanceof AfterTrigger)
          entries.push({ id, tasks: [...entry.record.trigger.tasks] });
      }
      return entries;
    });
  }

  /** One locked read-modify-write of the document for the batch; quiet (see `watch`). */
  async appendRuns(records: readonly StoredRunRecord[], perTask: number): Promise<void> {
    if (records.length === 0) return;
    const entries = records.map(recordEntry);
    await this.#enqueue(true, (state, change) => {
      change.quiet = true;
      change.dirty = appendRunEntries(state, entries, perTask);
    });
  }

  /** Reads every record of the document; one that cannot be read back is left out, and logged once. */
  async getRuns(query: RunQuery): Promise<StoredRunRecord[]> {
    return this.#enqueue(false, (state) =>
      queryRuns(state, query, (key, error) => this.#unreadableRuns.skip(key, error, this.#context?.logger)),
    );
  }

  async pruneRuns(endedBefore: number, keep: number): Promise<number> {
    return this.#enqueue(true, (state, change) => {
      change.quiet = true;
      const pruned = pruneRunEntries(state, endedBefore, keep);
      change.dirty = pruned > 0;
      return pruned;
    });
  }

  /** A request whose id is stored already is left as it is. Other processes' watches hear of it. */
  async requestRun(request: RunNowRequest): Promise<void> {
    const stored = readRunRequest(JSON.parse(storedText(request)));
    await this.#enqueue(true, (state, change) => {
      if (state.runRequests.has(stored.requestId)) return;
      state.runRequests.set(stored.requestId, stored);
      change.dirty = true;
    });
  }

  /** Takes the lock only when there are requests; taking them is quiet (see `watch`). */
  async takeRunRequests(now: number): Promise<RunNowRequest[]> {
    const anyRequest = await this.#enqueue(false, (state) => state.runRequests.size > 0);
    if (!anyRequest) return [];
    return this.#enqueue(true, (state, change) => {
      change.quiet = true;
      const cutoff = now - RUN_REQUEST_MAX_AGE_MS;
      const taken = [...state.runRequests.values()].filter((request) => request.requestedAt >= cutoff);
      change.dirty = state.runRequests.size > 0;
      state.runRequests.clear();
      return taken.sort((a, b) => a.requestedAt - b.requestedAt);
    });
  }

  async hasRunRequest(requestId: string): Promise<boolean> {
    return this.#enqueue(false, (state) => state.runRequests.has(requestId));
  }

  /** Quiet (see `watch`). */
  async cancelRunRequest(requestId: string): Promise<boolean> {
    return this.#enqueue(true, (state, change) => {
      change.quiet = true;
      change.dirty = state.runRequests.delete(requestId);
      return change.dirty;
    });
  }

  /**
   * Calls `listener` (debounced) when another process rewrites the document with a change to its tasks, task
   * leases or run requests, seen through `fs.watch` on its directory (the document is replaced by rename, so the
   * file itself cannot be watched) and confirmed by the `revision` at the head of the file: this instance's own
   * writes, and quiet ones (run history, run slots, requests taken or cancelled), are not reported. Like the
   * scheduler's timer, a watch keeps the process alive (a worker waiting for tasks another process adds) until
   * it is stopped; `close()` stops it too. Returns a function that stops watching.
   */
  watch(listener: () => void): () => void {
    const watched = this.#revisions.add(this.#state?.revision ?? null);
    const target = {
      store: 'FileStore',
      path: this.path,
      files: [basename(this.path)],
      logger: () => this.#context?.logger,
      isForeign: async () => {
        const revision = await readRevision(this.path);
        if (revision !== null) return this.#revisions.report(watched, revision);
        // No revision where this release writes it (a file laid out by hand): any other writer's change counts.
        const identity = await fileIdentity(this.path);
        return identity !== null && identity !== this.#lastWritten;
      },
    };
    const stop = this.#watches.watch(target, listener);
    return () => {
      stop();
      this.#revisions.delete(watched);
    };
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

  /** Queues an operation (see `OperationQueue`); fails at once if the store is not started. */
  #enqueue<T>(write: boolean, run: (state: DocumentState, change: Change) => T): Promise<T> {
    if (this.#context === null) return Promise.reject(notStartedError('FileStore', this.path));
    return this.#queue.enqueue(write, run);
  }

  /** The document as it is on disk now (re-read only if the file changed). */
  async #fresh(): Promise<DocumentState> {
    const read = await readDocument(this.path, this.#state === null ? null : this.#identity);
    if (read === null) throw documentDeletedError(this.path);
    this.#mode = read.mode;
    if (read.text === null) return this.#state as DocumentState;
    return this.#adopt(read.text, read.identity).state;
  }

  /**
   * Makes a document text the current state, reusing unchanged entries and reporting new unreadable ones. A run
   * request that cannot be read back is logged (once) and left out of the state: it never runs, and the next
   * write removes it from the file.
   */
  #adopt(text: string, identity: string): { state: DocumentState; version: number } {
    const { state, version, dropped } = parseDocument(text, this.path, this.#state);
    for (const [id, entry] of state.tasks) {
      if (entry.error !== null) this.#broken.report(id, entry.text, entry.error, this.#context);
    }
    for (const { id, text: requestText, error } of dropped) {
      if (this.#droppedRequests.get(id) === requestText) continue;
      this.#droppedRequests.set(id, requestText);
      this.#context?.logger.warn(
        { err: error, requestId: id },
        `FileStore: run request '${id}' in '${this.path}' cannot be read back (${error.message}); it is dropped`,
      );
    }
    this.#state = state;
    this.#identity = identity;
    return { state, version };
  }

  /** Stores a new version of a task; a hold on it ends (it changed, so it is worth trying again), a lease stays. */
  #putEntry(state: DocumentState, id: string, entry: TaskEntry): void {
    state.tasks.set(id, entry);
    if (state.leases.get(id)?.held) state.leases.delete(id);
    this.#broken.forget(id);
  }

  /**
   * Writes the document atomically (temp file, fsync, rename) and remembers what was written. The directory's
   * fsync is left to `#withLock`, after the lock is released.
   */
  async #write(state: DocumentState): Promise<void> {
    const identity = await writeAtomically(this.path, renderDocument(state), this.#mode, () =>
      this.#lock.assertHeld(),
    );
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
  #withLock<T>(work: () => Promise<T>): Promise<T> {
    return this.#lock.run(work, async () => {
      if (this.#renamed) {
        this.#renamed = false;
        await syncDirectory(dirname(this.path));
      }
    });
  }
}
