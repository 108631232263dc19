/**
 * Internal to `SQLiteStore` (stores/sqlite.ts), not a public API: what the store reads and writes in one open
 * database, through the prepared statements. Each write is one `BEGIN IMMEDIATE` transaction (the store runs it
 * through its busy wait, sqlite-locking.ts). A row that cannot be read back is reported once, remembered with
 * its content and skipped until it changes; nothing is ever written to it.
 */
import { ConflictingIdError, SerializationError, TaskLookupError } from '../src/errors.js';
import { deserializeTaskBody, parseTaskText, serializeTaskBody } from '../src/serialization.js';
import {
  type AfterTriggerEntry,
  compareTaskRecords,
  type RunSlotAnswer,
  type StoreContext,
  type TaskChange,
  type TaskRecord,
  type TaskRelease,
} from '../src/store.js';
import {
  type Database,
  prepareStatements,
  type Statements,
  type TaskRow,
  type WakeupRow,
} from './sqlite-schema.js';
import { afterTriggerEntry } from './support/after-triggers.js';
import { BrokenRecords } from './support/broken-records.js';
import type { SlotOp } from './support/slot-batch.js';

/** The tags of a claim that names none. */
const NO_TAGS: readonly string[] = [];

/** The tasks and run slots of one open database (made at each `start()`). */
export class TaskTable {
  /** Leases `owner` up to `limit` due rows; one transaction. */
  readonly acquire: (owner: string, now: number, leaseMs: number, limit: number) => TaskRecord[];
  /** Ends `owner`'s leases (see `TaskStore.releaseTasks`); one transaction. */
  readonly release: (owner: string, releases: readonly TaskRelease[]) => string[];
  /** Applies a change to one task (see `TaskStore.updateTask`); one transaction. */
  readonly update: (id: string, change: TaskChange) => TaskRecord;
  /** Claims and frees run slots in call order, in one transaction; a claim's result is its `RunSlotAnswer`. */
  readonly slotOps: (ops: readonly SlotOp[], now: number) => RunSlotAnswer[];
  /** Extends `owner`'s slots for these runs; one transaction. */
  readonly renew: (owner: string, runIds: readonly string[], expiresAt: number) => void;
  /** Sets or (null) removes a tag's concurrency limit; one transaction. */
  readonly setLimit: (tag: string, limit: number | null) => void;
  /** Removes a readable task and returns it; one transaction. */
  readonly remove: (id: string) => TaskRecord;
  /** Removes every readable task and returns their ids; one transaction. */
  readonly removeAll: () => string[];
  readonly #statements: Statements;
  readonly #context: StoreContext;
  /** The database's path, for messages. */
  readonly #path: string;
  /** Rows known to be unreadable, by id, with the content they were found unreadable in. */
  readonly #broken = new BrokenRecords();

