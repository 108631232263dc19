import { ConflictingIdError, TaskLookupError, ValueError } from '../src/errors.js';
import { type HeapPosition, MinHeap } from '../src/heap.js';
import { compareNewestFirst, matchesRunQuery, type RunQuery, type StoredRunRecord } from '../src/history.js';
import {
  type AcquireOptions,
  type AfterTriggerEntry,
  compareTaskRecords,
  copyTaskRecord,
  type ImmediateTaskStore,
  type LocalTaskStore,
  type StoreContext,
  type TaskChange,
  type TaskRecord,
  type TaskRelease,
} from '../src/store.js';
import { AfterTrigger } from '../src/triggers/after.js';
import { checkOptions } from '../src/validate.js';

const NO_OPTIONS: ReadonlySet<string> = new Set();

/** A stored task with its bookkeeping; in the due heap (at `heapIndex`) while scheduled and unleased. */
interface StoredTask extends HeapPosition {
  record: TaskRecord;
  /**
   * The owner and expiry of a task lease, if leased, with the next run time it was acquired with (a release
   * yields if that changed meanwhile); `held` for a parked task (`holdUntil`).
   */
  lease: { owner: string; expiresAt: number; runTime: number | null; held: boolean } | null;
}

/** A run record with the order it was appended in. */
interface SequencedRun {
  record: StoredRunRecord;
  sequence: number;
  endedAt: number;
}

/**
 * Keeps tasks in process memory: fast, holds any function (closures, lifecycle generators), gone at exit.
 * Due tasks come off a min-heap on next run time, so a wake-up costs O(due · log n), never a scan.
 */
export class MemoryStore implements LocalTaskStore, ImmediateTaskStore {
  readonly persistent = false;
  readonly shared = false;
  /** Tasks by id. */
  #tasks = new Map<string, StoredTask>();
  /** Unleased scheduled tasks by next run time (exactly those: a change or removal takes a task out). */
  #due = new MinHeap<StoredTask>();
  /** Ids of tasks under a task lease (out of the heap until released). */
  #leased = new Set<string>();

  /** Run history: each task's records, oldest first, with the order they were appended in. */
  #runs = new Map<string, SequencedRun[]>();
  /** Run ids in `#runs`, so a record appended twice is kept once. */
  #runIds = new Set<string>();
  /** Numbers appended records. */
  #runSequence = 0;

  /** The alias the scheduler gave this store, for error messages. */
  #alias = 'default';

  /** True between `start()` and `close()`. */
  #open = false;

  /** Takes no options; anything given is a `ValueError` (a typo is never silently ignored). */
  constructor(options: Record<string, never> = {}) {
    checkOptions(options as unknown, NO_OPTIONS, 'MemoryStore');
  }

  /**
   * Opens the store for one scheduler. It is not shared (`maxInstances` is counted by the scheduler using
   * it), so a store already open in another scheduler is a `ValueError`.
   */
  async start(context: StoreContext): Promise<void> {
    if (this.#open) {
      throw new ValueError(
        `MemoryStore '${context.alias}': this store is already open in a scheduler (as '${this.#alias}'); a MemoryStore serves one scheduler at a time`,
      );
    }
    this.#open = true;
    this.#alias = context.alias;
  }

  async close(): Promise<void> {
    this.#open = false;
  }

  async addTask(record: TaskRecord): Promise<void> {
    this.#add(record);
  }

  /** `addTask` without a promise (the scheduler's fast path while nothing else is queued on this store). */
  addTaskNow(record: TaskRecord): void {
    this.#add(record);
  }

  #add(record: TaskRecord): void {
    if (this.#tasks.has(record.id)) throw new ConflictingIdError(record.id, this.#alias);
    this.#put(record, undefined);
  }

  /** Applies `change` to the task; a new version ends a hold on it (a parked task), since the record changed. */
  async updateTask(id: string, change: TaskChange): Promise<TaskRecord> {
    const existing = this.#tasks.get(id);
    if (existing === undefined) throw new TaskLookupError(id, this.#alias);
    const lease = existing.lease;
    const leasedRunTime = lease !== null && !lease.held ? lease.runTime : null;
    const updated = change(existing.record, { leasedRunTime });
    if (updated === existing.record) return updated;
    if (lease?.held) {
      existing.lease = null;
      this.#leased.delete(id);
    }
    this.#put(updated, existing);
    return updated;
  }

  async removeTask(id: string): Promise<TaskRecord> {
    const removed = this.#remove(id);
    if (removed === undefined) throw new TaskLookupError(id);
    return removed;
  }

  /** `removeTask` without a promise: the removed task, or undefined for an unknown id. */
  removeTaskNow(id: string): TaskRecord | undefined {
    return this.#remove(id);
  }

  #remove(id: string): TaskRecord | undefined {
    const existing = this.#tasks.get(id);
    if (existing === undefined) return undefined;
    this.#tasks.delete(id);
    if (existing.lease !== null) this.#leased.delete(id);
    this.#due.remove(existing);
    return existing.record;
  }

