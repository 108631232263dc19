/** The Scheduler: lifecycle, the public task API, and wiring of stores, executors, timer and events. */
import { hostname } from 'node:os';
import { type Logger, pino } from 'pino';
import { MemoryStore } from '../stores/memory.js';
import type { RunContext } from './context.js';
import { DispatchLocks } from './dispatch-lock.js';
import { nextRunTimeAfter, planDispatch } from './dispatcher.js';
import {
  ConflictingIdError,
  ExecutorLookupError,
  SchedulerAlreadyRunningError,
  SchedulerNotRunningError,
  StoreLookupError,
  TaskLookupError,
  ValueError,
} from './errors.js';
import { EventHub, type SchedulerEventName, type SchedulerListener } from './events.js';
import { AsyncExecutor } from './executors/async.js';
import type { Executor } from './executors/executor.js';
import { LifecycleTask } from './lifecycle.js';
import type { FileLock } from './lock.js';
import { withSafeErrorSerializer } from './log.js';
import { FunctionResolver, isGeneratorFunction } from './references.js';
import { executeRun, watchAbort } from './run.js';
import { LocalRunCounts } from './run-counts.js';
import type { StoreContext, TaskFunction, TaskRecord, TaskRelease, TaskStore } from './store.js';
import { compareTaskRecords, copyTaskRecord, isSharedStore } from './store.js';
import {
  applyTaskChanges,
  buildTaskRecord,
  firstRunTime,
  parseTaskDefaults,
  type ResolvedTaskDefaults,
  rejectUnknownKeys,
  Task,
  type TaskActions,
  type TaskBuildContext,
  type TaskChanges,
  type TaskDefaults,
  type TaskOptions,
} from './task.js';
import { type DurationInput, describeValue, parseDuration, parseTimezone, systemTimezone } from './time.js';
import { MAX_TIMER_WAIT_MS, WakeupTimer } from './timer.js';
import { ShutdownTrigger } from './triggers/shutdown.js';
import type { Trigger, TriggerSpec } from './triggers/trigger.js';

/** Options of `new Scheduler()`. */
export interface SchedulerOptions {
  /** Task stores by alias. @default { default: new MemoryStore() } */
  stores?: Record<string, TaskStore>;
  /** Executors by alias. @default { default: new AsyncExecutor() } */
  executors?: Record<string, Executor>;
  /** Defaults for tasks that do not set these options. */
  taskDefaults?: TaskDefaults;
  /** Zone of cron and calendar triggers (and date strings) that name none. @default the system zone */
  timezone?: string;
  /** @default pino at level `KAIROS_LOG_LEVEL` or 'warn', to stderr */
  logger?: Logger;
  /** Named functions that tasks in persistent stores refer to by name. */
  functions?: Record<string, TaskFunction>;
  /**
   * Only the process holding this lock dispatches; the others keep trying and take over when it goes away.
   * A path may hold `{store}` (one lock per store) and `{pgrp}` (the process group id). @default none
   */
  lock?: FileLock | string;
  /** Identifies this scheduler as the owner of leases in shared stores. @default hostname-pid-random */
  schedulerId?: string;
}

/** Options of `shutdown()`. */
export interface ShutdownOptions {
  /** Wait for runs in progress. @default true */
  wait?: boolean;
  /** With `wait`: after this long, abort the runs' signals and stop waiting. @default no limit */
  timeout?: DurationInput;
}

/** Selects a store by alias in the task methods; without it every store is searched. */
export interface StoreSelector {
  store?: string;
}

/** How long a task lease lasts if its scheduler never releases it (it dies mid-wake-up). */
const TASK_LEASE_MS = 30_000;
/** How long a run slot lasts without renewal; renewed every third of it while the run lasts. */
const RUN_LEASE_MS = 30_000;
/** How long a task whose function cannot be resolved stays parked before it is tried again. */
const UNRESOLVED_HOLD_MS = 60_000;
/** The first retry delay after a store failed during a wake-up. */
const FIRST_FAILURE_BACKOFF_MS = 1000;
/** Due tasks acquired per store query: a burst of up to this many starts all its runs before any release. */
const ACQUIRE_BATCH = 2048;

const SCHEDULER_OPTION_KEYS = new Set([
  'stores',
  'executors',
  'taskDefaults',
  'timezone',
  'logger',
  'functions',
  'lock',
  'schedulerId',
]);

/** A task added before `start()`, waiting to be written to its store. */
interface PendingTask {
  record: TaskRecord;
  store: string;
  replaceExisting: boolean;
  /** True if the user gave `nextRunTime`; otherwise it is recomputed at start. */
  explicitNextRunTime: boolean;
}

/** A run in progress that did not end synchronously. */
interface ActiveRun {
  taskId: string;
  store: string;
  /** Its run slot in a shared store; null when the run is counted in `#localRuns`. */
  slotId: string | null;
  /** Settles when the run has ended and its slot is free. */
  promise: Promise<unknown>;
}

/** Where a task was found. */
interface Located {
  alias: string;
  store: TaskStore;
  record: TaskRecord;
}

type State = 'stopped' | 'starting' | 'running' | 'stopping';

/**
 * Schedules tasks: keeps them in stores, sleeps on one timer until the earliest next run, and hands due runs
 * to executors, honouring coalesce, misfire grace time and max instances.
 */
