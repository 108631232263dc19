/**
 * Where a scheduler's tasks live and how they change: pending in memory before `start()`, in their stores after;
 * found, added (or declared), changed, moved and removed as one atomic store operation each, with the lifecycle
 * tasks and shutdown-triggered tasks they bring along kept in step. The `Scheduler`'s task methods are this,
 * plus the checks of its state and the `Task` snapshots it hands out.
 */
import type { AfterRuns } from './after-runs.js';
import { declareTask } from './declaration.js';
import type { DispatchLoop } from './dispatch-loop.js';
import {
  ConflictingIdError,
  SchedulerNotRunningError,
  StoreLookupError,
  TaskLookupError,
  ValueError,
} from './errors.js';
import type { EventHub } from './events.js';
import type { DetachedLifecycle, LifecycleRegistry, LifecycleTask } from './lifecycle.js';
import type { Lock } from './lock-interface.js';
import { PendingTasks } from './pending.js';
import type { Reports } from './reports.js';
import type { RunTracker } from './runs.js';
import type { SharedLifecycles } from './shared-lifecycles.js';
import { ShutdownTasks } from './shutdown-tasks.js';
import { compareTaskRecords, isImmediateStore, type TaskRecord, type TaskStore } from './store.js';
import type { StoreLane } from './store-lane.js';
import type { TaskBuildContext } from './task.js';
import type { StoredChange } from './task-changes.js';
import type { SetupFailure, TaskLockKeeper } from './task-lock.js';
import { AfterTrigger } from './triggers/after.js';

/** A task as found: its record, the alias of its store, and whether it is pending (not in the store yet). */
export interface FoundTask {
  record: TaskRecord;
  alias: string;
  pending: boolean;
}

/** How `TaskRegistry.add` adds a task. */
export interface AddOptions {
  /** A declaration: a stored task with the same definition is kept as it is. */
  replaceExisting: boolean;
  /** The user gave `nextRunTime` (else it is computed at start for a pending task). */
  explicitNextRunTime: boolean;
  /** The scheduler runs (else the task is pending). */
  running: boolean;
  lock: Lock | null;
}

/** What the registry needs from its scheduler. */
export interface TaskRegistryContext {
  loop: DispatchLoop;
  runs: RunTracker;
  /** Who waits for whom (after-triggers), kept in step with every change made here. */
  after: AfterRuns;
  lifecycles: LifecycleRegistry;
  /** The per-process instances of lifecycle tasks in shared stores. */
  shared: SharedLifecycles;
  events: EventHub;
  reports: Reports;
  /** True while the stores are open (between start and the end of shutdown). */
  storesOpen(): boolean;
  /** True once the scheduler started: while stopped, its stores' tasks cannot be seen. */
  startedOnce(): boolean;
  /** What validating task options needs, for a task of this store. */
  buildContext(store: TaskStore): TaskBuildContext;
  /** Throws `ExecutorLookupError` for an unknown executor alias. */
  checkExecutor(alias: string): void;
}

/** The tasks of one scheduler. */
export class TaskRegistry {
  readonly #context: TaskRegistryContext;
  /** Tasks added before start. */
  readonly pending = new PendingTasks();
  /** Shutdown-triggered tasks this scheduler wrote. */
  readonly shutdownTasks = new ShutdownTasks();

  /**
   * Changes in progress through the queued path (`add`, `modify`, `remove`, `removeAll`), counted from the call:
   * some wait (a look-up, a setup) before they queue on their store's lane, and an add or removal done at once
   * (`addNow`, `removeNow`) must not overtake one called before it.
   */
  #changes = 0;

  constructor(context: TaskRegistryContext) {
    this.#context = context;
  }

