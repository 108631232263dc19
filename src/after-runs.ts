/**
 * Tasks that run after others (API.md "Task composition", `AfterTrigger`): which tasks of each store wait for
 * which, and what happens when a run of one they wait for ends.
 *
 * The scheduler that ran the upstream run changes each dependent task atomically in its store (`updateTask`):
 * the upstream task is noted in the dependent's trigger, and once every one it waits for is noted, the dependent
 * becomes due now. Its run is then dispatched like any other, by exactly one scheduler of those sharing the store;
 * since only the scheduler that ran the upstream run makes the change, a dependent runs once per satisfied
 * condition, fleet-wide. A condition satisfied again before the dependent's pending fire was dispatched is part
 * of that fire (as `coalesce` would make it).
 *
 * The index of who waits for whom is read from each store at start (`getAfterTriggers`), kept up to date with
 * this scheduler's own changes, and read again when another process changed a shared store (its watch).
 */
import { ValueError } from './errors.js';
import type { Reports } from './reports.js';
import { type AfterTriggerEntry, copyTaskRecord, type TaskRecord, type TaskStore } from './store.js';
import { AFTER_IDLE, AfterTrigger } from './triggers/after.js';
import type { Trigger } from './triggers/trigger.js';

/** Who waits for whom in one store. */
interface StoreIndex {
  /** The upstream tasks of each task with an after-trigger. */
  upstreamOf: Map<string, readonly string[]>;
  /** The tasks waiting for each upstream task. */
  dependentsOf: Map<string, Set<string>>;
  /** The tasks on a cycle of after-triggers found in the store as read (this scheduler never writes one). */
  cyclic: Set<string>;
}

/** What the after-trigger index needs from its scheduler. */
export interface AfterRunsContext {
  reports: Reports;
  /** The store of an alias, if it is still there. */
  store(alias: string): TaskStore | undefined;
  /** A dependent became due at `nextRunTime`: wake the store's dispatch no later than then. */
  due(alias: string, nextRunTime: number): void;
}

/** The after-trigger index of every store of a scheduler, and the changes upstream runs make. */
export class AfterRuns {
  readonly #context: AfterRunsContext;
  readonly #stores = new Map<string, StoreIndex>();
  /** How many tasks with an after-trigger the index holds, over every store (none: a run costs nothing here). */
  #dependents = 0;
  /** Tasks on a cycle already reported, by store alias and id. */
  readonly #reportedCycles = new Set<string>();
  /** Stores whose index is being read again, and those to read once more after. */
  readonly #refreshing = new Set<string>();
  readonly #refreshAgain = new Set<string>();

  constructor(context: AfterRunsContext) {
    this.#context = context;
  }

  /** Reads a store's index (at start); a failure is reported and leaves the index as it was. */
  async load(alias: string, store: TaskStore): Promise<void> {
    try {
      this.#replace(alias, await store.getAfterTriggers());
    } catch (error) {
      this.#context.reports.log('error', { err: error, store: alias }, 'reading the after-triggers failed');
    }
  }