export class Scheduler implements TaskActions {
  /** This scheduler's id, the owner of its leases in shared stores. */
  readonly schedulerId: string;
  /** The zone given to triggers that name none. */
  readonly timezone: string;
  /** The logger every report goes to: a child of the one given, whose `err` serializer never throws. */
  readonly logger: Logger;
  /** Stores by alias. */
  readonly #stores = new Map<string, TaskStore>();
  /** Executors by alias. */
  readonly #executors = new Map<string, Executor>();
  readonly #defaults: ResolvedTaskDefaults;
  readonly #resolver: FunctionResolver;
  readonly #events: EventHub;
  readonly #timer = new WakeupTimer(() => void this.#dispatch());
  #state: State = 'stopped';
  #paused = false;
  /** Tasks added before start, by store alias and id. */
  #pending = new Map<string, PendingTask>();
  /** Live lifecycle (generator) tasks, by store alias and id. */
  #lifecycles = new Map<string, LifecycleTask>();
  /** Numbers this scheduler's runs. */
  #runSequence = 0;
  /** Runs in progress that did not end synchronously, by run number. */
  #runs = new Map<number, ActiveRun>();
  /** Runs in progress per task of the stores that are not shared. */
  readonly #localRuns = new LocalRunCounts();
  /** Tail of the queue that serialises store changes and wake-ups within this process. */
  #queue: Promise<unknown> = Promise.resolve();
  /** True while a wake-up is queued or running; further requests only set `#dispatchAgain`. */
  #dispatching = false;
  #dispatchAgain = false;
  /** Aborted when shutdown stops waiting for runs. */
  #shutdownController = new AbortController();
  /** The shutdown signal with a promise that rejects when it aborts, shared by every run. */
  #shutdownWatch = watchAbort(this.#shutdownController);
  /** Renews run slots in shared stores while runs are in progress. */
  #renewal: NodeJS.Timeout | undefined;
  /** Settles when the `start()` in progress (if any) has finished, so calls made meanwhile see its outcome. */
  #startup: Promise<void> = Promise.resolve();
  /** Shutdown-triggered tasks this scheduler wrote, by store alias and id. */
  #shutdownTasks = new Set<string>();
  /** How long after a failing store the next wake-up is (doubles while failures go on). */
  #failureBackoffMs = FIRST_FAILURE_BACKOFF_MS;
  /** True while `start()` sets up stored lifecycle tasks; dispatch waits for it. */
  #settingUp = false;
  /** Stops watching stores for foreign changes. */
  #unwatch: Array<() => void> = [];
  /** Tasks whose function could not be resolved and was reported (by store, id and function). */
  #unresolved = new Set<string>();
  /** The dispatch locks of the `lock` option, if given. */
  readonly #locks: DispatchLocks | null;