  /** Runs a change through the queued path, counted in `#changes` while it is in progress. */
  async #counted<T>(change: () => Promise<T>): Promise<T> {
    this.#changes++;
    try {
      return await change();
    } finally {
      this.#changes--;
    }
  }

  /** The lane of a store alias; an unknown one is a `StoreLookupError`. */
  lane(alias: string): StoreLane {
    const lane = this.#context.loop.lane(alias);
    if (lane === undefined) throw new StoreLookupError(alias);
    return lane;
  }

  /** The lanes of one store, or of all. */
  lanes(alias: string | undefined): StoreLane[] {
    return alias === undefined ? [...this.#context.loop.lanes()] : [this.lane(alias)];
  }

  /**
   * Adds a task: pending when the scheduler does not run; else to its store, as a declaration with
   * `replaceExisting` (a stored task with the same definition is kept as it is). A lifecycle task is set up
   * first, outside the store's queue (a slow setup never delays other tasks; one that adds tasks cannot
   * deadlock). A lifecycle task given by name in a shared store is written first, then this process's instance is
   * set up (src/shared-lifecycles.ts; an identical declared task keeps the instance this process already has).
   * Resolves with the task as stored.
   *
   * A task with a `lock` (src/task-lock.ts) is written first; then the task it replaces, if any, is closed (its
   * cleanup, then its lock released), and only then does the new task's keeper make its first attempt, setting the
   * task up if it wins the lock. A setup that throws there removes the task again and rejects. When an identical
   * declared task was kept, the new lock is dropped and the kept task goes on as it was (the lock is not part of a
   * task's definition).
   */
  add(alias: string, record: TaskRecord, options: AddOptions): Promise<FoundTask> {
    return this.#counted(() => this.#add(alias, record, options));
  }

  async #add(alias: string, record: TaskRecord, options: AddOptions): Promise<FoundTask> {
    const { replaceExisting, explicitNextRunTime, lock } = options;
    const { lifecycles, loop, events } = this.#context;
    if (!options.running) {
      if (this.pending.has(alias, record.id) && !replaceExisting)
        throw new ConflictingIdError(record.id, alias);
      // A keeper of the task replaced (never started: the scheduler does not run) goes; the new one starts at start.
      if (lock !== null || this.pending.has(alias, record.id))
        void lifecycles.close(lifecycles.detach(alias, record.id));
      if (lock !== null) lifecycles.keep(alias, record, lock);
      this.pending.set({ record, store: alias, replaceExisting, explicitNextRunTime });
      return { record, alias, pending: true };
    }
    const lane = this.lane(alias);
    this.#context.after.checkCycle(alias, record.id, record.trigger);
    // A lifecycle task by name in a shared store: this process's instance is set up once the task is written.
    const shared = this.#context.shared.applies(lane.store, record);
    const lifecycle = lock === null && !shared ? await lifecycles.setUp(alias, record) : null;
    let replaced: DetachedLifecycle | undefined;
    let keeper: TaskLockKeeper | undefined;
    let stored = record;
    try {
      await lane.exclusive(async () => {
        const outcome = replaceExisting
          ? await declareTask(lane.store, record, explicitNextRunTime, new Date())
          : await lane.store.addTask(record).then(() => ({ record, kept: false }));
        stored = outcome.record;
        this.shutdownTasks.note(alias, stored);
        this.#context.after.noteTask(alias, record.id, stored.trigger);
        if (!shared) replaced = lifecycles.adopt(alias, record.id, lifecycle, outcome.kept);
        if (lock !== null && !outcome.kept) keeper = lifecycles.keep(alias, record, lock);
        events.emit('task:added', { taskId: record.id, store: alias });
        if (lifecycle?.finished && !outcome.kept) await this.removeStored(alias, lane.store, record.id);
        else loop.wakeNoLaterThan(lane, stored.nextRunTime);
      });
    } catch (error) {
      await lifecycle?.close();
      throw error;
    }
    await lifecycles.close(replaced);
    if (lane.store.shared && stored.trigger instanceof AfterTrigger)
      await this.#checkStoredCycle(lane, record.id, null);
    if (keeper !== undefined) await this.#startKeeper(alias, record.id, keeper);
    if (shared) await this.#context.shared.ensure(lane, stored);
    return { record: stored, alias, pending: false };
  }

  /**
   * `add` done synchronously, when it can be: a running scheduler, a plain task (no lifecycle, no lock, not a
   * declaration), no change in progress through the queued path, and a store that adds at once
   * (`ImmediateTaskStore`) with nothing queued on its lane, so the add is ordered after everything asked before.
   * Returns the task as stored, or undefined (nothing done) when `add` must do it. Throws what `add` rejects with
   * (a duplicate id, a cycle).
   */
  addNow(alias: string, record: TaskRecord): FoundTask | undefined {
    const { lifecycles, loop, events, after } = this.#context;
    const lane = this.lane(alias);
    const { store } = lane;
    if (this.#changes !== 0 || !lane.quiet || !isImmediateStore(store) || !lifecycles.isPlain(alias, record))
      return undefined;
    after.checkCycle(alias, record.id, record.trigger);
    store.addTaskNow(record);
    this.shutdownTasks.note(alias, record);
    after.noteTask(alias, record.id, record.trigger);
    if (events.has('task:added')) events.emit('task:added', { taskId: record.id, store: alias });
    loop.wakeNoLaterThan(lane, record.nextRunTime);
    return { record, alias, pending: false };
  }

  /**
   * `remove` done synchronously, when it can be: a running scheduler, no pending tasks, no change in progress
   * through the queued path, stores that remove at once with nothing queued on their lanes, and a task without
   * a lifecycle. Returns false (nothing done) when `remove` must do it; an unknown id is a `TaskLookupError`
   * (thrown).
   */
  removeNow(id: string, alias: string | undefined): boolean {
    const { events, lifecycles, loop } = this.#context;
    if (this.#changes !== 0 || this.pending.size !== 0 || !this.#context.storesOpen()) return false;
    const lanes = alias === undefined ? loop.lanes() : [this.lane(alias)];
    for (let index = 0; index < lanes.length; index++) {
      const lane = lanes[index] as StoreLane;
      const { store } = lane;
      if (!lane.quiet || !isImmediateStore(store) || lifecycles.has(lane.alias, id)) return false;
      if (store.removeTaskNow(id) === undefined) continue;
      this.#forget(lane.alias, id);
      if (events.has('task:removed')) events.emit('task:removed', { taskId: id, store: lane.alias });
      return true;
    }
    throw new TaskLookupError(id, alias);
  }

  /**
   * The first attempt of a locked task's keeper, at `addTask`: if it wins the lock and the setup throws, the task
   * is removed and the error rethrown (as for a task without a lock, whose failed setup adds nothing); if the
   * generator returns in setup, the task is removed.
   */
  async #startKeeper(alias: string, id: string, keeper: TaskLockKeeper): Promise<void> {
    let live: boolean;
    try {
      live = await keeper.start();
    } catch (error) {
      await this.#removeLocked(alias, id, keeper);
      throw error;
    }
    if (!live) await this.#removeLocked(alias, id, keeper);
  }

  /**
   * A locked task ended in this process on its own, at a takeover (its setup threw: `task:error`; or the generator
   * returned in setup): it is removed here, as a lifecycle task that ends is; the other processes keep theirs (and
   * one of them takes the lock over). Never rejects.
   */
  lockedTaskEnded(alias: string, id: string, keeper: TaskLockKeeper, failure: SetupFailure): void {
    const { reports } = this.#context;
    if (failure !== null) {
      const message = `setup of lifecycle task '${id}' failed after taking its lock; the task is removed from this process`;
      reports.taskError(alias, id, new Date(), failure.error, message);
    }
    this.#removeLocked(alias, id, keeper).catch((error: unknown) =>
      reports.log('error', { err: error, taskId: id, store: alias }, `removing task '${id}' failed`),
    );
  }

  /** Removes a locked task from its store, unless it was replaced or removed meanwhile (another keeper, or none). */
  async #removeLocked(alias: string, id: string, keeper: TaskLockKeeper): Promise<void> {
    const lane = this.#context.loop.lane(alias);
    if (lane === undefined) return;
    await lane.exclusive(async () => {
      if (this.#context.lifecycles.keeperOf(alias, id) !== keeper) return;
      if ((await lane.store.getTask(id)) !== undefined) await this.removeStored(alias, lane.store, id);
      else this.#context.lifecycles.detach(alias, id);
    });
  }

  /** Writes the pending tasks to their stores (at start). */
  writePending(now: Date): Promise<void> {
    return this.pending.writeAll(
      now,
      (alias) => this.lane(alias).store,
      this.#context.reports,
      (alias, record) => {
        this.shutdownTasks.note(alias, record);
        this.#context.after.noteTask(alias, record.id, record.trigger);
        this.#context.events.emit('task:added', { taskId: record.id, store: alias });
      },
      (alias, record) => this.#context.after.checkCycle(alias, record.id, record.trigger),
    );
  }

  /** The task with this id: pending, or in the named store or the first store that has it. */
  async find(id: string, alias: string | undefined): Promise<FoundTask | undefined> {
    const pending = this.pending.find(id, alias);
    if (pending !== undefined) return { record: pending.record, alias: pending.store, pending: true };
    const found = await this.#locate(id, alias);
    return found === undefined
      ? undefined
      : { record: found.record, alias: found.lane.alias, pending: false };
  }

  /** Every task (of one store, or all), pending ones too, by next run time, paused tasks last, ties by id. */
  async list(alias: string | undefined): Promise<FoundTask[]> {
    this.#checkOpen();
    const lanes = this.lanes(alias);
    const found: FoundTask[] = [];
    if (this.#context.storesOpen()) {
      for (const lane of lanes) {
        for (const record of await lane.store.getTasks())
          found.push({ record, alias: lane.alias, pending: false });
      }
    }
    const aliases = new Set(lanes.map((lane) => lane.alias));
    for (const task of this.pending.values()) {
      if (aliases.has(task.store)) found.push({ record: task.record, alias: task.store, pending: true });
    }
    return found.sort((a, b) => compareTaskRecords(a.record, b.record));
  }

  /**
   * Changes a task with `change`: a pending one in memory; a stored one as one atomic change in its store (or by
   * moving it to `toStore`). `pinsNextRunTime` says whether the change fixes a pending task's first run time
   * (true), lets it be computed at start (false), or leaves that as it was (undefined).
   */
  modify(
    id: string,
    alias: string | undefined,
    change: StoredChange,
    pinsNextRunTime?: boolean,
    toStore?: string,
  ): Promise<FoundTask> {
    return this.#counted(() => this.#modify(id, alias, change, pinsNextRunTime, toStore));
  }

  async #modify(
    id: string,
    alias: string | undefined,
    change: StoredChange,
    pinsNextRunTime: boolean | undefined,
    toStore: string | undefined,
  ): Promise<FoundTask> {
    const { buildContext, checkExecutor, events, loop } = this.#context;
    const pending = this.pending.find(id, alias);
    if (pending !== undefined) {
      const target = toStore ?? pending.store;
      const targetStore = this.lane(target).store;
      const updated = change(pending.record, { leasedRunTime: null }, buildContext(targetStore));
      checkExecutor(updated.executor);
      if (target !== pending.store) this.#checkLockedMove(pending.store, id, target, targetStore);
      this.pending.delete(pending.store, id);
      if (target !== pending.store) this.#context.lifecycles.move(pending.store, target, id);
      const explicitNextRunTime = pinsNextRunTime ?? pending.explicitNextRunTime;
      this.pending.set({ ...pending, record: updated, store: target, explicitNextRunTime });
      events.emit('task:modified', { taskId: id, store: target });
      return { record: updated, alias: target, pending: true };
    }
    const found = await this.#locate(id, alias);
    if (found === undefined) throw new TaskLookupError(id, alias);
    if (toStore !== undefined && toStore !== found.lane.alias)
      return this.#move(id, found, this.lane(toStore), change);
    const { lane } = found;
    const context = buildContext(lane.store);
    let before: TaskRecord | undefined;
    const updated = await lane.exclusive(() =>
      lane.store.updateTask(id, (current, state) => {
        before = current;
        const next = change(current, state, context);
        if (next !== current) checkExecutor(next.executor);
        if (next.trigger !== current.trigger) this.#context.after.checkCycle(lane.alias, id, next.trigger);
        return next;
      }),
    );
    this.shutdownTasks.note(lane.alias, updated);
    this.#context.after.noteTask(lane.alias, id, updated.trigger);
    if (!lane.store.shared) this.#context.runs.updateWaiting(lane.alias, updated);
    if (
      lane.store.shared &&
      updated.trigger instanceof AfterTrigger &&
      before !== undefined &&
      before.trigger !== updated.trigger
    )
      await this.#checkStoredCycle(lane, id, before);
    events.emit('task:modified', { taskId: id, store: lane.alias });
    loop.wakeNoLaterThan(lane, updated.nextRunTime);
    return { record: updated, alias: lane.alias, pending: false };
  }

  /** Removes a task; an unknown id is a `TaskLookupError`. A lifecycle task's cleanup runs outside the queue. */
  remove(id: string, alias: string | undefined): Promise<void> {
    return this.#counted(() => this.#remove(id, alias));
  }

  async #remove(id: string, alias: string | undefined): Promise<void> {
    const { events, lifecycles } = this.#context;
    const pending = this.pending.find(id, alias);
    if (pending !== undefined) {
      this.pending.delete(pending.store, id);
      await lifecycles.close(lifecycles.detach(pending.store, id));
      events.emit('task:removed', { taskId: id, store: pending.store });
      return;
    }
    const found = await this.#locate(id, alias);
    if (found === undefined) throw new TaskLookupError(id, alias);
    const { lane } = found;
    const detached = await lane.exclusive(async () => {
      await lane.store.removeTask(id);
      this.#forget(lane.alias, id);
      if (events.has('task:removed')) events.emit('task:removed', { taskId: id, store: lane.alias });
      return lifecycles.detach(lane.alias, id);
    });
    if (detached !== undefined) await lifecycles.close(detached);
  }

  /** Removes every task (of one store, or of all), pending ones too. */
  removeAll(alias: string | undefined): Promise<void> {
    return this.#counted(() => this.#removeAll(alias));
  }

  async #removeAll(alias: string | undefined): Promise<void> {
    this.#checkOpen();
    const { events, lifecycles, storesOpen } = this.#context;
    const detached: DetachedLifecycle[] = [];
    for (const lane of this.lanes(alias)) {
      await lane.exclusive(async () => {
        const pendingIds = this.pending.takeStore(lane.alias);
        const storedIds = storesOpen() ? await lane.store.removeAllTasks() : [];
        // Joined without spreading: a store of hundreds of thousands of ids would overflow the call stack.
        const taskIds = pendingIds.length === 0 ? storedIds : pendingIds.concat(storedIds);
        for (let index = 0; index < taskIds.length; index++) {
          const id = taskIds[index] as string;
          this.#forget(lane.alias, id);
          if (!lifecycles.has(lane.alias, id)) continue;
          const lifecycle = lifecycles.detach(lane.alias, id);
          if (lifecycle !== undefined) detached.push(lifecycle);
        }
        events.emit('tasks:removed-all', { store: lane.alias, taskIds });
      });
    }
    await Promise.all(detached.map((lifecycle) => lifecycles.close(lifecycle)));
  }

  /** Removes a stored task and reports it; its lifecycle, if any, is closed without being awaited. */
  async removeStored(alias: string, store: TaskStore, id: string): Promise<void> {
    await store.removeTask(id);
    this.removed(alias, id);
  }

  /** Reports a removed task and closes its lifecycle in the background (never inside a store's queue). */
  removed(alias: string, id: string): void {
    const { events, lifecycles } = this.#context;
    // A one-shot task whose trigger is done is removed as its run starts, or waits for a tag: that run goes on.
    this.#context.after.noteTask(alias, id, null);
    const lifecycle = lifecycles.detach(alias, id);
    if (lifecycle !== undefined) void lifecycles.close(lifecycle);
    if (events.has('task:removed')) events.emit('task:removed', { taskId: id, store: alias });
  }

  /** Removes a lifecycle task whose generator ended, unless the task was replaced or removed meanwhile. */
  async endLifecycleTask(
    alias: string,
    store: TaskStore,
    id: string,
    lifecycle: LifecycleTask,
  ): Promise<void> {
    const { lifecycles, loop } = this.#context;
    const lane = loop.lane(alias);
    if (lane === undefined) return;
    await lane.exclusive(async () => {
      if (!lifecycles.isCurrent(alias, id, lifecycle)) return;
      if ((await store.getTask(id)) !== undefined) await this.removeStored(alias, store, id);
      else lifecycles.detach(alias, id);
    });
  }

  /**
   * At start, sets up the lifecycle tasks of stores that are not persistent, and this process's instances of those
   * in shared stores (given by the name of a generator function registered here); one whose setup failed is
   * removed.
   */
  async setUpStoredLifecycles(): Promise<void> {
    const { shared } = this.#context;
    for (const lane of this.#context.loop.lanes()) {
      const { alias, store } = lane;
      if (store.shared && shared.enabled) await shared.scan(lane);
      if (store.persistent) continue;
      const { failed, finished } = await this.#context.lifecycles.setUpStored(alias, await store.getTasks());
      for (const { id, error } of failed) {
        const event = { taskId: id, store: alias, scheduledRunTime: new Date(), error, attempt: 0 };
        this.#context.events.emit('task:error', event);
      }
      for (const id of [...failed.map((entry) => entry.id), ...finished])
        await this.removeStored(alias, store, id);
    }
  }

  /**
   * Moves a task to another store with a change: checked on the task as found, then taken out of its store (as
   * it is then) and added to the target; if the target refuses it, it is put back. Not atomic across the two
   * stores; refused while this scheduler runs the task (its `maxInstances` count lives with the store).
   */
  async #move(
    id: string,
    found: { lane: StoreLane; record: TaskRecord },
    target: StoreLane,
    change: StoredChange,
  ): Promise<FoundTask> {
    const { buildContext, checkExecutor, events, lifecycles, loop, runs } = this.#context;
    const source = found.lane;
    const context = buildContext(target.store);
    const moved = change(found.record, { leasedRunTime: null }, context);
    checkExecutor(moved.executor);
    this.#context.after.checkCycle(target.alias, id, moved.trigger);
    this.#checkLockedMove(source.alias, id, target.alias, target.store);
    if (runs.isRunning(source.alias, id)) {
      throw new ValueError(
        `updateTask: task '${id}' has a run in progress; it can move to store '${target.alias}' once that run ended`,
      );
    }
    const removed = await source.exclusive(() => source.store.removeTask(id));
    const updated = change(removed, { leasedRunTime: null }, context);
    try {
      await target.exclusive(() => target.store.addTask(updated));
    } catch (error) {
      await source.exclusive(() => source.store.addTask(removed));
      throw error;
    }
    this.shutdownTasks.forget(source.alias, id);
    this.#forget(source.alias, id);
    this.#context.after.noteTask(target.alias, id, updated.trigger);
    lifecycles.move(source.alias, target.alias, id);
    this.shutdownTasks.note(target.alias, updated);
    events.emit('task:modified', { taskId: id, store: target.alias });
    loop.wakeNoLaterThan(target, updated.nextRunTime);
    return { record: updated, alias: target.alias, pending: false };
  }

  /**
   * After an after-trigger was written to a shared store: if the store now holds a cycle through the task (another
   * process wrote the other half at the same time), the write is undone (the task removed, or given back its
   * `previous` version) and the cycle's `ValueError` thrown.
   */
  async #checkStoredCycle(lane: StoreLane, id: string, previous: TaskRecord | null): Promise<void> {
    const { after, reports } = this.#context;
    try {
      await after.checkCycleInStore(lane.alias, lane.store, id);
    } catch (error) {
      const undo =
        previous === null
          ? lane.exclusive(() => this.removeStored(lane.alias, lane.store, id))
          : lane
              .exclusive(() => lane.store.updateTask(id, () => previous))
              .then((restored) => {
                after.noteTask(lane.alias, id, restored.trigger);
              });
      await undo.catch((undoError: unknown) =>
        reports.log(
          'error',
          { err: undoError, taskId: id, store: lane.alias },
          `undoing task '${id}' failed`,
        ),
      );
      throw error;
    }
  }

  /**
   * A task removed by the user (or moved away): nothing waits for it to run any more, nor does it wait for another,
   * and its runs waiting for a tag will not start.
   */
  #forget(alias: string, id: string): void {
    this.#context.after.noteTask(alias, id, null);
    this.#context.runs.forgetWaiting(alias, id);
  }

  /** At start: reads each store's after-triggers (who waits for whom). */
  async loadAfterTriggers(): Promise<void> {
    for (const lane of this.#context.loop.lanes()) await this.#context.after.load(lane.alias, lane.store);
  }

  /** A task with a lock may move only to a store that is not persistent (its lock cannot be stored). */
  #checkLockedMove(from: string, id: string, to: string, store: TaskStore): void {
    if (store.persistent && this.#context.lifecycles.keeperOf(from, id) !== undefined) {
      throw new ValueError(
        `updateTask: task '${id}' has a lock; it cannot move to store '${to}', which is persistent (the lock cannot be stored)`,
      );
    }
  }

  /**
   * Finds a stored task in the named store, or the first store that has it. After a shutdown, the stores are
   * closed: a lookup is a `SchedulerNotRunningError` until the next start.
   */
  async #locate(
    id: string,
    alias: string | undefined,
  ): Promise<{ lane: StoreLane; record: TaskRecord } | undefined> {
    const lanes = this.lanes(alias);
    this.#checkOpen();
    if (!this.#context.storesOpen()) return undefined;
    for (const lane of lanes) {
      const record = await lane.store.getTask(id);
      if (record !== undefined) return { lane, record };
    }
    return undefined;
  }

  /** After a shutdown the stores are closed: their tasks cannot be read or changed until the next start. */
  #checkOpen(): void {
    if (!this.#context.storesOpen() && this.#context.startedOnce()) throw new SchedulerNotRunningError();
  }
}