  constructor(db: Database, context: StoreContext, path: string) {
    this.#statements = prepareStatements(db);
    this.#context = context;
    this.#path = path;
    this.acquire = db.transaction(
      (owner: string, now: number, leaseMs: number, limit: number): TaskRecord[] =>
        this.#acquire(owner, now, leaseMs, limit),
    ).immediate;
    this.release = db.transaction((owner: string, releases: readonly TaskRelease[]): string[] =>
      this.#release(owner, releases),
    ).immediate;
    this.update = db.transaction(
      (id: string, change: TaskChange): TaskRecord => this.#update(id, change),
    ).immediate;
    this.slotOps = db.transaction((ops: readonly SlotOp[], now: number): RunSlotAnswer[] =>
      this.#slotOps(ops, now),
    ).immediate;
    this.renew = db.transaction((owner: string, runIds: readonly string[], expiresAt: number): void => {
      for (const runId of runIds) {
        if (this.#statements.renewSlot.run(expiresAt, runId, owner).changes > 0)
          this.#statements.renewSlotTags.run(expiresAt, runId);
      }
    }).immediate;
    this.setLimit = db.transaction((tag: string, limit: number | null): void => {
      if (limit === null) this.#statements.deleteLimit.run(tag);
      else this.#statements.setLimit.run(tag, limit);
    }).immediate;
    this.remove = db.transaction((id: string): TaskRecord => this.#remove(id)).immediate;
    this.removeAll = db.transaction((): string[] => this.#removeAll()).immediate;
  }

  /** Inserts a task whose body is already serialised (`data`); an existing id is a `ConflictingIdError`. */
  insert(record: TaskRecord, data: string): void {
    if (this.#statements.insert.run(record.id, record.nextRunTime, data).changes === 0)
      throw new ConflictingIdError(record.id, this.#context.alias);
  }

  /** The readable task with this id, if any. */
  get(id: string): TaskRecord | undefined {
    const row = this.#statements.selectOne.get(id);
    return row === undefined ? undefined : (this.#readRow(row) ?? undefined);
  }

  /** Every readable task, sorted; reads every row. */
  all(): TaskRecord[] {
    const records: TaskRecord[] = [];
    for (const row of this.#statements.selectAll.iterate()) {
      const record = this.#readRow(row);
      if (record !== null) records.push(record);
    }
    return records.sort(compareTaskRecords);
  }

  /** Reads at most a few rows through the indexes: the earliest unleased one and the leased ones. */
  earliestWakeup(): number | null {
    const scan = this.#broken.size + 1;
    const unleased = this.#firstReadable(this.#statements.earliestUnleased.all(scan));
    const leased = this.#firstReadable(this.#statements.earliestLeased.all(scan));
    if (unleased === null) return leased;
    return leased === null ? unleased : Math.min(unleased, leased);
  }

  /**
   * The database's revision: how many changes to tasks (and their leases) and run-now requests made were ever
   * committed, counted by triggers (sqlite-schema.ts). Run history and run slots leave it as it is.
   */
  revision(): number {
    return this.#statements.revision.get() ?? 0;
  }

  /** Ends every task lease these owners hold; one statement. */
  endLeasesOf(owners: ReadonlySet<string>): void {
    this.#statements.endLeasesOf.run(JSON.stringify([...owners]));
  }

  #acquire(owner: string, now: number, leaseMs: number, limit: number): TaskRecord[] {
    let batch = this.#readDue(now, limit);
    // Rows found unreadable just now took places in the batch: read it again, asking for as many more rows.
    while (batch.records.length < limit && batch.newlyBroken > 0 && !batch.exhausted) {
      batch = this.#readDue(now, limit);
    }
    const { records } = batch;
    if (records.length > 0)
      this.#statements.lease.run(owner, now + leaseMs, JSON.stringify(records.map((record) => record.id)));
    return records;
  }

  #release(owner: string, releases: readonly TaskRelease[]): string[] {
    const statements = this.#statements;
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
  }

  #update(id: string, change: TaskChange): TaskRecord {
    const row = this.#statements.selectLeased.get(id);
    if (row === undefined) throw new TaskLookupError(id, this.#context.alias);
    const current = this.#readKept(row);
    const leasedRunTime = row.lease_owner !== null && row.lease_held === 0 ? row.lease_run_time : null;
    const updated = change(current, { leasedRunTime });
    if (updated === current) return current;
    const data = JSON.stringify(serializeTaskBody(updated));
    this.#statements.update.run(updated.nextRunTime, data, id);
    return updated;
  }

  /** Every tag's concurrency limit. */
  limits(): Record<string, number> {
    const limits: Record<string, number> = {};
    for (const { tag, max_running } of this.#statements.selectLimits.iterate()) limits[tag] = max_running;
    return limits;
  }

  /** The tasks whose trigger is an after-trigger, through the partial index (rows that do not parse are left out). */
  afterTriggers(): AfterTriggerEntry[] {
    const entries: AfterTriggerEntry[] = [];
    for (const row of this.#statements.selectAfter.iterate()) {
      const entry = afterTriggerEntry(row.id, row.data);
      if (entry !== null) entries.push(entry);
    }
    return entries;
  }

  #slotOps(ops: readonly SlotOp[], now: number): RunSlotAnswer[] {
    const statements = this.#statements;
    if (ops.some((op) => op.claim !== undefined)) {
      statements.pruneSlots.run(now);
      if (ops.some((op) => op.claim?.tags !== undefined && op.claim.tags.length > 0))
        statements.pruneSlotTags.run(now);
    }
    return ops.map(({ claim, runId }) => {
      if (claim === undefined) {
        const freed = statements.deleteSlot.run(runId).changes > 0;
        if (freed) statements.deleteSlotTags.run(runId);
        return freed;
      }
      if ((statements.countSlots.get(claim.taskId, now) ?? 0) >= claim.maxInstances) return false;
      const tags = claim.tags ?? NO_TAGS;
      for (const tag of tags) {
        const limit = statements.tagLimit.get(tag);
        if (limit !== undefined && (statements.countTagSlots.get(tag, now) ?? 0) >= limit) return tag;
      }
      statements.insertSlot.run(claim.runId, claim.taskId, claim.owner, claim.expiresAt);
      for (const tag of tags) statements.insertSlotTag.run(claim.runId, tag, claim.expiresAt);
      return true;
    });
  }

  #remove(id: string): TaskRecord {
    const row = this.#statements.selectOne.get(id);
    if (row === undefined) throw new TaskLookupError(id, this.#context.alias);
    const record = this.#readKept(row);
    this.#statements.deleteOne.run(id);
    return record;
  }

  #removeAll(): string[] {
    const removed: string[] = [];
    for (const row of this.#statements.selectAll.all()) if (this.#readRow(row) !== null) removed.push(row.id);
    if (removed.length > 0) this.#statements.deleteMany.run(JSON.stringify(removed));
    return removed;
  }

  /** The record a row holds, or null if it cannot be read back (reported once, remembered, never written). */
  #readRow(row: TaskRow): TaskRecord | null {
    return this.#broken.read(
      row.id,
      rowContent(row),
      () => {
        if (typeof row.data !== 'string')
          throw new SerializationError(`task '${row.id}': its data is not text`);
        const nextRunTime = row.next_run_time as number | null;
        return deserializeTaskBody(parseTaskText(row.data, row.id), row.id, nextRunTime);
      },
      this.#context,
    );
  }

  /** The record a row holds, for a change to it; a row that cannot be read back is a `SerializationError`. */
  #readKept(row: TaskRow): TaskRecord {
    const record = this.#readRow(row);
    if (record === null)
      throw new SerializationError(
        `task '${row.id}' in '${this.#path}' cannot be read back; it is kept untouched`,
      );
    return record;
  }

  /**
   * Up to `limit` readable due rows, earliest first: asks the index for `limit` rows plus as many as are known
   * to be unreadable. `newlyBroken` counts rows this call found unreadable; `exhausted` is true when the index
   * had no more due rows to give.
   */
  #readDue(now: number, limit: number): { records: TaskRecord[]; newlyBroken: number; exhausted: boolean } {
    const knownBroken = this.#broken.size;
    const rows = this.#statements.selectDue.all({ now, limit: limit + knownBroken });
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
      if (!this.#broken.isKnown(row.id, rowContent(row))) return row.at;
    }
    return null;
  }
}

/** What a row holds, as one string: a broken row is skipped only while this stays the same. */
function rowContent(row: TaskRow): string {
  return `${String(row.next_run_time)}\u0000${typeof row.data === 'string' ? row.data : `<${typeof row.data}>`}`;
}