  /** @example new Scheduler({ timezone: 'America/New_York' }) */
  constructor(options: SchedulerOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new ValueError(`Scheduler: options must be an object, got ${describeValue(options)}`);
    }
    rejectUnknownKeys(options, SCHEDULER_OPTION_KEYS, 'Scheduler');
    this.timezone =
      options.timezone === undefined
        ? systemTimezone()
        : parseTimezone(options.timezone, 'Scheduler: timezone');
    this.logger = withSafeErrorSerializer(options.logger ?? defaultLogger());
    this.#defaults = parseTaskDefaults(options.taskDefaults);
    this.#resolver = new FunctionResolver(options.functions);
    this.#events = new EventHub(() => this.logger);
    if (
      options.schedulerId !== undefined &&
      (typeof options.schedulerId !== 'string' || options.schedulerId === '')
    ) {
      throw new ValueError(
        `Scheduler: schedulerId must be a non-empty string, got ${describeValue(options.schedulerId)}`,
      );
    }
    this.schedulerId =
      options.schedulerId ?? `${hostname()}-${process.pid}-${crypto.randomUUID().slice(0, 8)}`;
    this.#locks = options.lock === undefined ? null : new DispatchLocks(options.lock);
    for (const [alias, store] of Object.entries(options.stores ?? { default: new MemoryStore() })) {
      this.#stores.set(alias, checkStore(alias, store));
    }
    for (const [alias, executor] of Object.entries(options.executors ?? { default: new AsyncExecutor() })) {
      this.#executors.set(alias, checkExecutor(alias, executor));
    }
  }

  /** True between a successful `start()` and `shutdown()`. */
  get running(): boolean {
    return this.#state === 'running';
  }

  /** True while dispatching is paused (`start({ paused: true })` or `pause()`). */
  get paused(): boolean {
    return this.#paused;
  }

  // ---- lifecycle of the scheduler ----

  /** Opens stores and executors, writes pending tasks, and starts dispatching (unless `paused`). */
  async start(options: { paused?: boolean } = {}): Promise<void> {
    if (this.#state !== 'stopped') throw new SchedulerAlreadyRunningError();
    this.#state = 'starting';
    let started = () => {};
    this.#startup = new Promise<void>((resolve) => {
      started = resolve;
    });
    this.#shutdownController = new AbortController();
    this.#shutdownWatch = watchAbort(this.#shutdownController);
    // What started, so that a failed start closes only that (never a store another scheduler has open).
    const stores = new Map<string, TaskStore>();
    const executors = new Map<string, Executor>();
    try {
      for (const [alias, store] of this.#stores) {
        await store.start(this.#storeContext(alias));
        stores.set(alias, store);
      }
      for (const [alias, executor] of this.#executors) {
        await executor.start({ logger: this.logger, alias });
        executors.set(alias, executor);
      }
      await this.#writePendingTasks();
    } catch (error) {
      await this.#close(executors, stores, false);
      this.#state = 'stopped';
      throw error;
    } finally {
      started();
    }
    for (const [, store] of this.#stores) this.#watchStore(store);
    this.#paused = options.paused === true;
    this.#state = 'running';
    // Setups may call the scheduler (add tasks…), so they run once it is running; dispatch waits for them.
    this.#settingUp = true;
    try {
      await this.#setUpStoredLifecycles();
    } finally {
      this.#settingUp = false;
    }
    await this.#locks?.start(this.#stores.keys(), this.logger, () => this.wakeup());
    this.#events.emit('scheduler:started', { schedulerId: this.schedulerId });
    this.logger.info({ schedulerId: this.schedulerId }, 'scheduler started');
    if (!this.#paused) void this.#dispatch();
  }

  /**
   * Stops dispatching, fires shutdown-triggered tasks, waits for runs in progress (with `wait`, up to
   * `timeout`, then aborts their signals; without `wait`, aborts them at once), ends lifecycle tasks, and
   * closes executors and stores.
   */
  async shutdown(options: ShutdownOptions = {}): Promise<void> {
    if (this.#state !== 'running') throw new SchedulerNotRunningError();
    const wait = options.wait ?? true;
    const timeoutMs =
      options.timeout === undefined ? null : parseDuration(options.timeout, 'shutdown: timeout');
    // With a timeout, everything shutdown waits for (runs, lifecycle cleanups, executors) waits until then at most.
    const deadline = timeoutMs === null ? null : Date.now() + timeoutMs;
    this.#state = 'stopping';
    this.#timer.cancel();
    for (const unwatch of this.#unwatch.splice(0)) unwatch();
    await this.#exclusive(() => this.#fireShutdownTasks());
    if (wait) await this.#waitForRuns(timeoutMs);
    else this.#shutdownController.abort(new SchedulerNotRunningError());
    await Promise.allSettled([...this.#runs.values()].map((run) => run.promise));
    // Once runs were aborted, nothing more is awaited: a task that ignores its signal cannot hold shutdown.
    const waitForCleanup = wait && !this.#shutdownController.signal.aborted;
    for (const lifecycle of this.#lifecycles.values()) {
      const closed = lifecycle.close(waitForCleanup).catch((error) => this.#logLifecycleError(error));
      await untilDeadline(closed, deadline);
    }
    this.#lifecycles.clear();
    await this.#closeAll(waitForCleanup, deadline);
    this.#state = 'stopped';
    this.#paused = false;
    this.#events.emit('scheduler:shutdown', { schedulerId: this.schedulerId });
    this.logger.info({ schedulerId: this.schedulerId }, 'scheduler shut down');
  }

  /** `shutdown()` if running, so that `await using scheduler = new Scheduler()` cleans up. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#state === 'running') await this.shutdown();
  }

  /** Stops dispatching without stopping the scheduler; tasks can still be changed. */
  pause(): void {
    if (this.#state !== 'running') throw new SchedulerNotRunningError();
    if (this.#paused) return;
    this.#paused = true;
    this.#timer.cancel();
    this.#events.emit('scheduler:paused', { schedulerId: this.schedulerId });
  }

  /** Restarts dispatching; runs that fell due meanwhile are judged by the misfire rules. */
  resume(): void {
    if (this.#state !== 'running') throw new SchedulerNotRunningError();
    if (!this.#paused) return;
    this.#paused = false;
    this.#events.emit('scheduler:resumed', { schedulerId: this.schedulerId });
    void this.#dispatch();
  }

  /** Re-evaluates due tasks and the next wake-up now. */
  wakeup(): void {
    if (this.#state === 'running' && !this.#paused) void this.#dispatch();
  }

  // ---- tasks ----

  /** Adds a task; before `start()` it is pending and written to its store at start. */
  async addTask(fn: TaskFunction | string, options: TaskOptions): Promise<Task> {
    await this.#startup;
    const alias = this.#storeAlias(options?.store);
    const store = this.#getStore(alias);
    const record = buildTaskRecord(fn, options, this.#buildContext(store));
    this.#getExecutor(record.executor);
    const replaceExisting = options.replaceExisting === true;
    if (this.#state !== 'running') {
      const key = taskKey(alias, record.id);
      if (this.#pending.has(key) && !replaceExisting) {
        throw new ConflictingIdError(record.id, alias);
      }
      this.#pending.set(key, {
        record,
        store: alias,
        replaceExisting,
        explicitNextRunTime: options.nextRunTime !== undefined,
      });
      return new Task(record, alias, true, this);
    }
    // Setup runs outside the queue of store changes: a slow setup never delays other tasks, and a setup
    // that adds tasks itself cannot deadlock.
    const lifecycle = await this.#setUpLifecycle(alias, record);
    let replaced: LifecycleTask | undefined;
    try {
      await this.#exclusive(async () => {
        await store.addTask(record, { replaceExisting });
        this.#noteShutdownTask(alias, record);
        replaced = this.#detachLifecycle(alias, record.id);
        if (lifecycle !== null) this.#lifecycles.set(taskKey(alias, record.id), lifecycle);
        this.#events.emit('task:added', { taskId: record.id, store: alias });
        if (lifecycle?.finished) await this.#removeStored(alias, store, record.id);
        else this.#armAtMost(record.nextRunTime);
      });
    } catch (error) {
      await lifecycle?.close();
      throw error;
    }
    await this.#closeLifecycle(replaced);
    return new Task(record, alias, false, this);
  }

  /** The task with this id, or undefined. */
  async getTask(id: string, options: StoreSelector = {}): Promise<Task | undefined> {
    const pending = this.#findPending(id, options.store);
    if (pending !== undefined) return new Task(pending.record, pending.store, true, this);
    const found = await this.#locate(id, options.store);
    return found === undefined ? undefined : new Task(found.record, found.alias, false, this);
  }

  /** Every task (of one store, or all), by next run time, paused tasks last. */
  async getTasks(options: StoreSelector = {}): Promise<Task[]> {
    const aliases =
      options.store === undefined ? [...this.#stores.keys()] : [this.#storeAlias(options.store)];
    const entries: Array<{ record: TaskRecord; alias: string; pending: boolean }> = [];
    for (const alias of aliases) {
      const store = this.#getStore(alias);
      if (this.#state === 'running' || this.#state === 'stopping') {
        for (const record of await store.getTasks()) entries.push({ record, alias, pending: false });
      }
    }
    for (const pending of this.#pending.values()) {
      if (aliases.includes(pending.store))
        entries.push({ record: pending.record, alias: pending.store, pending: true });
    }
    entries.sort((a, b) => compareTaskRecords(a.record, b.record));
    return entries.map((entry) => new Task(entry.record, entry.alias, entry.pending, this));
  }

  /** Changes any option of a task but its id; a new trigger recomputes the next run time from now. */
  async updateTask(id: string, changes: TaskChanges, options: StoreSelector = {}): Promise<Task> {
    if (typeof changes !== 'object' || changes === null) {
      throw new ValueError(`updateTask: changes must be an object, got ${describeValue(changes)}`);
    }
    if ('id' in changes) throw new ValueError(`updateTask: the id of task '${id}' cannot be changed`);
    return this.#modify(
      id,
      options.store,
      (record, context) => {
        const { store: _store, ...rest } = changes;
        this.#checkLifecycleChange(record, changes);
        const updated = applyTaskChanges(record, rest, context);
        if (
          changes.trigger !== undefined &&
          changes.nextRunTime === undefined &&
          record.nextRunTime !== null
        ) {
          updated.nextRunTime = firstRunTime(updated.trigger, context.now);
        }
        return updated;
      },
      changes.nextRunTime !== undefined ? true : undefined,
      changes.store,
    );
  }

  /** Gives a task a new trigger and recomputes its next run time from now (this also resumes it). */
  rescheduleTask(id: string, trigger: Trigger | TriggerSpec, options: StoreSelector = {}): Promise<Task> {
    return this.#modify(
      id,
      options.store,
      (record, context) => {
        const updated = applyTaskChanges(record, { trigger }, context);
        updated.nextRunTime = firstRunTime(updated.trigger, context.now);
        return updated;
      },
      false,
    );
  }

  /** Pauses a task: its next run time becomes null. */
  pauseTask(id: string, options: StoreSelector = {}): Promise<Task> {
    return this.#modify(id, options.store, (record) => copyTaskRecord(record, null), true);
  }

  /**
   * Resumes a paused task, with its next run time recomputed from now. A task whose trigger has no fire
   * time left is removed (the returned snapshot shows it with no next run time).
   */
  async resumeTask(id: string, options: StoreSelector = {}): Promise<Task> {
    const resumed = await this.#modify(
      id,
      options.store,
      (record, context) => copyTaskRecord(record, firstRunTime(record.trigger, context.now)),
      false,
    );
    if (resumed.nextRunTime === null && !firesAtShutdown(resumed.trigger))
      await this.removeTask(id, { store: resumed.store });
    return resumed;
  }

  /** Submits one run now, outside the schedule and honouring `maxInstances`; the schedule is unchanged. */
  async runTaskNow(id: string, options: StoreSelector = {}): Promise<void> {
    if (this.#state !== 'running') throw new SchedulerNotRunningError();
    const found = await this.#locate(id, options.store);
    if (found === undefined) throw new TaskLookupError(id, options.store);
    await this.#submitRun(found.alias, found.store, found.record, new Date());
  }

  /** Removes a task; an unknown id is a `TaskLookupError`. Ends a lifecycle task (its `finally` runs). */
  async removeTask(id: string, options: StoreSelector = {}): Promise<void> {
    await this.#startup;
    const pending = this.#findPending(id, options.store);
    if (pending !== undefined) {
      this.#pending.delete(taskKey(pending.store, id));
      this.#events.emit('task:removed', { taskId: id, store: pending.store });
      return;
    }
    const detached = await this.#exclusive(async () => {
      const found = await this.#locate(id, options.store);
      if (found === undefined) throw new TaskLookupError(id, options.store);
      await found.store.removeTask(id);
      this.#events.emit('task:removed', { taskId: id, store: found.alias });
      return this.#detachLifecycle(found.alias, id);
    });
    // The generator's cleanup runs outside the queue of store changes, so it cannot stall the scheduler.
    await this.#closeLifecycle(detached);
  }

  /** Removes every task (of one store, or of all). */
  async removeAllTasks(options: StoreSelector = {}): Promise<void> {
    const aliases =
      options.store === undefined ? [...this.#stores.keys()] : [this.#storeAlias(options.store)];
    await this.#startup;
    const detached: Array<LifecycleTask | undefined> = [];
    await this.#exclusive(async () => {
      for (const alias of aliases) {
        const store = this.#getStore(alias);
        const taskIds: string[] = [];
        for (const [key, pending] of this.#pending) {
          if (pending.store === alias) {
            this.#pending.delete(key);
            taskIds.push(pending.record.id);
          }
        }
        if (this.#state === 'running') taskIds.push(...(await store.removeAllTasks()));
        for (const id of taskIds) detached.push(this.#detachLifecycle(alias, id));
        this.#events.emit('tasks:removed-all', { store: alias, taskIds });
      }
    });
    await Promise.all(detached.map((lifecycle) => this.#closeLifecycle(lifecycle)));
  }

  // ---- stores and executors ----

  /** Adds a store under a new alias (started at once if the scheduler runs). */
  async addStore(alias: string, store: TaskStore): Promise<void> {
    if (this.#stores.has(alias))
      throw new ValueError(`addStore: a store with alias '${alias}' already exists`);
    checkStore(alias, store);
    if (this.#state === 'running') {
      await store.start(this.#storeContext(alias));
      this.#watchStore(store);
    }
    this.#stores.set(alias, store);
    if (this.#state === 'running') await this.#locks?.addStore(alias);
    this.#events.emit('store:added', { alias });
    this.wakeup();
  }

  /** Removes a store (closed if the scheduler runs); its tasks stay in it but are no longer dispatched. */
  async removeStore(alias: string): Promise<void> {
    const store = this.#getStore(alias);
    await this.#exclusive(async () => {
      this.#stores.delete(alias);
      for (const [key, pending] of this.#pending) if (pending.store === alias) this.#pending.delete(key);
      if (this.#state === 'running') await store.close();
    });
    this.#events.emit('store:removed', { alias });
  }

  /** Adds an executor under a new alias (started at once if the scheduler runs). */
  async addExecutor(alias: string, executor: Executor): Promise<void> {
    if (this.#executors.has(alias))
      throw new ValueError(`addExecutor: an executor with alias '${alias}' already exists`);
    checkExecutor(alias, executor);
    if (this.#state === 'running') await executor.start({ logger: this.logger, alias });
    this.#executors.set(alias, executor);
    this.#events.emit('executor:added', { alias });
  }

  /** Removes an executor, waiting for its work in progress. */
  async removeExecutor(alias: string): Promise<void> {
    const executor = this.#getExecutor(alias);
    this.#executors.delete(alias);
    if (this.#state === 'running') await executor.shutdown({ wait: true });
    this.#events.emit('executor:removed', { alias });
  }

  // ---- events ----

  /** Listens to an event; see `SchedulerEvents` for the payloads. */
  on<E extends SchedulerEventName>(name: E, listener: SchedulerListener<E>): this {
    this.#events.on(name, listener);
    return this;
  }

  /** Listens to the next occurrence of an event only. */
  once<E extends SchedulerEventName>(name: E, listener: SchedulerListener<E>): this {
    this.#events.on(name, listener, true);
    return this;
  }

  /** Stops listening. */
  off<E extends SchedulerEventName>(name: E, listener: SchedulerListener<E>): this {
    this.#events.off(name, listener);
    return this;
  }

  // ---- dispatch ----

  /** One wake-up: dispatches what is due in every store, then re-arms the timer. Serialised; never throws. */
  async #dispatch(): Promise<void> {
    if (this.#dispatching) {
      this.#dispatchAgain = true;
      return;
    }
    this.#dispatching = true;
    try {
      do {
        this.#dispatchAgain = false;
        await this.#exclusive(async () => {
          if (this.#state !== 'running' || this.#paused || this.#settingUp) return;
          const wokeAt = Date.now();
          const failed = new Set<string>();
          let acquired = 0;
          for (const [alias, store] of this.#stores) {
            if (!this.#mayDispatch(alias)) continue;
            try {
              acquired += await this.#dispatchStore(alias, store, wokeAt);
            } catch (error) {
              failed.add(alias);
              this.logger.error({ err: error, store: alias }, `dispatching from store '${alias}' failed`);
            }
          }
          const next = await this.#armFromStores(failed);
          // More already due (tasks a few microseconds apart): go on at once instead of through a timer, which
          // could not fire sooner than 1 ms. Only after progress, so a store can never make this spin.
          if (acquired > 0 && next !== null && next <= Date.now()) this.#dispatchAgain = true;
        });
      } while (this.#dispatchAgain && this.#state === 'running' && !this.#paused);
    } finally {
      this.#dispatching = false;
    }
  }

  /**
   * Acquires the due tasks of one store in batches; plans and starts their runs first, then computes the
   * next run times that planning did not (cron math never delays a run), and releases them. Returns how many
   * it acquired.
   */
  async #dispatchStore(alias: string, store: TaskStore, wokeAt: number): Promise<number> {
    let acquired = 0;
    for (;;) {
      const now = Date.now();
      const due = await store.acquireDueTasks({
        owner: this.schedulerId,
        now,
        leaseMs: TASK_LEASE_MS,
        limit: ACQUIRE_BATCH,
      });
      if (due.length === 0) return acquired;
      acquired += due.length;
      const releases: TaskRelease[] = [];
      const planned: Array<{ record: TaskRecord; latest: Date }> = [];
      const claims: Promise<void>[] = [];
      for (const record of due) {
        const resolvable = this.#resolver.resolveSync(record.fn) !== undefined;
        if (!resolvable && (await this.#isUnresolvable(alias, record))) {
          releases.push({ id: record.id, holdUntil: now + UNRESOLVED_HOLD_MS });
          continue;
        }
        const plan = this.#plan(alias, record, () => planDispatch(record, now, wokeAt));
        if (plan === null) {
          releases.push({ id: record.id, nextRunTime: null });
          continue;
        }
        if (plan.missed !== null) {
          this.#events.emit('task:missed', {
            taskId: record.id,
            store: alias,
            count: plan.missed.count,
            countIsExact: plan.missed.exact,
            scheduledRunTimes: plan.missed.times,
          });
        }
        for (const time of plan.runTimes) {
          const claim = this.#submitRun(alias, store, record, time);
          if (claim !== undefined) claims.push(claim);
        }
        if (plan.next !== undefined) releases.push({ id: record.id, nextRunTime: plan.next });
        else planned.push({ record, latest: plan.latest });
      }
      if (claims.length > 0) await Promise.allSettled(claims);
      for (const { record, latest } of planned) {
        const next = this.#plan(alias, record, () => nextRunTimeAfter(record.trigger, latest, now));
        releases.push({ id: record.id, nextRunTime: next });
      }
      await store.releaseTasks(this.schedulerId, releases);
      for (const release of releases) {
        if ('nextRunTime' in release && release.nextRunTime === 'remove')
          this.#afterRemoved(alias, release.id);
      }
      if (due.length < ACQUIRE_BATCH) return acquired;
    }
  }

  /**
   * Runs trigger math for a task; if the trigger throws (e.g. an AndTrigger with no common time), reports
   * it and returns null: the task is then paused, and kept.
   */
  #plan<T>(alias: string, record: TaskRecord, compute: () => T): T | null {
    try {
      return compute();
    } catch (error) {
      const scheduled = new Date(record.nextRunTime as number);
      this.#reportTaskError(
        alias,
        record.id,
        scheduled,
        error,
        `task '${record.id}' could not be scheduled; it is paused`,
      );
      return null;
    }
  }

  /**
   * Logs and emits `task:error` for a task that could not be run: attempt 0 when it could not be scheduled at
   * all, 1 when its run found no executor.
   */
  #reportTaskError(
    alias: string,
    taskId: string,
    scheduledRunTime: Date,
    error: unknown,
    message: string,
    attempt = 0,
  ): void {
    this.logger.error({ err: error, taskId, store: alias }, message);
    this.#events.emit('task:error', { taskId, store: alias, scheduledRunTime, error, attempt });
  }

  /**
   * For a function not resolvable without importing: true if it cannot be found (renamed in a redeploy, a module
   * that fails to import):
   * reported once per task and function, and parked untouched so another deploy, or a later try, picks it up.
   */
  async #isUnresolvable(alias: string, record: TaskRecord): Promise<boolean> {
    if (this.#executors.get(record.executor)?.loadsFunctions === true) return false;
    const key = `${taskKey(alias, record.id)}\u0000${FunctionResolver.nameOf(record.fn)}`;
    try {
      await this.#resolver.resolve(record.fn);
      this.#unresolved.delete(key);
      return false;
    } catch (error) {
      if (!this.#unresolved.has(key)) {
        this.#unresolved.add(key);
        const message = `task '${record.id}': ${(error as Error).message}; it is kept untouched`;
        this.#reportTaskError(alias, record.id, new Date(record.nextRunTime as number), error, message);
      }
      return true;
    }
  }

  /**
   * Claims a run slot and starts the run, or reports it skipped at `maxInstances`. For a store only this
   * scheduler uses, the slot is counted here and the run starts before this returns (a burst starts without
   * a promise hop per run); a shared store claims the slot itself (so `maxInstances` holds across
   * schedulers), and the returned promise settles once the run has started or been skipped.
   */
  #submitRun(
    alias: string,
    store: TaskStore,
    record: TaskRecord,
    scheduledRunTime: Date,
  ): Promise<void> | undefined {
    if (!isSharedStore(store)) {
      if (this.#localRuns.running(alias, record.id) < record.maxInstances) {
        this.#startRun(alias, store, record, scheduledRunTime, null);
      } else {
        this.#skipRun(alias, record, scheduledRunTime);
      }
      return undefined;
    }
    // Unique across every scheduler sharing a store, since schedulerId is; cheaper than a UUID per run.
    const slotId = `${this.schedulerId}:${++this.#runSequence}`;
    const claim = {
      taskId: record.id,
      runId: slotId,
      owner: this.schedulerId,
      expiresAt: Date.now() + RUN_LEASE_MS,
      maxInstances: record.maxInstances,
    };
    return store.claimRunSlot(claim).then(
      (claimed) => {
        if (claimed) this.#startRun(alias, store, record, scheduledRunTime, slotId);
        else this.#skipRun(alias, record, scheduledRunTime);
      },
      (error: unknown) => {
        const message = `task '${record.id}': claiming a run slot failed`;
        this.#reportTaskError(alias, record.id, scheduledRunTime, error, message);
      },
    );
  }

  /** Reports a run not started because `maxInstances` runs of its task are in progress. */
  #skipRun(alias: string, record: TaskRecord, scheduledRunTime: Date): void {
    this.logger.warn(
      { taskId: record.id, scheduledRunTime },
      `task '${record.id}' skipped: maxInstances reached`,
    );
    this.#events.emit('task:max-instances', { taskId: record.id, store: alias, scheduledRunTime });
  }

  /**
   * Starts a run that holds a slot: `slotId` in a shared store; null for a store only this scheduler uses,
   * whose runs are counted in `#localRuns`. A run that ended synchronously is done with here (it was never
   * counted: nothing else ran meanwhile); any other is counted and kept in `#runs` until its end is handled.
   */
  #startRun(
    alias: string,
    store: TaskStore,
    record: TaskRecord,
    scheduledRunTime: Date,
    slotId: string | null,
  ): void {
    if (this.#events.has('task:submitted')) {
      this.#events.emit('task:submitted', { taskId: record.id, store: alias, scheduledRunTime });
    }
    const executor = this.#executors.get(record.executor);
    const lifecycle =
      this.#lifecycles.size === 0 ? undefined : this.#lifecycles.get(taskKey(alias, record.id));
    let ended: Promise<void> | undefined;
    if (executor === undefined) {
      const error = new ExecutorLookupError(record.executor);
      this.#reportTaskError(
        alias,
        record.id,
        scheduledRunTime,
        error,
        `task '${record.id}' could not run`,
        1,
      );
    } else {
      ended = executeRun({
        record,
        store: alias,
        scheduledRunTime,
        executor,
        events: this.#events,
        logger: this.logger,
        call: lifecycle !== undefined ? lifecycleCall(lifecycle) : this.#plainCall(record),
        shutdown: this.#shutdownWatch,
      });
    }
    if (ended === undefined && slotId === null) return;
    if (slotId === null) this.#localRuns.add(alias, record.id);
    const runId = ++this.#runSequence;
    // `executeRun` never rejects; should it ever, the run still ends (its slot freed) and nothing goes unhandled.
    const end = () => this.#endRun(runId, alias, store, record.id, slotId, lifecycle);
    const promise = (ended ?? Promise.resolve())
      .then(end, end)
      .catch((error: unknown) => this.logger.error({ err: error, taskId: record.id }, 'ending a run failed'));
    this.#runs.set(runId, { taskId: record.id, store: alias, slotId, promise });
    if (slotId !== null) this.#startRenewal();
  }

  /** After a run kept in `#runs` ended: frees its slot, and removes a lifecycle task whose generator returned. */
  async #endRun(
    runId: number,
    alias: string,
    store: TaskStore,
    taskId: string,
    slotId: string | null,
    lifecycle: LifecycleTask | undefined,
  ): Promise<void> {
    this.#runs.delete(runId);
    if (slotId === null) this.#localRuns.release(alias, taskId);
    else if (isSharedStore(store)) {
      await store
        .releaseRunSlot(slotId)
        .catch((error: unknown) => this.logger.error({ err: error }, 'releasing a run slot failed'));
    }
    if (lifecycle?.finished) await this.#endLifecycleTask(alias, store, taskId, lifecycle);
    if (this.#runs.size === 0) this.#stopRenewal();
  }

  /** The per-attempt call of a plain task: resolve its function (importing module references once), call it. */
  #plainCall(record: TaskRecord): (context: RunContext) => unknown {
    const direct = this.#resolver.resolveSync(record.fn);
    if (direct !== undefined) return () => direct(...record.args);
    return async () => (await this.#resolver.resolve(record.fn))(...record.args);
  }

  /**
   * Arms the timer at the earliest wake-up over all stores. A store that failed (to dispatch, or to answer)
   * is tried again after a backoff that doubles up to the timer cap, instead of at once.
   */
  async #armFromStores(failed: Set<string>): Promise<number | null> {
    let earliest: number | null = null;
    for (const [alias, store] of this.#stores) {
      if (!this.#mayDispatch(alias) || failed.has(alias)) continue;
      try {
        const time = await store.earliestWakeup(this.schedulerId);
        if (time !== null && (earliest === null || time < earliest)) earliest = time;
      } catch (error) {
        failed.add(alias);
        this.logger.error(
          { err: error, store: alias },
          `reading the next wake-up of store '${alias}' failed`,
        );
      }
    }
    if (failed.size > 0) {
      const retryAt = Date.now() + this.#failureBackoffMs;
      this.#failureBackoffMs = Math.min(this.#failureBackoffMs * 2, MAX_TIMER_WAIT_MS);
      if (earliest === null || retryAt < earliest) earliest = retryAt;
    } else {
      this.#failureBackoffMs = FIRST_FAILURE_BACKOFF_MS;
    }
    if (this.#state === 'running' && !this.#paused) this.#timer.arm(earliest);
    return earliest;
  }

  /** False for a store whose dispatch lock another process holds. */
  #mayDispatch(alias: string): boolean {
    return this.#locks === null || this.#locks.holds(alias);
  }

  /** Brings the timer forward to `time` if that is sooner (no store query). */
  #armAtMost(time: number | null): void {
    if (time === null || this.#state !== 'running' || this.#paused || this.#settingUp) return;
    const target = this.#timer.target;
    if (target === null || time < target) this.#timer.arm(time);
  }

  // ---- helpers ----

  /** Runs `work` after every earlier queued change or wake-up of this scheduler. */
  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(work);
    this.#queue = result.catch(() => {});
    return result;
  }

  /**
   * Finds a task, then replaces it with `change(record)` (moving it if `toStore` differs).
   * `pinsNextRunTime` says whether the change fixes a pending task's first run time (true), lets it be
   * computed at start (false), or leaves that as it was (undefined).
   */
  async #modify(
    id: string,
    storeAlias: string | undefined,
    change: (record: TaskRecord, context: TaskBuildContext) => TaskRecord,
    pinsNextRunTime?: boolean,
    toStore?: string,
  ): Promise<Task> {
    await this.#startup;
    const pending = this.#findPending(id, storeAlias);
    if (pending !== undefined) {
      const target = this.#storeAlias(toStore ?? pending.store);
      const updated = change(pending.record, this.#buildContext(this.#getStore(target)));
      this.#getExecutor(updated.executor);
      this.#pending.delete(taskKey(pending.store, id));
      this.#pending.set(taskKey(target, id), {
        ...pending,
        record: updated,
        store: target,
        explicitNextRunTime: pinsNextRunTime ?? pending.explicitNextRunTime,
      });
      this.#events.emit('task:modified', { taskId: id, store: target });
      return new Task(updated, target, true, this);
    }
    return this.#exclusive(async () => {
      const found = await this.#locate(id, storeAlias);
      if (found === undefined) throw new TaskLookupError(id, storeAlias);
      const targetAlias = this.#storeAlias(toStore ?? found.alias);
      const target = this.#getStore(targetAlias);
      const updated = change(found.record, this.#buildContext(target));
      this.#getExecutor(updated.executor);
      if (targetAlias === found.alias) {
        await found.store.updateTask(updated);
      } else {
        await target.addTask(updated, { replaceExisting: false });
        await found.store.removeTask(id);
        this.#shutdownTasks.delete(taskKey(found.alias, id));
        const lifecycle = this.#lifecycles.get(taskKey(found.alias, id));
        if (lifecycle !== undefined) {
          this.#lifecycles.delete(taskKey(found.alias, id));
          this.#lifecycles.set(taskKey(targetAlias, id), lifecycle);
        }
      }
      this.#noteShutdownTask(targetAlias, updated);
      this.#events.emit('task:modified', { taskId: id, store: targetAlias });
      this.#armAtMost(updated.nextRunTime);
      return new Task(updated, targetAlias, false, this);
    });
  }

  /** Finds a stored task in the named store, or the first store that has it. */
  async #locate(id: string, storeAlias: string | undefined): Promise<Located | undefined> {
    if (this.#state !== 'running' && this.#state !== 'stopping') return undefined;
    const aliases = storeAlias === undefined ? [...this.#stores.keys()] : [this.#storeAlias(storeAlias)];
    for (const alias of aliases) {
      const store = this.#getStore(alias);
      const record = await store.getTask(id);
      if (record !== undefined) return { alias, store, record };
    }
    return undefined;
  }

  #findPending(id: string, storeAlias: string | undefined): PendingTask | undefined {
    if (storeAlias !== undefined) return this.#pending.get(taskKey(this.#storeAlias(storeAlias), id));
    for (const pending of this.#pending.values()) if (pending.record.id === id) return pending;
    return undefined;
  }

  /** Removes a stored task and reports it; its lifecycle, if any, is closed without being awaited. */
  async #removeStored(alias: string, store: TaskStore, id: string): Promise<void> {
    await store.removeTask(id);
    this.#afterRemoved(alias, id);
  }

  /** Reports a removed task and closes its lifecycle in the background (never inside the queue's wait). */
  #afterRemoved(alias: string, id: string): void {
    const lifecycle = this.#detachLifecycle(alias, id);
    if (lifecycle !== undefined) void this.#closeLifecycle(lifecycle);
    if (this.#events.has('task:removed')) this.#events.emit('task:removed', { taskId: id, store: alias });
  }

  /** Removes a lifecycle task whose generator ended, unless the task was replaced or removed meanwhile. */
  async #endLifecycleTask(
    alias: string,
    store: TaskStore,
    id: string,
    lifecycle: LifecycleTask,
  ): Promise<void> {
    await this.#exclusive(async () => {
      if (this.#lifecycles.get(taskKey(alias, id)) !== lifecycle) return;
      if ((await store.getTask(id)) !== undefined) await this.#removeStored(alias, store, id);
      else this.#lifecycles.delete(taskKey(alias, id));
    });
  }

  /** Creates and sets up the generator of a lifecycle task (null for plain tasks). */
  async #setUpLifecycle(alias: string, record: TaskRecord): Promise<LifecycleTask | null> {
    const fn = this.#resolver.resolveSync(record.fn);
    if (fn === undefined || !isGeneratorFunction(fn)) return null;
    const lifecycle = new LifecycleTask(fn, record.args);
    try {
      await lifecycle.setup();
    } catch (error) {
      this.logger.error(
        { err: error, taskId: record.id, store: alias },
        `setup of lifecycle task '${record.id}' failed`,
      );
      throw error;
    }
    return lifecycle;
  }

  /** Takes the lifecycle of a task out of the registry (to be closed by the caller). */
  #detachLifecycle(alias: string, id: string): LifecycleTask | undefined {
    if (this.#lifecycles.size === 0) return undefined;
    const key = taskKey(alias, id);
    const lifecycle = this.#lifecycles.get(key);
    this.#lifecycles.delete(key);
    return lifecycle;
  }

  /** Ends a detached lifecycle task (`return()`, so its `finally` runs); failures are logged. */
  async #closeLifecycle(lifecycle: LifecycleTask | undefined, wait = true): Promise<void> {
    await lifecycle?.close(wait).catch((error) => this.#logLifecycleError(error));
  }

  /** A lifecycle task's function and args live in its running generator: they cannot be swapped. */
  #checkLifecycleChange(record: TaskRecord, changes: TaskChanges): void {
    if (changes.fn === undefined && changes.args === undefined) return;
    const current = this.#resolver.resolveSync(record.fn);
    const next = changes.fn === undefined ? current : this.#resolver.resolveSync(changes.fn);
    if (isGeneratorFunction(current) || isGeneratorFunction(next)) {
      throw new ValueError(
        `updateTask: task '${record.id}' is (or would become) a lifecycle task; its fn and args cannot change — remove it and add it again`,
      );
    }
  }

  #logLifecycleError(error: unknown): void {
    this.logger.error({ err: error }, 'a lifecycle task threw while closing');
  }

  /** Writes tasks added before `start()` to their stores, recomputing their first run time from now. */
  async #writePendingTasks(): Promise<void> {
    const now = new Date();
    for (const [key, pending] of this.#pending) {
      const record = pending.explicitNextRunTime
        ? pending.record
        : copyTaskRecord(pending.record, firstRunTime(pending.record.trigger, now));
      await this.#getStore(pending.store).addTask(record, { replaceExisting: pending.replaceExisting });
      this.#noteShutdownTask(pending.store, record);
      this.#pending.delete(key);
      this.#events.emit('task:added', { taskId: record.id, store: pending.store });
    }
  }

  /** At start, sets up the lifecycle tasks found in (non-persistent) stores, e.g. those added before start. */
  async #setUpStoredLifecycles(): Promise<void> {
    for (const [alias, store] of this.#stores) {
      if (store.persistent) continue;
      for (const record of await store.getTasks()) {
        const key = taskKey(alias, record.id);
        if (this.#lifecycles.has(key)) continue;
        let lifecycle: LifecycleTask | null;
        try {
          lifecycle = await this.#setUpLifecycle(alias, record);
        } catch (error) {
          this.#events.emit('task:error', {
            taskId: record.id,
            store: alias,
            scheduledRunTime: new Date(),
            error,
            attempt: 0,
          });
          await this.#removeStored(alias, store, record.id);
          continue;
        }
        if (lifecycle === null) continue;
        this.#lifecycles.set(key, lifecycle);
        if (lifecycle.finished) await this.#removeStored(alias, store, record.id);
      }
    }
  }

  /**
   * Submits one run of every shutdown-triggered task this scheduler added, then removes those tasks (they
   * fire once). Only the tasks it noted are read: a shutdown never scans a store.
   */
  async #fireShutdownTasks(): Promise<void> {
    for (const key of this.#shutdownTasks) {
      const [alias, id] = key.split('\u0000') as [string, string];
      const store = this.#stores.get(alias);
      try {
        const record = await store?.getTask(id);
        if (store === undefined || record === undefined || !firesAtShutdown(record.trigger)) continue;
        await this.#submitRun(alias, store, record, new Date());
        await store.removeTask(id);
        this.#afterRemoved(alias, id);
      } catch (error) {
        this.logger.error(
          { err: error, taskId: id, store: alias },
          `shutdown task '${id}' could not be fired`,
        );
      }
    }
    this.#shutdownTasks.clear();
  }

  /** Keeps `#shutdownTasks` in step with a task this scheduler wrote. */
  #noteShutdownTask(alias: string, record: TaskRecord): void {
    const key = taskKey(alias, record.id);
    if (firesAtShutdown(record.trigger)) this.#shutdownTasks.add(key);
    else this.#shutdownTasks.delete(key);
  }

  /** Waits for runs in progress, up to `timeoutMs`; then aborts their signals. */
  async #waitForRuns(timeoutMs: number | null): Promise<void> {
    const all = Promise.allSettled([...this.#runs.values()].map((run) => run.promise));
    if (timeoutMs === null) {
      await all;
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), timeoutMs);
    });
    const expired = await Promise.race([all.then(() => false), timedOut]);
    clearTimeout(timer);
    if (expired) this.#shutdownController.abort(new SchedulerNotRunningError());
  }

  async #closeAll(wait: boolean, deadline: number | null = null): Promise<void> {
    this.#stopRenewal();
    await this.#locks?.stop();
    await this.#close(this.#executors, this.#stores, wait, deadline);
  }

  /**
   * Shuts these executors down (with `wait`, until `deadline` at most: work a timed-out attempt left behind
   * cannot hold shutdown past its timeout) and closes these stores; failures are logged.
   */
  async #close(
    executors: Map<string, Executor>,
    stores: Map<string, TaskStore>,
    wait: boolean,
    deadline: number | null = null,
  ): Promise<void> {
    for (const [alias, executor] of executors) {
      const stopped = executor
        .shutdown({ wait })
        .catch((error) => this.logger.error({ err: error, executor: alias }, 'executor shutdown failed'));
      await untilDeadline(stopped, deadline);
    }
    for (const [alias, store] of stores) {
      await store
        .close()
        .catch((error) => this.logger.error({ err: error, store: alias }, 'store close failed'));
    }
  }

  #watchStore(store: TaskStore): void {
    const unwatch = store.watch?.(() => this.wakeup());
    if (unwatch !== undefined) this.#unwatch.push(unwatch);
  }

  /** Renews this scheduler's run slots in shared stores while runs are in progress. */
  #startRenewal(): void {
    if (this.#renewal !== undefined) return;
    this.#renewal = setInterval(() => {
      const byStore = new Map<string, string[]>();
      for (const run of this.#runs.values()) {
        if (run.slotId === null) continue;
        const slotIds = byStore.get(run.store);
        if (slotIds === undefined) byStore.set(run.store, [run.slotId]);
        else slotIds.push(run.slotId);
      }
      for (const [alias, slotIds] of byStore) {
        const store = this.#stores.get(alias);
        if (store !== undefined && isSharedStore(store)) {
          store
            .renewRunSlots(this.schedulerId, slotIds, Date.now() + RUN_LEASE_MS)
            .catch((error: unknown) =>
              this.logger.error({ err: error, store: alias }, 'renewing run slots failed'),
            );
        }
      }
    }, RUN_LEASE_MS / 3);
  }

  #stopRenewal(): void {
    if (this.#renewal !== undefined) clearInterval(this.#renewal);
    this.#renewal = undefined;
  }

  #storeContext(alias: string): StoreContext {
    return {
      logger: this.logger,
      alias,
      reportBrokenRecord: (taskId, error) => {
        const message = `task '${taskId}' in store '${alias}' cannot be read; it is kept untouched`;
        this.#reportTaskError(alias, taskId, new Date(), error, message);
      },
    };
  }

  #buildContext(store: TaskStore): TaskBuildContext {
    return {
      defaults: this.#defaults,
      resolver: this.#resolver,
      timezone: this.timezone,
      persistent: store.persistent,
      now: new Date(),
    };
  }

  #storeAlias(alias: unknown): string {
    if (alias === undefined) return 'default';
    if (typeof alias !== 'string')
      throw new ValueError(`store must be a store alias (a string), got ${describeValue(alias)}`);
    return alias;
  }

  #getStore(alias: string): TaskStore {
    const store = this.#stores.get(alias);
    if (store === undefined) throw new StoreLookupError(alias);
    return store;
  }

  #getExecutor(alias: string): Executor {
    const executor = this.#executors.get(alias);
    if (executor === undefined) throw new ExecutorLookupError(alias);
    return executor;
  }
}