  async removeAllTasks(): Promise<string[]> {
    const ids = [...this.#tasks.keys()];
    this.#tasks.clear();
    this.#leased.clear();
    this.#due.clear();
    return ids;
  }

  async getTask(id: string): Promise<TaskRecord | undefined> {
    return this.#tasks.get(id)?.record;
  }

  async getTasks(): Promise<TaskRecord[]> {
    return [...this.#tasks.values()].map((stored) => stored.record).sort(compareTaskRecords);
  }

  /** Reads every task (the scheduler asks once, at start, and keeps its own index of the changes it makes). */
  async getAfterTriggers(): Promise<AfterTriggerEntry[]> {
    const entries: AfterTriggerEntry[] = [];
    for (const { record } of this.#tasks.values()) {
      if (record.trigger instanceof AfterTrigger)
        entries.push({ id: record.id, tasks: [...record.trigger.tasks] });
    }
    return entries;
  }

  async appendRuns(records: readonly StoredRunRecord[], perTask: number): Promise<void> {
    const touched = new Set<SequencedRun[]>();
    for (let index = 0; index < records.length; index++) {
      const record = records[index] as StoredRunRecord;
      if (this.#runIds.has(record.runId)) continue;
      let runs = this.#runs.get(record.taskId);
      if (runs === undefined) {
        runs = [];
        this.#runs.set(record.taskId, runs);
      }
      runs.push({ record, sequence: ++this.#runSequence, endedAt: record.endedAt });
      this.#runIds.add(record.runId);
      touched.add(runs);
    }
    for (const runs of touched) {
      if (runs.length <= perTask) continue;
      for (const dropped of runs.splice(0, runs.length - perTask)) this.#runIds.delete(dropped.record.runId);
    }
  }

  async getRuns(query: RunQuery): Promise<StoredRunRecord[]> {
    const lists =
      query.taskId === undefined ? [...this.#runs.values()] : [this.#runs.get(query.taskId) ?? []];
    const found: SequencedRun[] = [];
    for (const runs of lists) for (const run of runs) if (matchesRunQuery(run.record, query)) found.push(run);
    return found
      .sort(compareNewestFirst)
      .slice(0, query.limit)
      .map((run) => run.record);
  }

  async pruneRuns(endedBefore: number, keep: number): Promise<number> {
    const orphans: SequencedRun[] = [];
    for (const [taskId, runs] of this.#runs) if (!this.#tasks.has(taskId)) orphans.push(...runs);
    orphans.sort(compareNewestFirst);
    const doomed = new Set(orphans.filter((run, index) => index >= keep || run.endedAt < endedBefore));
    if (doomed.size === 0) return 0;
    for (const [taskId, runs] of this.#runs) {
      if (this.#tasks.has(taskId)) continue;
      const kept = runs.filter((run) => !doomed.has(run));
      if (kept.length === 0) this.#runs.delete(taskId);
      else this.#runs.set(taskId, kept);
    }
    for (const run of doomed) this.#runIds.delete(run.record.runId);
    return doomed.size;
  }

  async earliestWakeup(_owner: string): Promise<number | null> {
    let earliest = this.#due.peekKey() ?? null;
    for (const id of this.#leased) {
      const stored = this.#tasks.get(id);
      if (stored?.lease == null || stored.record.nextRunTime === null) continue;
      // A leased task can be acquired again once its lease expired and it is due.
      const reacquirable = Math.max(stored.lease.expiresAt, stored.record.nextRunTime);
      if (earliest === null || reacquirable < earliest) earliest = reacquirable;
    }
    return earliest;
  }

  async acquireDueTasks({ owner, now, leaseMs, limit }: AcquireOptions): Promise<TaskRecord[]> {
    const acquired: TaskRecord[] = [];
    // Leases that expired without a release (their owner died) make those tasks due again.
    for (const id of this.#leased) {
      const stored = this.#tasks.get(id);
      if (acquired.length >= limit) break;
      const nextRunTime = stored?.record.nextRunTime ?? null;
      if (stored?.lease && stored.lease.expiresAt <= now && nextRunTime !== null && nextRunTime <= now) {
        stored.lease = { owner, expiresAt: now + leaseMs, runTime: nextRunTime, held: false };
        acquired.push(stored.record);
      }
    }
    while (acquired.length < limit) {
      const time = this.#due.peekKey();
      if (time === undefined || time > now) break;
      const stored = this.#due.pop() as StoredTask;
      stored.lease = { owner, expiresAt: now + leaseMs, runTime: stored.record.nextRunTime, held: false };
      this.#leased.add(stored.record.id);
      acquired.push(stored.record);
    }
    return acquired;
  }

  async releaseTasks(owner: string, releases: readonly TaskRelease[]): Promise<string[]> {
    const released: string[] = [];
    // An indexed loop: a burst's releases run before V8 optimises this (`for…of` costs ~0.5 µs an item till then).
    for (let index = 0; index < releases.length; index++) {
      const release = releases[index] as TaskRelease;
      const stored = this.#tasks.get(release.id);
      const lease = stored?.lease;
      if (stored === undefined || lease == null || lease.owner !== owner) continue;
      released.push(release.id);
      if ('holdUntil' in release) {
        stored.lease = { owner, expiresAt: release.holdUntil, runTime: lease.runTime, held: true };
        continue;
      }
      const { id, nextRunTime } = release;
      stored.lease = null;
      this.#leased.delete(id);
      // A change made while the task was leased (a pause, a new trigger) wins over the release.
      if (stored.record.nextRunTime !== lease.runTime) {
        this.#put(stored.record, stored);
        continue;
      }
      if (nextRunTime === 'remove') {
        this.#tasks.delete(id);
        continue;
      }
      this.#put(copyTaskRecord(stored.record, nextRunTime), stored);
    }
    return released;
  }

  /**
   * Stores `record` (a new task, or a new version of `existing`, keeping a lease that is in force), and files it
   * in the due heap if it is scheduled and unleased.
   */
  #put(record: TaskRecord, existing: StoredTask | undefined): void {
    let stored = existing;
    if (stored === undefined) {
      stored = { record, lease: null, heapIndex: -1 };
      this.#tasks.set(record.id, stored);
    } else {
      stored.record = record;
      this.#due.remove(stored);
    }
    if (record.nextRunTime !== null && stored.lease === null) this.#due.push(record.nextRunTime, stored);
  }
}
