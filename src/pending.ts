/**
 * Tasks added before `start()`: kept in memory, readable and changeable like stored ones, and written to their
 * stores when the scheduler starts.
 */
import { declareTask } from './declaration.js';
import { ValueError } from './errors.js';
import type { Reports } from './reports.js';
import { copyTaskRecord, type TaskRecord, type TaskStore } from './store.js';
import { rescheduledRunTime } from './task.js';
import { ShutdownTrigger } from './triggers/shutdown.js';

/** A task added before `start()`, waiting to be written to its store. */
export interface PendingTask {
  record: TaskRecord;
  /** The alias of the store it goes to. */
  store: string;
  /** Added with `replaceExisting`: written at start as a declaration. */
  replaceExisting: boolean;
  /** True if the user gave `nextRunTime`; otherwise it is computed at start. */
  explicitNextRunTime: boolean;
}

/** The pending tasks of a scheduler, by store alias and id. */
export class PendingTasks {
  readonly #byKey = new Map<string, PendingTask>();

  /** How many tasks are pending. */
  get size(): number {
    return this.#byKey.size;
  }

  /** True if a task with this id is pending for this store. */
  has(alias: string, id: string): boolean {
    return this.#byKey.has(taskKey(alias, id));
  }

  /** Adds or replaces a pending task. */
  set(task: PendingTask): void {
    this.#byKey.set(taskKey(task.store, task.record.id), task);
  }

  /** Drops a pending task. */
  delete(alias: string, id: string): void {
    this.#byKey.delete(taskKey(alias, id));
  }

  /** The pending task with this id, in the named store or the first that has it. */
  find(id: string, alias: string | undefined): PendingTask | undefined {
    if (alias !== undefined) return this.#byKey.get(taskKey(alias, id));
    for (const task of this.#byKey.values()) if (task.record.id === id) return task;
    return undefined;
  }

  /** Every pending task, in the order added. */
  values(): IterableIterator<PendingTask> {
    return this.#byKey.values();
  }

  /**
   * Writes every pending task to its store (at start), its first run time computed from `now` unless the user
   * gave one; a declaration (`replaceExisting`) keeps a stored task with the same definition as it is. A task
   * whose trigger has no fire time left by now is reported and not written. `written` hears of each task
   * written, with the record as stored; `check` may refuse a task before it is written (it throws).
   */
  async writeAll(
    now: Date,
    storeOf: (alias: string) => TaskStore,
    reports: Reports,
    written: (alias: string, record: TaskRecord) => void,
    check: (alias: string, record: TaskRecord) => void = () => {},
  ): Promise<void> {
    for (const pending of [...this.#byKey.values()]) {
      const { record: declared, store: alias } = pending;
      let record = declared;
      if (!pending.explicitNextRunTime) {
        const first = rescheduledRunTime(declared.trigger, now, null, declared.id);
        if (first === null && !(declared.trigger instanceof ShutdownTrigger)) {
          this.delete(alias, declared.id);
          const error = new ValueError(
            `task '${declared.id}': its trigger has no fire time left at start; it was not added`,
          );
          reports.taskError(alias, declared.id, now, error, error.message);
          continue;
        }
        record = copyTaskRecord(declared, first);
      }
      const store = storeOf(alias);
      check(alias, record);
      const stored = pending.replaceExisting
        ? (await declareTask(store, record, pending.explicitNextRunTime, now)).record
        : await store.addTask(record).then(() => record);
      this.delete(alias, declared.id);
      written(alias, stored);
    }
  }

  /** Takes every pending task of a store out; returns their ids. */
  takeStore(alias: string): string[] {
    const ids: string[] = [];
    for (const [key, task] of this.#byKey) {
      if (task.store !== alias) continue;
      this.#byKey.delete(key);
      ids.push(task.record.id);
    }
    return ids;
  }
}

function taskKey(alias: string, id: string): string {
  return `${alias}\u0000${id}`;
}