/** Settles when `work` settles, or at `deadline` (epoch ms) if that comes first; null: no deadline. */
async function untilDeadline(work: Promise<unknown>, deadline: number | null): Promise<void> {
  if (deadline === null) {
    await work;
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
  });
  await Promise.race([work, expired]);
  clearTimeout(timer);
}

/** True for a trigger that fires only at shutdown. */
function firesAtShutdown(trigger: Trigger): boolean {
  return trigger instanceof ShutdownTrigger;
}

/** The per-attempt call of a lifecycle task: resume its generator once. */
function lifecycleCall(lifecycle: LifecycleTask): (context: RunContext) => Promise<unknown> {
  return async (context) => (await lifecycle.fire(context)).value;
}

function taskKey(alias: string, id: string): string {
  return `${alias}\u0000${id}`;
}

function defaultLogger(): Logger {
  return pino({ name: 'kairos', level: process.env.KAIROS_LOG_LEVEL ?? 'warn' }, pino.destination(2));
}

/** Throws `ValueError` unless `value` is an object with all of `methods`. */
function checkShape(what: string, value: unknown, kind: string, methods: readonly string[]): void {
  const record = value as Record<string, unknown> | null;
  if (
    typeof value !== 'object' ||
    record === null ||
    methods.some((name) => typeof record[name] !== 'function')
  ) {
    throw new ValueError(`${what}: ${describeValue(value)} is not ${kind}`);
  }
}

const STORE_METHODS = [
  'start',
  'close',
  'addTask',
  'getTasks',
  'acquireDueTasks',
  'releaseTasks',
  'earliestWakeup',
] as const;
/** What a shared store has besides. */
const RUN_SLOT_METHODS = ['claimRunSlot', 'renewRunSlots', 'releaseRunSlot'] as const;
const EXECUTOR_METHODS = ['start', 'shutdown', 'execute'] as const;

function checkStore(alias: string, store: unknown): TaskStore {
  checkShape(`stores.${alias}`, store, 'a TaskStore', STORE_METHODS);
  if ((store as TaskStore).shared) {
    checkShape(`stores.${alias}`, store, 'a shared TaskStore (it has no run slots)', RUN_SLOT_METHODS);
  }
  return store as TaskStore;
}

function checkExecutor(alias: string, executor: unknown): Executor {
  checkShape(`executors.${alias}`, executor, 'an Executor', EXECUTOR_METHODS);
  return executor as Executor;
}
