import { ConflictingIdError, TaskLookupError, ValueError } from '../src/errors.js';
import { MinHeap } from '../src/heap.js';
import { compareNewestFirst, matchesRunQuery, type RunQuery, type StoredRunRecord } from '../src/history.js';
import {
  type AcquireOptions,
  type AfterTriggerEntry,
  compareTaskRecords,
  copyTaskRecord,
  type LocalTaskStore,
  type StoreContext,
  type TaskChange,
  type TaskRecord,
  type TaskRelease,
} from '../src/store.js';
import { AfterTrigger } from '../src/triggers/after.js';
import { checkOptions } from '../src/validate.js';

const NO_OPTIONS: ReadonlySet<string> = new Set();

/** Stale heap entries tolerated beyond twice the number of tasks before the heap is rebuilt. */
const COMPACT_SLACK = 1024;

/** A heap entry: valid only while `generation` matches the task's current one (lazy deletion). */
interface HeapEntry {
  id: string;
  generation: number;
}

/** A stored task with its bookkeeping. */
interface StoredTask {
  record: TaskRecord;
  /** Bumped whenever `record.nextRunTime` changes, so older heap entries become stale. */
  generation: number;
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
export class MemoryStore implements LocalTaskStore {
  readonly persistent = false;
  readonly shared = false;
  /** Tasks by id. */
  #tasks = new Map<string, StoredTask>();
  /** Unleased scheduled tasks by next run time; may hold stale entries (see `HeapEntry`). */
  #due = new MinHeap<HeapEntry>();
  /** Ids of tasks under a task lease (out of the heap until released). */
  #leased = new Set<string>();
  /** Source of generations: never reused, so a heap entry of a removed task can never match a new one. */
  #lastGeneration = 0;

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
    const existing = this.#tasks.get(id);
    if (existing === undefined) throw new TaskLookupError(id);
    this.#tasks.delete(id);
    this.#leased.delete(id);
    this.#compactIfStale();
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
    for (const record of records) {
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
    let earliest = this.#peekValid();
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
      const time = this.#peekValid();
      if (time === null || time > now) break;
      const entry = this.#due.pop() as HeapEntry;
      const stored = this.#tasks.get(entry.id) as StoredTask;
      stored.lease = { owner, expiresAt: now + leaseMs, runTime: stored.record.nextRunTime, held: false };
      this.#leased.add(entry.id);
      acquired.push(stored.record);
    }
    return acquired;
  }

  async releaseTasks(owner: string, releases: readonly TaskRelease[]): Promise<string[]> {
    const released: string[] = [];
    for (const release of releases) {
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

  /** Stores `record`, keeping a lease that is in force, and files it in the heap if it is scheduled and unleased. */
  #put(record: TaskRecord, existing: StoredTask | undefined): void {
    const stored: StoredTask = {
      record,
      generation: ++this.#lastGeneration,
      lease: existing?.lease ?? null,
    };
    this.#tasks.set(record.id, stored);
    if (record.nextRunTime !== null && stored.lease === null) {
      this.#due.push(record.nextRunTime, { id: record.id, generation: stored.generation });
      this.#compactIfStale();
    }
  }

  /**
   * Rebuilds the heap once stale entries (of removed, changed or leased tasks) outnumber the tasks, so that
   * adding and removing tasks for ever keeps memory bounded by the tasks that exist. Amortised O(1) per change.
   */
  #compactIfStale(): void {
    if (this.#due.size <= 2 * this.#tasks.size + COMPACT_SLACK) return;
    this.#due.clear();
    for (const stored of this.#tasks.values()) {
      const { record } = stored;
      if (record.nextRunTime !== null && stored.lease === null) {
        this.#due.push(record.nextRunTime, { id: record.id, generation: stored.generation });
      }
    }
  }

  /** The smallest next run time among valid heap entries, dropping stale ones on the way. */
  #peekValid(): number | null {
    for (;;) {
      const entry = this.#due.peek();
      if (entry === undefined) return null;
      const stored = this.#tasks.get(entry.id);
      if (stored !== undefined && stored.generation === entry.generation && stored.lease === null) {
        return this.#due.peekKey() as number;
      }
      this.#due.pop();
    }
  }
}
