/** The Scheduler: lifecycle, the public task API, and wiring of stores, executors, timer and events. */
import { hostname } from 'node:os';
import { type Logger, pino } from 'pino';
import { MemoryStore } from '../stores/memory.js';
import type { RunContext } from './context.js';
import { declare } from './declaration.js';
import { DispatchLocks } from './dispatch-lock.js';
import { type DispatchPlan, nextRunTimeAfter, planDispatch } from './dispatcher.js';
import {
  ConflictingIdError,
  ExecutorLookupError,
  KairosError,
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
import { setLongTimeout } from './long-timeout.js';
import { FunctionResolver, isGeneratorFunction } from './references.js';
import { executeRun, watchAbort } from './run.js';
import { LocalRunCounts } from './run-counts.js';
import type {
  SharedTaskStore,
  StoreContext,
  StoredTaskState,
  TaskFunction,
  TaskRecord,
  TaskRelease,
  TaskStore,
} from './store.js';
import { compareTaskRecords, copyTaskRecord, isSharedStore } from './store.js';
import { StoreLane } from './store-lane.js';
import {
  applyTaskChanges,
  buildTaskRecord,
  checkTaskChanges,
  firstRunTime,
  parseTaskDefaults,
  type ResolvedTaskDefaults,
  rejectUnknownKeys,
  rescheduledRunTime,
  Task,
  type TaskActions,
  type TaskBuildContext,
  type TaskChanges,
  type TaskDefaults,
  type TaskOptions,
} from './task.js';
import {
  type DurationInput,
  describeValue,
  MAX_TIMER_DELAY_MS,
  parseDuration,
  parseTimezone,
  systemTimezone,
} from './time.js';
import { WakeupTimer } from './timer.js';
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
  /**
   * Module references (`'./jobs/x.js#fn'`) must resolve inside this folder (symlinks resolved), never into
   * `node_modules`: a store row can then choose only among registered functions and the modules under it.
   * @default the working directory
   */
  moduleRoot?: string;
  /**
   * How long a task lease and a run slot of this scheduler outlive it in a shared store if it dies (runs renew
   * their slots every third of it). At least 1 s. @default 30 s
   */
  leaseTime?: DurationInput;
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

/** The default `leaseTime`. */
const DEFAULT_LEASE_MS = 30_000;
/** The shortest `leaseTime`: a lease must outlast a wake-up. */
const MIN_LEASE_MS = 1000;
/** How long a task whose function cannot be resolved stays parked before it is tried again. */
const UNRESOLVED_HOLD_MS = 60_000;
/** How many times `replaceExisting` tries again when the task is added or removed by someone else meanwhile. */
const DECLARE_ATTEMPTS = 5;
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
  'moduleRoot',
  'leaseTime',
]);
/** What a `logger` option must have. */
const LOGGER_METHODS = ['child', 'trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

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

/** A run that a wake-up of a shared store claimed a slot for, started once the task's release went through. */
interface ClaimedRun {
  record: TaskRecord;
  scheduledRunTime: Date;
  /** Its run slot, or null when the task had `maxInstances` runs in progress (the run is skipped). */
  slotId: string | null;
}

/** What a change made in a store's transaction computes, given the task as it is now. */
type StoredChange = (record: TaskRecord, state: StoredTaskState, context: TaskBuildContext) => TaskRecord;

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
  /** How long task leases and run slots outlive this scheduler in a shared store, in ms. */
  readonly leaseTimeMs: number;
  /** Stores by alias, each with its queue of work and next wake-up. */
  readonly #lanes = new Map<string, StoreLane>();
  /** Executors by alias. */
  readonly #executors = new Map<string, Executor>();
  readonly #defaults: ResolvedTaskDefaults;
  readonly #resolver: FunctionResolver;
  readonly #events: EventHub;
  readonly #timer = new WakeupTimer(() => this.#onTimer());
  #state: State = 'stopped';
  /** True once `start()` succeeded: a stopped scheduler then cannot see its stores' tasks. */
  #startedOnce = false;
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
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new ValueError(`Scheduler: options must be an object, got ${describeValue(options)}`);
    }
    rejectUnknownKeys(options, SCHEDULER_OPTION_KEYS, 'Scheduler');
    this.timezone =
      options.timezone === undefined
        ? systemTimezone()
        : parseTimezone(options.timezone, 'Scheduler: timezone');
    this.logger = withSafeErrorSerializer(parseLogger(options.logger));
    this.#defaults = parseTaskDefaults(options.taskDefaults);
    this.#resolver = new FunctionResolver(options.functions, { moduleRoot: options.moduleRoot });
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
    this.leaseTimeMs = parseLeaseTime(options.leaseTime);
    this.#locks = options.lock === undefined ? null : new DispatchLocks(options.lock);
    for (const [alias, store] of Object.entries(options.stores ?? { default: new MemoryStore() })) {
      this.#lanes.set(alias, new StoreLane(alias, checkStore(alias, store)));
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
    if (typeof options !== 'object' || options === null) {
      throw new ValueError(`start: options must be an object, got ${describeValue(options)}`);
    }
    rejectUnknownKeys(options, START_OPTION_KEYS, 'start');
    if (options.paused !== undefined && typeof options.paused !== 'boolean') {
      throw new ValueError(`start: paused must be true or false, got ${describeValue(options.paused)}`);
    }
    if (this.#state !== 'stopped') throw new SchedulerAlreadyRunningError();
    this.#state = 'starting';
    let started = () => {};
    this.#startup = new Promise<void>((resolve) => {
      started = resolve;
    });
    this.#shutdownController = new AbortController();
    this.#shutdownWatch = watchAbort(this.#shutdownController);
    // What started, so that a failed start closes only that (never a store another scheduler has open).
    const lanes = new Map<string, StoreLane>();
    const executors = new Map<string, Executor>();
    try {
      for (const [alias, lane] of this.#lanes) {
        await lane.store.start(this.#storeContext(alias));
        lanes.set(alias, lane);
      }
      for (const [alias, executor] of this.#executors) {
        await executor.start({ logger: this.logger, alias });
        executors.set(alias, executor);
      }
      await this.#writePendingTasks();
    } catch (error) {
      await this.#close(executors, lanes, false);
      this.#state = 'stopped';
      throw error;
    } finally {
      started();
    }
    for (const lane of this.#lanes.values()) this.#watchStore(lane);
    this.#paused = options.paused === true;
    this.#state = 'running';
    this.#startedOnce = true;
    // Setups may call the scheduler (add tasks…), so they run once it is running; dispatch waits for them.
    this.#settingUp = true;
    try {
      await this.#setUpStoredLifecycles();
    } finally {
      this.#settingUp = false;
    }
    await this.#locks?.start(this.#lanes.keys(), this.logger, () => this.wakeup());
    this.#events.emit('scheduler:started', { schedulerId: this.schedulerId });
    this.logger.info({ schedulerId: this.schedulerId }, 'scheduler started');
    if (!this.#paused) this.#dispatchAll();
  }

  /**
   * Stops dispatching, fires shutdown-triggered tasks, waits for runs in progress (with `wait`, up to
   * `timeout`, then aborts their signals; without `wait`, aborts them at once), ends lifecycle tasks, and
   * closes executors and stores. With a `timeout`, it returns within it whatever a store is doing.
   */
  async shutdown(options: ShutdownOptions = {}): Promise<void> {
    if (typeof options !== 'object' || options === null) {
      throw new ValueError(`shutdown: options must be an object, got ${describeValue(options)}`);
    }
    rejectUnknownKeys(options, SHUTDOWN_OPTION_KEYS, 'shutdown');
    if (options.wait !== undefined && typeof options.wait !== 'boolean') {
      throw new ValueError(`shutdown: wait must be true or false, got ${describeValue(options.wait)}`);
    }
    if (this.#state !== 'running') throw new SchedulerNotRunningError();
    const wait = options.wait ?? true;
    const timeoutMs =
      options.timeout === undefined ? null : parseDuration(options.timeout, 'shutdown: timeout');
    // With a timeout, everything shutdown waits for (stores, runs, lifecycle cleanups, executors) waits until then.
    const deadline = timeoutMs === null ? null : Date.now() + timeoutMs;
    this.#state = 'stopping';
    this.#timer.cancel();
    for (const unwatch of this.#unwatch.splice(0)) unwatch();
    // Wake-ups in progress finish first (bounded by the deadline), so no run starts after runs are counted.
    await untilDeadline(Promise.all([...this.#lanes.values()].map((lane) => lane.idle())), deadline);
    await untilDeadline(this.#fireShutdownTasks(), deadline);
    if (wait) await this.#waitForRuns(deadline);
    else this.#shutdownController.abort(new SchedulerNotRunningError());
    await untilDeadline(Promise.allSettled([...this.#runs.values()].map((run) => run.promise)), deadline);
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
    this.#dispatchAll();
  }

  /** Re-evaluates due tasks and the next wake-up now. */
  wakeup(): void {
    this.#dispatchAll();
  }

  // ---- tasks ----

  /**
   * Adds a task; before `start()` it is pending and written to its store at start. With `replaceExisting` it is a
   * declaration: a stored task with the same definition keeps its schedule, a different one is replaced.
   */
  async addTask(fn: TaskFunction | string, options: TaskOptions): Promise<Task> {
    await this.#startup;
    const alias = this.#storeAlias(options?.store);
    const lane = this.#getLane(alias);
    const record = buildTaskRecord(fn, options, this.#buildContext(lane.store));
    this.#getExecutor(record.executor);
    const replaceExisting = options.replaceExisting === true;
    const explicitNextRunTime = options.nextRunTime !== undefined;
    if (this.#state !== 'running') {
      const key = taskKey(alias, record.id);
      if (this.#pending.has(key) && !replaceExisting) {
        throw new ConflictingIdError(record.id, alias);
      }
      this.#pending.set(key, { record, store: alias, replaceExisting, explicitNextRunTime });
      return new Task(record, alias, true, this);
    }
    // Setup runs outside the queue of store changes: a slow setup never delays other tasks, and a setup
    // that adds tasks itself cannot deadlock.
    const lifecycle = await this.#setUpLifecycle(alias, record);
    let replaced: LifecycleTask | undefined;
    let stored: TaskRecord = record;
    try {
      await lane.exclusive(async () => {
        const outcome = replaceExisting
          ? await this.#declare(lane.store, record, explicitNextRunTime)
          : await lane.store.addTask(record).then(() => ({ record, kept: false }));
        stored = outcome.record;
        this.#noteShutdownTask(alias, stored);
        if (outcome.kept) {
          // The stored task is this declaration already; a lifecycle set up for it again is not needed.
          replaced = lifecycle ?? undefined;
        } else {
          replaced = this.#detachLifecycle(alias, record.id);
          if (lifecycle !== null) this.#lifecycles.set(taskKey(alias, record.id), lifecycle);
        }
        this.#events.emit('task:added', { taskId: record.id, store: alias });
        if (lifecycle?.finished && !outcome.kept) await this.#removeStored(alias, lane.store, record.id);
        else this.#wakeNoLaterThan(lane, stored.nextRunTime);
      });
    } catch (error) {
      await lifecycle?.close();
      throw error;
    }
    await this.#closeLifecycle(replaced);
    return new Task(stored, alias, false, this);
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
    if (typeof options !== 'object' || options === null) {
      throw new ValueError(`getTasks: options must be an object, got ${describeValue(options)}`);
    }
    rejectUnknownKeys(options, SELECTOR_KEYS, 'getTasks');
    if (!this.#storesOpen() && this.#startedOnce) throw new SchedulerNotRunningError();
    const aliases = options.store === undefined ? [...this.#lanes.keys()] : [this.#storeAlias(options.store)];
    const entries: Array<{ record: TaskRecord; alias: string; pending: boolean }> = [];
    if (this.#storesOpen()) {
      for (const alias of aliases) {
        for (const record of await this.#getLane(alias).store.getTasks())
          entries.push({ record, alias, pending: false });
      }
    } else {
      for (const alias of aliases) this.#getLane(alias);
    }
    for (const pending of this.#pending.values()) {
      if (aliases.includes(pending.store))
        entries.push({ record: pending.record, alias: pending.store, pending: true });
    }
    entries.sort((a, b) => compareTaskRecords(a.record, b.record));
    return entries.map((entry) => new Task(entry.record, entry.alias, entry.pending, this));
  }

  /**
   * Changes any option of a task but its id, as one atomic change in its store that writes only what it names;
   * a new trigger recomputes the next run time from now.
   */
  async updateTask(id: string, changes: TaskChanges, options: StoreSelector = {}): Promise<Task> {
    const checked = checkTaskChanges(id, changes);
    const { store: toStore, ...rest } = checked;
    return this.#modify(
      id,
      options.store,
      (record, state, context) => {
        this.#checkLifecycleChange(record, checked);
        const updated = applyTaskChanges(record, rest, context);
        if (rest.trigger !== undefined) {
          // A new trigger must be able to fire; it takes over the schedule unless the change pauses or pins it.
          firstRunTime(updated.trigger, context.now, id);
          if (rest.nextRunTime === undefined && record.nextRunTime !== null) {
            updated.nextRunTime = rescheduledRunTime(updated.trigger, context.now, state.leasedRunTime, id);
          }
        }
        if (
          rest.nextRunTime !== undefined &&
          updated.nextRunTime !== null &&
          state.leasedRunTime !== null &&
          updated.nextRunTime <= state.leasedRunTime
        ) {
          updated.nextRunTime = rescheduledRunTime(updated.trigger, context.now, state.leasedRunTime, id);
        }
        return updated;
      },
      rest.nextRunTime !== undefined ? true : undefined,
      toStore,
    );
  }

  /** Gives a task a new trigger and recomputes its next run time from now (this also resumes it). */
  rescheduleTask(id: string, trigger: Trigger | TriggerSpec, options: StoreSelector = {}): Promise<Task> {
    return this.#modify(
      id,
      options.store,
      (record, state, context) => {
        const updated = applyTaskChanges(record, { trigger }, context);
        firstRunTime(updated.trigger, context.now, id);
        updated.nextRunTime = rescheduledRunTime(updated.trigger, context.now, state.leasedRunTime, id);
        return updated;
      },
      false,
    );
  }

  /** Pauses a task: its next run time becomes null. */
  pauseTask(id: string, options: StoreSelector = {}): Promise<Task> {
    return this.#modify(
      id,
      options.store,
      (record) => (record.nextRunTime === null ? record : copyTaskRecord(record, null)),
      true,
    );
  }

  /**
   * Resumes a paused task, with its next run time recomputed from now. A task whose trigger has no fire
   * time left is removed (the returned snapshot shows it with no next run time).
   */
  async resumeTask(id: string, options: StoreSelector = {}): Promise<Task> {
    const resumed = await this.#modify(
      id,
      options.store,
      (record, state, context) =>
        copyTaskRecord(record, rescheduledRunTime(record.trigger, context.now, state.leasedRunTime, id)),
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
    const found = await this.#locate(id, options.store);
    if (found === undefined) throw new TaskLookupError(id, options.store);
    const detached = await this.#getLane(found.alias).exclusive(async () => {
      await found.store.removeTask(id);
      this.#events.emit('task:removed', { taskId: id, store: found.alias });
      return this.#detachLifecycle(found.alias, id);
    });
    // The generator's cleanup runs outside the queue of store changes, so it cannot stall the scheduler.
    await this.#closeLifecycle(detached);
  }

  /** Removes every task (of one store, or of all). */
  async removeAllTasks(options: StoreSelector = {}): Promise<void> {
    const aliases = options.store === undefined ? [...this.#lanes.keys()] : [this.#storeAlias(options.store)];
    await this.#startup;
    if (!this.#storesOpen() && this.#startedOnce) throw new SchedulerNotRunningError();
    const detached: Array<LifecycleTask | undefined> = [];
    for (const alias of aliases) {
      const lane = this.#getLane(alias);
      await lane.exclusive(async () => {
        const taskIds: string[] = [];
        for (const [key, pending] of this.#pending) {
          if (pending.store === alias) {
            this.#pending.delete(key);
            taskIds.push(pending.record.id);
          }
        }
        if (this.#state === 'running') taskIds.push(...(await lane.store.removeAllTasks()));
        for (const id of taskIds) detached.push(this.#detachLifecycle(alias, id));
        this.#events.emit('tasks:removed-all', { store: alias, taskIds });
      });
    }
    await Promise.all(detached.map((lifecycle) => this.#closeLifecycle(lifecycle)));
  }

  // ---- stores and executors ----

  /** Adds a store under a new alias (started at once if the scheduler runs). */
  async addStore(alias: string, store: TaskStore): Promise<void> {
    if (typeof alias !== 'string' || alias === '')
      throw new ValueError(`addStore: alias must be a non-empty string, got ${describeValue(alias)}`);
    if (this.#lanes.has(alias))
      throw new ValueError(`addStore: a store with alias '${alias}' already exists`);
    const lane = new StoreLane(alias, checkStore(alias, store));
    if (this.#state === 'running') {
      await store.start(this.#storeContext(alias));
      this.#watchStore(lane);
    }
    this.#lanes.set(alias, lane);
    if (this.#state === 'running') await this.#locks?.addStore(alias);
    this.#events.emit('store:added', { alias });
    this.#dispatchLane(lane);
  }

  /** Removes a store (closed if the scheduler runs); its tasks stay in it but are no longer dispatched. */
  async removeStore(alias: string): Promise<void> {
    const lane = this.#getLane(alias);
    await lane.exclusive(async () => {
      this.#lanes.delete(alias);
      for (const [key, pending] of this.#pending) if (pending.store === alias) this.#pending.delete(key);
      if (this.#state === 'running') await lane.store.close();
    });
    this.#events.emit('store:removed', { alias });
    this.#rearm();
  }

  /** Adds an executor under a new alias (started at once if the scheduler runs). */
  async addExecutor(alias: string, executor: Executor): Promise<void> {
    if (typeof alias !== 'string' || alias === '')
      throw new ValueError(`addExecutor: alias must be a non-empty string, got ${describeValue(alias)}`);
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

  /** True while wake-ups may dispatch. */
  #mayDispatchNow(): boolean {
    return this.#state === 'running' && !this.#paused && !this.#settingUp;
  }

  /** Starts a wake-up of every store. */
  #dispatchAll(): void {
    if (!this.#mayDispatchNow()) return;
    for (const lane of this.#lanes.values()) this.#dispatchLane(lane);
  }

  /** The timer fired: wakes up the stores whose next wake-up has come, and re-arms for the others. */
  #onTimer(): void {
    const now = Date.now();
    for (const lane of this.#lanes.values()) {
      if (lane.wakeAt !== null && lane.wakeAt <= now) this.#dispatchLane(lane);
    }
    this.#rearm();
  }

  /**
   * One wake-up of one store: dispatches what is due in it, then reads its next wake-up and re-arms the timer.
   * Serialised per store; a store that fails is tried again after a backoff (`store:error`), and delays only its
   * own tasks. Never throws.
   */
  #dispatchLane(lane: StoreLane): void {
    if (lane.dispatching) {
      lane.again = true;
      return;
    }
    lane.dispatching = true;
    void this.#runLane(lane).finally(() => {
      lane.dispatching = false;
      this.#rearm();
    });
  }

  async #runLane(lane: StoreLane): Promise<void> {
    do {
      lane.again = false;
      await lane.exclusive(async () => {
        if (!this.#mayDispatchNow() || !this.#mayDispatch(lane.alias) || this.#lanes.get(lane.alias) !== lane)
          return;
        const wokeAt = Date.now();
        let acquired = 0;
        try {
          acquired = await this.#dispatchStore(lane.alias, lane.store, wokeAt);
          lane.succeeded(await lane.store.earliestWakeup(this.schedulerId));
        } catch (error) {
          lane.failed(Date.now());
          this.#reportStoreError(lane.alias, error);
        }
        // More already due (tasks a few microseconds apart): go on at once instead of through a timer, which
        // could not fire sooner than 1 ms. Only after progress, so a store can never make this spin.
        if (acquired > 0 && lane.wakeAt !== null && lane.wakeAt <= Date.now()) lane.again = true;
      });
    } while (lane.again && this.#mayDispatchNow());
  }

  /** Logs a failed store operation and emits `store:error`; the store is tried again after a backoff. */
  #reportStoreError(alias: string, error: unknown): void {
    try {
      this.logger.error({ err: error, store: alias }, `store '${alias}' failed; retrying with backoff`);
    } catch {
      // A logger that throws must not stop dispatch.
    }
    this.#events.emit('store:error', { alias, error });
  }

  /**
   * Acquires the due tasks of one store in batches and dispatches them; returns how many it acquired. A store
   * only this scheduler uses starts runs first and writes next run times after (cron math never delays a run); a
   * shared store commits each task's next run time before its runs start, so that a scheduler killed mid-wake-up
   * can never have run a time that another scheduler then runs again.
   */
  async #dispatchStore(alias: string, store: TaskStore, wokeAt: number): Promise<number> {
    let acquired = 0;
    for (;;) {
      const now = Date.now();
      const due = await store.acquireDueTasks({
        owner: this.schedulerId,
        now,
        leaseMs: this.leaseTimeMs,
        limit: ACQUIRE_BATCH,
      });
      if (due.length === 0) return acquired;
      acquired += due.length;
      if (isSharedStore(store)) await this.#dispatchShared(alias, store, due, now, wokeAt);
      else await this.#dispatchLocal(alias, store, due, now, wokeAt);
      if (due.length < ACQUIRE_BATCH) return acquired;
    }
  }

  /** Dispatches acquired tasks of a store only this scheduler uses: runs start before next run times are computed. */
  async #dispatchLocal(
    alias: string,
    store: TaskStore,
    due: readonly TaskRecord[],
    now: number,
    wokeAt: number,
  ): Promise<void> {
    const releases: TaskRelease[] = [];
    const planned: Array<{ record: TaskRecord; latest: Date }> = [];
    for (const record of due) {
      const plan = await this.#planTask(alias, record, now, wokeAt, releases);
      if (plan === null) continue;
      this.#reportMissed(alias, record, plan);
      for (const time of plan.runTimes) this.#submitRun(alias, store, record, time);
      if (plan.next !== undefined) releases.push({ id: record.id, nextRunTime: plan.next });
      else planned.push({ record, latest: plan.latest });
    }
    for (const { record, latest } of planned) {
      const next = this.#plan(alias, record, () => nextRunTimeAfter(record.trigger, latest, now));
      releases.push({ id: record.id, nextRunTime: next });
    }
    await store.releaseTasks(this.schedulerId, releases);
    this.#afterReleases(alias, releases);
  }

  /**
   * Dispatches acquired tasks of a shared store: plans them, claims their run slots, commits their next run times,
   * and only then starts the runs of the tasks whose lease this scheduler still held (a lease that expired and
   * was taken over means another scheduler dispatches those times: the claimed slots are given back).
   */
  async #dispatchShared(
    alias: string,
    store: SharedTaskStore,
    due: readonly TaskRecord[],
    now: number,
    wokeAt: number,
  ): Promise<void> {
    const releases: TaskRelease[] = [];
    const planned: Array<{ record: TaskRecord; plan: DispatchPlan }> = [];
    const claims: Array<Promise<ClaimedRun | null>> = [];
    for (const record of due) {
      const plan = await this.#planTask(alias, record, now, wokeAt, releases);
      if (plan === null) continue;
      const next =
        plan.next ?? this.#plan(alias, record, () => nextRunTimeAfter(record.trigger, plan.latest, now));
      releases.push({ id: record.id, nextRunTime: next });
      if (next === null) continue;
      planned.push({ record, plan });
      for (const time of plan.runTimes) claims.push(this.#claimRun(alias, store, record, time));
    }
    const claimed = await Promise.all(claims);
    const held = new Set(await store.releaseTasks(this.schedulerId, releases));
    for (const { record, plan } of planned) if (held.has(record.id)) this.#reportMissed(alias, record, plan);
    for (const run of claimed) {
      if (run === null) continue;
      if (!held.has(run.record.id)) {
        if (run.slotId !== null) this.#freeSlot(store, run.slotId);
      } else if (run.slotId === null) {
        this.#skipRun(alias, run.record, run.scheduledRunTime);
      } else {
        this.#startRun(alias, store, run.record, run.scheduledRunTime, run.slotId);
      }
    }
    this.#afterReleases(
      alias,
      releases.filter((release) => held.has(release.id)),
    );
  }

  /**
   * Plans one acquired task: null (with the release that parks or pauses it pushed to `releases`) when its
   * function cannot be found or its trigger fails.
   */
  async #planTask(
    alias: string,
    record: TaskRecord,
    now: number,
    wokeAt: number,
    releases: TaskRelease[],
  ): Promise<DispatchPlan | null> {
    const resolvable = this.#resolver.resolveSync(record.fn) !== undefined;
    if (!resolvable && (await this.#isUnresolvable(alias, record))) {
      releases.push({ id: record.id, holdUntil: now + UNRESOLVED_HOLD_MS });
      return null;
    }
    const plan = this.#plan(alias, record, () => planDispatch(record, now, wokeAt));
    if (plan === null) releases.push({ id: record.id, nextRunTime: null });
    return plan;
  }

  /** Emits `task:missed` for a plan that missed fire times. */
  #reportMissed(alias: string, record: TaskRecord, plan: DispatchPlan): void {
    if (plan.missed === null) return;
    this.#events.emit('task:missed', {
      taskId: record.id,
      store: alias,
      count: plan.missed.count,
      countIsExact: plan.missed.exact,
      scheduledRunTimes: plan.missed.times,
    });
  }

  /** Reports the tasks that releases removed (their triggers had no fire time left). */
  #afterReleases(alias: string, releases: readonly TaskRelease[]): void {
    for (const release of releases) {
      if ('nextRunTime' in release && release.nextRunTime === 'remove') this.#afterRemoved(alias, release.id);
    }
  }

  /**
   * Runs trigger math for a task; if the trigger throws (e.g. an AndTrigger with no common time) or returns
   * something other than a Date, reports it and returns null: the task is then paused, and kept.
   */
  #plan<T>(alias: string, record: TaskRecord, compute: () => T): T | null {
    try {
      return compute();
    } catch (error) {
      const scheduled = new Date(record.nextRunTime as number);
      const reported =
        error instanceof KairosError
          ? error
          : new ValueError(`task '${record.id}': its trigger failed: ${describeError(error)}`, {
              cause: error,
            });
      this.#reportTaskError(
        alias,
        record.id,
        scheduled,
        reported,
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
    try {
      this.logger.error({ err: error, taskId, store: alias }, message);
    } catch {
      // A logger that throws must not stop dispatch.
    }
    this.#events.emit('task:error', { taskId, store: alias, scheduledRunTime, error, attempt });
  }

  /**
   * For a function not resolvable without importing: true if it cannot be found (renamed in a redeploy, a module
   * that fails to import, a module reference outside `moduleRoot`): reported once per task and function, and
   * parked untouched so another deploy, or a later try, picks it up. An executor that loads functions itself
   * (worker threads) gets only references that pass the `moduleRoot` check.
   */
  async #isUnresolvable(alias: string, record: TaskRecord): Promise<boolean> {
    const key = `${taskKey(alias, record.id)}\u0000${FunctionResolver.nameOf(record.fn)}`;
    try {
      if (this.#executors.get(record.executor)?.loadsFunctions === true)
        await this.#resolver.checkReference(record.fn);
      else await this.#resolver.resolve(record.fn);
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
   * Claims a run slot and starts the run, or reports it skipped at `maxInstances` (`runTaskNow` and stores only
   * this scheduler uses). For a store only this scheduler uses, the slot is counted here and the run starts
   * before this returns (a burst starts without a promise hop per run); a shared store claims the slot itself
   * (so `maxInstances` holds across schedulers), and the returned promise settles once the run has started or
   * been skipped.
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
    return this.#claimRun(alias, store, record, scheduledRunTime).then((run) => {
      if (run === null) return;
      if (run.slotId === null) this.#skipRun(alias, record, scheduledRunTime);
      else this.#startRun(alias, store, record, scheduledRunTime, run.slotId);
    });
  }

  /** Claims a run slot in a shared store; null (reported) if the claim failed. Never rejects. */
  #claimRun(
    alias: string,
    store: SharedTaskStore,
    record: TaskRecord,
    scheduledRunTime: Date,
  ): Promise<ClaimedRun | null> {
    // Unique across every scheduler sharing a store, since schedulerId is; cheaper than a UUID per run.
    const slotId = `${this.schedulerId}:${++this.#runSequence}`;
    const claim = {
      taskId: record.id,
      runId: slotId,
      owner: this.schedulerId,
      expiresAt: Date.now() + this.leaseTimeMs,
      maxInstances: record.maxInstances,
    };
    return store.claimRunSlot(claim).then(
      (claimed) => ({ record, scheduledRunTime, slotId: claimed ? slotId : null }),
      (error: unknown) => {
        const message = `task '${record.id}': claiming a run slot failed`;
        this.#reportTaskError(alias, record.id, scheduledRunTime, error, message);
        return null;
      },
    );
  }

  /** Frees a run slot in the background (a failure is logged; the slot then expires with its lease). */
  #freeSlot(store: SharedTaskStore, slotId: string): Promise<void> {
    return store
      .releaseRunSlot(slotId)
      .catch((error: unknown) => this.logger.error({ err: error }, 'releasing a run slot failed'));
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
    if (this.#runs.size === 0) this.#stopRenewal();
    if (slotId === null) this.#localRuns.release(alias, taskId);
    else if (isSharedStore(store)) await this.#freeSlot(store, slotId);
    if (lifecycle?.finished) await this.#endLifecycleTask(alias, store, taskId, lifecycle);
  }

  /** The per-attempt call of a plain task: resolve its function (importing module references once), call it. */
  #plainCall(record: TaskRecord): (context: RunContext) => unknown {
    const direct = this.#resolver.resolveSync(record.fn);
    if (direct !== undefined) return () => direct(...record.args);
    return async () => (await this.#resolver.resolve(record.fn))(...record.args);
  }

  /**
   * Arms the timer at the earliest next wake-up over the stores this scheduler may dispatch from, except those in
   * a wake-up now (each re-arms when its wake-up ends): a store that hangs never holds the others' timer.
   */
  #rearm(): void {
    if (!this.#mayDispatchNow()) return;
    let earliest: number | null = null;
    for (const lane of this.#lanes.values()) {
      if (lane.wakeAt === null || lane.dispatching || !this.#mayDispatch(lane.alias)) continue;
      if (earliest === null || lane.wakeAt < earliest) earliest = lane.wakeAt;
    }
    if (earliest !== this.#timer.target) this.#timer.arm(earliest);
  }

  /** Brings a store's next wake-up (and the timer) forward to `time` if that is sooner (no store query). */
  #wakeNoLaterThan(lane: StoreLane, time: number | null): void {
    if (time === null) return;
    lane.wakeNoLaterThan(time);
    if (!this.#mayDispatchNow() || lane.dispatching || !this.#mayDispatch(lane.alias)) return;
    const target = this.#timer.target;
    if (target === null || time < target) this.#timer.arm(time);
  }

  /** False for a store whose dispatch lock another process holds. */
  #mayDispatch(alias: string): boolean {
    return this.#locks === null || this.#locks.holds(alias);
  }

  // ---- helpers ----

  /**
   * Finds a task, then changes it with `change` as one atomic change in its store (or moves it to `toStore`).
   * `pinsNextRunTime` says whether the change fixes a pending task's first run time (true), lets it be
   * computed at start (false), or leaves that as it was (undefined).
   */
  async #modify(
    id: string,
    storeAlias: string | undefined,
    change: StoredChange,
    pinsNextRunTime?: boolean,
    toStore?: string,
  ): Promise<Task> {
    await this.#startup;
    const pending = this.#findPending(id, storeAlias);
    if (pending !== undefined) {
      const target = this.#storeAlias(toStore ?? pending.store);
      const context = this.#buildContext(this.#getLane(target).store);
      const updated = change(pending.record, { leasedRunTime: null }, context);
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
    const found = await this.#locate(id, storeAlias);
    if (found === undefined) throw new TaskLookupError(id, storeAlias);
    const targetAlias = this.#storeAlias(toStore ?? found.alias);
    if (targetAlias !== found.alias) return this.#move(id, found, targetAlias, change);
    const lane = this.#getLane(found.alias);
    const context = this.#buildContext(lane.store);
    const updated = await lane.exclusive(() =>
      lane.store.updateTask(id, (current, state) => {
        const next = change(current, state, context);
        if (next !== current) this.#getExecutor(next.executor);
        return next;
      }),
    );
    this.#noteShutdownTask(found.alias, updated);
    this.#events.emit('task:modified', { taskId: id, store: found.alias });
    this.#wakeNoLaterThan(lane, updated.nextRunTime);
    return new Task(updated, found.alias, false, this);
  }

  /**
   * Moves a task to another store with a change: checked on the task as found, then taken out of its store (as
   * it is then) and added to the target; if the target refuses it, it is put back. Not atomic across the two
   * stores; refused while this scheduler runs the task (its `maxInstances` count lives with the store).
   */
  async #move(id: string, found: Located, targetAlias: string, change: StoredChange): Promise<Task> {
    const target = this.#getLane(targetAlias);
    const context = this.#buildContext(target.store);
    this.#getExecutor(change(found.record, { leasedRunTime: null }, context).executor);
    if (this.#isRunning(found.alias, id)) {
      throw new ValueError(
        `updateTask: task '${id}' has a run in progress; it can move to store '${targetAlias}' once that run ended`,
      );
    }
    const source = this.#getLane(found.alias);
    const removed = await source.exclusive(() => source.store.removeTask(id));
    const updated = change(removed, { leasedRunTime: null }, context);
    try {
      await target.exclusive(() => target.store.addTask(updated));
    } catch (error) {
      await source.exclusive(() => source.store.addTask(removed));
      throw error;
    }
    this.#shutdownTasks.delete(taskKey(found.alias, id));
    const lifecycle = this.#lifecycles.get(taskKey(found.alias, id));
    if (lifecycle !== undefined) {
      this.#lifecycles.delete(taskKey(found.alias, id));
      this.#lifecycles.set(taskKey(targetAlias, id), lifecycle);
    }
    this.#noteShutdownTask(targetAlias, updated);
    this.#events.emit('task:modified', { taskId: id, store: targetAlias });
    this.#wakeNoLaterThan(target, updated.nextRunTime);
    return new Task(updated, targetAlias, false, this);
  }

  /** True while this scheduler has a run of the task in progress. */
  #isRunning(alias: string, id: string): boolean {
    if (this.#localRuns.running(alias, id) > 0) return true;
    for (const run of this.#runs.values()) if (run.store === alias && run.taskId === id) return true;
    return false;
  }

  /**
   * `replaceExisting`: adds the task, or applies the declaration to the one stored under its id (kept when the
   * definitions match), as atomic store operations; tries again if another process adds or removes it meanwhile.
   */
  async #declare(
    store: TaskStore,
    record: TaskRecord,
    explicitNextRunTime: boolean,
  ): Promise<{ record: TaskRecord; kept: boolean }> {
    const change = declare(record, explicitNextRunTime, new Date());
    for (let attempt = 1; ; attempt++) {
      try {
        await store.addTask(record);
        return { record, kept: false };
      } catch (error) {
        if (!(error instanceof ConflictingIdError) || attempt >= DECLARE_ATTEMPTS) throw error;
      }
      let kept = false;
      try {
        const stored = await store.updateTask(record.id, (current, state) => {
          const next = change(current, state);
          kept = next === current;
          return next;
        });
        return { record: stored, kept };
      } catch (error) {
        if (!(error instanceof TaskLookupError) || attempt >= DECLARE_ATTEMPTS) throw error;
      }
    }
  }

  /** True while the stores are open (between start and the end of shutdown). */
  #storesOpen(): boolean {
    return this.#state === 'running' || this.#state === 'stopping';
  }

  /**
   * Finds a stored task in the named store, or the first store that has it. After a shutdown, the stores are
   * closed: a lookup is a `SchedulerNotRunningError` until the next start.
   */
  async #locate(id: string, storeAlias: string | undefined): Promise<Located | undefined> {
    if (!this.#storesOpen()) {
      if (this.#startedOnce) throw new SchedulerNotRunningError();
      if (storeAlias !== undefined) this.#getLane(this.#storeAlias(storeAlias));
      return undefined;
    }
    const aliases = storeAlias === undefined ? [...this.#lanes.keys()] : [this.#storeAlias(storeAlias)];
    for (const alias of aliases) {
      const store = this.#getLane(alias).store;
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
    const lane = this.#lanes.get(alias);
    if (lane === undefined) return;
    await lane.exclusive(async () => {
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

  /**
   * Writes tasks added before `start()` to their stores, their first run time computed from now (declarations
   * with `replaceExisting` keep a stored task with the same definition as it is). A task whose trigger has no
   * fire time left by now is reported and not written.
   */
  async #writePendingTasks(): Promise<void> {
    const now = new Date();
    for (const [key, pending] of this.#pending) {
      const { record: declared, store: alias } = pending;
      let record = declared;
      if (!pending.explicitNextRunTime) {
        const first = rescheduledRunTime(declared.trigger, now, null, declared.id);
        if (first === null && !firesAtShutdown(declared.trigger)) {
          this.#pending.delete(key);
          const error = new ValueError(
            `task '${declared.id}': its trigger has no fire time left at start; it was not added`,
          );
          this.#reportTaskError(alias, declared.id, now, error, error.message);
          continue;
        }
        record = copyTaskRecord(declared, first);
      }
      const store = this.#getLane(alias).store;
      const written = pending.replaceExisting
        ? (await this.#declare(store, record, pending.explicitNextRunTime)).record
        : await store.addTask(record).then(() => record);
      this.#noteShutdownTask(alias, written);
      this.#pending.delete(key);
      this.#events.emit('task:added', { taskId: record.id, store: alias });
    }
  }

  /** At start, sets up the lifecycle tasks found in (non-persistent) stores, e.g. those added before start. */
  async #setUpStoredLifecycles(): Promise<void> {
    for (const [alias, lane] of this.#lanes) {
      const store = lane.store;
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
      const lane = this.#lanes.get(alias);
      if (lane === undefined) continue;
      try {
        await lane.exclusive(async () => {
          const record = await lane.store.getTask(id);
          if (record === undefined || !firesAtShutdown(record.trigger)) return;
          await this.#submitRun(alias, lane.store, record, new Date());
          await lane.store.removeTask(id);
          this.#afterRemoved(alias, id);
        });
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

  /** Waits for runs in progress, until `deadline` at most; then aborts their signals. */
  async #waitForRuns(deadline: number | null): Promise<void> {
    const all = Promise.allSettled([...this.#runs.values()].map((run) => run.promise));
    if (!(await untilDeadline(all, deadline))) {
      this.#shutdownController.abort(new SchedulerNotRunningError());
    }
  }

  async #closeAll(wait: boolean, deadline: number | null = null): Promise<void> {
    this.#stopRenewal();
    await untilDeadline(this.#locks?.stop() ?? Promise.resolve(), deadline);
    await this.#close(this.#executors, this.#lanes, wait, deadline);
  }

  /**
   * Shuts these executors down (with `wait`, until `deadline` at most: work a timed-out attempt left behind
   * cannot hold shutdown past its timeout) and closes these stores (until `deadline` at most: a store stuck on
   * another process's lock cannot hold it either); failures are logged.
   */
  async #close(
    executors: Map<string, Executor>,
    lanes: Map<string, StoreLane>,
    wait: boolean,
    deadline: number | null = null,
  ): Promise<void> {
    for (const [alias, executor] of executors) {
      const stopped = executor
        .shutdown({ wait })
        .catch((error) => this.logger.error({ err: error, executor: alias }, 'executor shutdown failed'));
      await untilDeadline(stopped, deadline);
    }
    for (const [alias, lane] of lanes) {
      const closed = lane.store
        .close()
        .catch((error) => this.logger.error({ err: error, store: alias }, 'store close failed'));
      await untilDeadline(closed, deadline);
    }
  }

  #watchStore(lane: StoreLane): void {
    const unwatch = lane.store.watch?.(() => {
      if (this.#mayDispatchNow()) this.#dispatchLane(lane);
    });
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
        const store = this.#lanes.get(alias)?.store;
        if (store !== undefined && isSharedStore(store)) {
          store
            .renewRunSlots(this.schedulerId, slotIds, Date.now() + this.leaseTimeMs)
            .catch((error: unknown) =>
              this.logger.error({ err: error, store: alias }, 'renewing run slots failed'),
            );
        }
      }
    }, Math.min(this.leaseTimeMs / 3, MAX_TIMER_DELAY_MS));
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

  #getLane(alias: string): StoreLane {
    const lane = this.#lanes.get(alias);
    if (lane === undefined) throw new StoreLookupError(alias);
    return lane;
  }

  #getExecutor(alias: string): Executor {
    const executor = this.#executors.get(alias);
    if (executor === undefined) throw new ExecutorLookupError(alias);
    return executor;
  }
}

const START_OPTION_KEYS = new Set(['paused']);
const SHUTDOWN_OPTION_KEYS = new Set(['wait', 'timeout']);
const SELECTOR_KEYS = new Set(['store']);

/**
 * Settles when `work` settles (true), or at `deadline` (epoch ms; any distance, past setTimeout's limit too) if
 * that comes first (false); null: no deadline.
 */
async function untilDeadline(work: Promise<unknown>, deadline: number | null): Promise<boolean> {
  if (deadline === null) {
    await work;
    return true;
  }
  let timer: { clear(): void } | undefined;
  const expired = new Promise<boolean>((resolve) => {
    timer = setLongTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
  });
  const finished = await Promise.race([work.then(() => true), expired]);
  timer?.clear();
  return finished;
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

/** A message for anything thrown. */
function describeError(error: unknown): string {
  return error instanceof Error ? error.message : describeValue(error);
}

/** The `logger` option: a pino logger (anything with pino's level methods and `child`), else the default. */
function parseLogger(logger: unknown): Logger {
  if (logger === undefined) return defaultLogger();
  const candidate = logger as Record<string, unknown> | null;
  if (
    typeof logger !== 'object' ||
    candidate === null ||
    LOGGER_METHODS.some((name) => typeof candidate[name] !== 'function')
  ) {
    throw new ValueError(
      `Scheduler: logger must be a pino logger (with ${LOGGER_METHODS.join(', ')}), got ${describeValue(logger)}`,
    );
  }
  return logger as Logger;
}

/** The `leaseTime` option in ms: at least `MIN_LEASE_MS`. */
function parseLeaseTime(input: unknown): number {
  if (input === undefined) return DEFAULT_LEASE_MS;
  const ms = parseDuration(input, 'Scheduler: leaseTime');
  if (ms < MIN_LEASE_MS) {
    throw new ValueError(
      `Scheduler: leaseTime must be at least ${MIN_LEASE_MS} ms, got ${describeValue(input)}`,
    );
  }
  return ms;
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