  /** Reads a shared store's index again after another process changed it; coalesced per store. */
  refresh(alias: string): void {
    if (this.#refreshing.has(alias)) {
      this.#refreshAgain.add(alias);
      return;
    }
    const store = this.#context.store(alias);
    if (store === undefined) return;
    this.#refreshing.add(alias);
    void this.load(alias, store).finally(() => {
      this.#refreshing.delete(alias);
      if (this.#refreshAgain.delete(alias)) this.refresh(alias);
    });
  }

  /** Forgets a removed store. */
  dropStore(alias: string): void {
    this.#dependents -= this.#stores.get(alias)?.upstreamOf.size ?? 0;
    this.#stores.delete(alias);
  }

  /** Notes this scheduler's own change of a task: its trigger now (null: the task is gone). */
  noteTask(alias: string, taskId: string, trigger: Trigger | null): void {
    // No task waits for another (the usual case): nothing to unlink, and nothing to link unless this one does.
    if (this.#dependents === 0 && !(trigger instanceof AfterTrigger)) return;
    const index = this.#index(alias);
    this.#unlink(index, taskId);
    if (trigger instanceof AfterTrigger) this.#link(index, taskId, trigger.tasks);
    if (index.cyclic.size > 0) this.#findCycles(alias, index);
  }

  /**
   * Throws a `ValueError` naming the cycle if task `taskId` of the store waiting for `trigger`'s tasks would
   * close a cycle of after-triggers (a task waiting, through others, for itself).
   */
  checkCycle(alias: string, taskId: string, trigger: Trigger): void {
    if (!(trigger instanceof AfterTrigger)) return;
    const cycle = this.#cycleThrough(alias, taskId, trigger.tasks);
    if (cycle !== null) throw cycleError(taskId, cycle);
  }

  /**
   * After this scheduler wrote an after-trigger to a shared store: reads the store's index again (with what other
   * processes wrote meanwhile) and throws the `ValueError` of a cycle through the task, if there is one now. Of two
   * processes that each wrote half of a cycle at once, the second to read sees both halves.
   */
  async checkCycleInStore(alias: string, store: TaskStore, taskId: string): Promise<void> {
    await this.load(alias, store);
    const upstream = this.#stores.get(alias)?.upstreamOf.get(taskId);
    if (upstream === undefined) return;
    const cycle = this.#cycleThrough(alias, taskId, upstream);
    if (cycle !== null) throw cycleError(taskId, cycle);
  }

  /** The path of a cycle through `taskId` if it waited for `upstream`, or null. */
  #cycleThrough(alias: string, taskId: string, upstream: readonly string[]): string[] | null {
    const index = this.#stores.get(alias);
    const upstreamOf = (id: string): readonly string[] =>
      id === taskId ? upstream : (index?.upstreamOf.get(id) ?? []);
    // Depth first from the task along "waits for": a path back to it is the cycle.
    const path: string[] = [taskId];
    const visited = new Set<string>();
    const search = (id: string): boolean => {
      for (const next of upstreamOf(id)) {
        if (next === taskId) return true;
        if (visited.has(next)) continue;
        visited.add(next);
        path.push(next);
        if (search(next)) return true;
        path.pop();
      }
      return false;
    };
    return search(taskId) ? path : null;
  }

  /**
   * The callback a run of task `record` needs: told how the run ended, it changes the tasks waiting for it. Null
   * (nothing per run) when no task of the store waits for it.
   */
  onRunEnded(alias: string, record: TaskRecord): ((succeeded: boolean) => void) | null {
    if (this.#dependents === 0) return null;
    const index = this.#stores.get(alias);
    const dependents = index?.dependentsOf.get(record.id);
    if (index === undefined || dependents === undefined || dependents.size === 0) return null;
    return (succeeded) => {
      for (const dependent of [...dependents]) {
        // A cycle another process wrote (or one a store held already) would fire its tasks for ever: its tasks
        // are not fired (reported once).
        if (index.cyclic.has(dependent)) this.#reportCyclic(alias, dependent);
        else void this.#satisfy(alias, dependent, record.id, succeeded);
      }
    };
  }

  /** Notes an ended run of `upstream` in the dependent task, atomically in its store; never rejects. */
  async #satisfy(alias: string, dependentId: string, upstream: string, succeeded: boolean): Promise<void> {
    const store = this.#context.store(alias);
    if (store === undefined) return;
    let fired = false;
    try {
      const updated = await store.updateTask(dependentId, (current, state) => {
        const trigger = current.trigger;
        if (!(trigger instanceof AfterTrigger) || !trigger.awaits(succeeded)) return current;
        // A paused task (null next run time) lets its upstream runs go by.
        if (current.nextRunTime === null) return current;
        const satisfied = trigger.satisfiedBy(upstream);
        if (!satisfied.fire) {
          if (satisfied.trigger === trigger) return current;
          return { ...copyTaskRecord(current), trigger: satisfied.trigger };
        }
        fired = true;
        const leased = state.leasedRunTime;
        const pending =
          current.nextRunTime !== AFTER_IDLE && (leased === null || current.nextRunTime > leased);
        const now = Date.now();
        const next = pending ? current.nextRunTime : Math.max(now, leased === null ? now : leased + 1);
        return { ...copyTaskRecord(current, next), trigger: satisfied.trigger };
      });
      if (fired && updated.nextRunTime !== null) this.#context.due(alias, updated.nextRunTime);
    } catch (error) {
      if ((error as Error | undefined)?.name === 'TaskLookupError') return;
      this.#context.reports.log(
        'error',
        { err: error, taskId: dependentId, store: alias, upstream },
        `task '${dependentId}': noting the end of a run of '${upstream}' failed`,
      );
    }
  }

  #replace(alias: string, entries: readonly AfterTriggerEntry[]): void {
    this.dropStore(alias);
    const index: StoreIndex = { upstreamOf: new Map(), dependentsOf: new Map(), cyclic: new Set() };
    for (const entry of entries) this.#link(index, entry.id, entry.tasks);
    this.#stores.set(alias, index);
    this.#findCycles(alias, index);
  }

  #index(alias: string): StoreIndex {
    let index = this.#stores.get(alias);
    if (index === undefined) {
      index = { upstreamOf: new Map(), dependentsOf: new Map(), cyclic: new Set() };
      this.#stores.set(alias, index);
    }
    return index;
  }

  #link(index: StoreIndex, taskId: string, upstream: readonly string[]): void {
    if (!index.upstreamOf.has(taskId)) this.#dependents++;
    index.upstreamOf.set(taskId, upstream);
    for (const id of upstream) {
      let dependents = index.dependentsOf.get(id);
      if (dependents === undefined) {
        dependents = new Set();
        index.dependentsOf.set(id, dependents);
      }
      dependents.add(taskId);
    }
  }

  /** Marks the tasks of a store's index that are on a cycle (another process wrote it: this one never does). */
  #findCycles(alias: string, index: StoreIndex): void {
    index.cyclic.clear();
    for (const [id, upstream] of index.upstreamOf) {
      if (this.#cycleThrough(alias, id, upstream) !== null) index.cyclic.add(id);
    }
  }

  /** Reports, once per task, a task that is not fired because it is on a cycle. */
  #reportCyclic(alias: string, taskId: string): void {
    const key = `${alias}\u0000${taskId}`;
    if (this.#reportedCycles.has(key)) return;
    this.#reportedCycles.add(key);
    const error = new ValueError(
      `task '${taskId}': its after-trigger is on a cycle of after-triggers in store '${alias}'; it is not fired until the cycle is broken`,
    );
    this.#context.reports.taskError(alias, taskId, new Date(), error, error.message);
  }

  #unlink(index: StoreIndex, taskId: string): void {
    index.cyclic.delete(taskId);
    const upstream = index.upstreamOf.get(taskId);
    if (upstream === undefined) return;
    index.upstreamOf.delete(taskId);
    this.#dependents--;
    for (const id of upstream) {
      const dependents = index.dependentsOf.get(id);
      dependents?.delete(taskId);
      if (dependents?.size === 0) index.dependentsOf.delete(id);
    }
  }
}

/** The error of a cycle of after-triggers through `taskId` (`path` starts at it). */
function cycleError(taskId: string, path: readonly string[]): ValueError {
  return new ValueError(
    `task '${taskId}': its after-trigger makes a cycle: ${[...path, taskId].map((id) => `'${id}'`).join(' waits for ')}`,
  );
}
