/**
 * The Scheduler: its state machine (stopped → starting → running → stopping), the public API, and the registries
 * of stores and executors. Its parts: the options (options.ts), the wake-up loop (dispatch-loop.ts), the runs
 * (runs.ts), the tasks and their changes (task-registry.ts, task-changes.ts), lifecycle tasks (lifecycle.ts).
 */
import type { Logger } from 'pino';
import { AfterRuns } from './after-runs.js';
import { DispatchLoop } from './dispatch-loop.js';
import {
  ExecutorLookupError,
  RunLookupError,
  SchedulerAlreadyRunningError,
  SchedulerNotRunningError,
  TaskLookupError,
  ValueError,
} from './errors.js';
import { EventHub, type SchedulerEventName, type SchedulerListener } from './events.js';
import type { Executor } from './executors/executor.js';
import { type RunRecord, type StoredRunRecord, toRunRecord } from './history.js';
import { type GetRunsOptions, parseGetRunsOptions } from './history-query.js';
import { HistoryWriter } from './history-writer.js';
import { LifecycleRegistry } from './lifecycle.js';
import { untilDeadline } from './long-timeout.js';
import type { Middleware } from './middleware.js';
import {
  checkExecutor,
  checkStore,
  type GetTasksOptions,
  parseAlias,
  parseGetTasksOptions,
  parseSchedulerOptions,
  parseSelector,
  parseShutdownOptions,
  parseStartOptions,
  parseStoreAlias,
  type ResolvedSchedulerOptions,
  type ShutdownOptions,
  type StartOptions,
  type StoreSelector,
} from './options.js';
import type { FunctionResolver } from './references.js';
import { Reports } from './reports.js';
import { RunRequestTaker } from './run-requests.js';
import { RunTracker } from './runs.js';
import { SharedLifecycles } from './shared-lifecycles.js';
import {
  copyTaskRecord,
  isSharedStore,
  type TaskFunction,
  type TaskRecord,
  type TaskStore,
} from './store.js';
import type { StoreLane } from './store-lane.js';
import { checkConcurrencyLimit, LocalTagLimits } from './tag-limits.js';
import {
  buildTaskRecord,
  checkTaskChanges,
  type ResolvedTaskDefaults,
  Task,
  type TaskActions,
  type TaskBuildContext,
  type TaskChanges,
  type TaskOptions,
} from './task.js';
import {
  pauseChange,
  rescheduleChange,
  resumeChange,
  type StoredChange,
  updateChange,
} from './task-changes.js';
import { parseTaskLock } from './task-lock.js';
import { type FoundTask, TaskRegistry } from './task-registry.js';
import type { Trigger, TriggerSpec } from './triggers/trigger.js';
import type {
  FunctionRegistry,
  ModuleReference,
  TaskArgs,
  TypedSchedulerOptions,
  TypedTaskOptions,
} from './typed-tasks.js';
import { describeValue } from './validate.js';

export type {
  GetTasksOptions,
  SchedulerOptions,
  ShutdownOptions,
  StartOptions,
  StoreSelector,
} from './options.js';

type State = 'stopped' | 'starting' | 'running' | 'stopping';

/** The promise of a change done at once (resolved, shared: awaiting it allocates no promise of its own). */
const SETTLED: Promise<void> = Promise.resolve();

/**
 * Schedules tasks: keeps them in stores, sleeps on one timer until the earliest next run, and hands due runs
 * to executors, honouring coalesce, misfire grace time and max instances. `F` is the type of its `functions`,
 * inferred by the constructor, so that `addTask('name', { args })` is checked (typed-tasks.ts).
 */
export class Scheduler<const F extends FunctionRegistry = FunctionRegistry> implements TaskActions {
  /** This scheduler's id, the owner of its leases in shared stores. */
  readonly schedulerId: string;
  /** The zone given to triggers that name none. */
  readonly timezone: string;
  /** The logger every report goes to: a child of the one given, whose `err` serializer never throws. */
  readonly logger: Logger;
  /** How long task leases and run slots outlive this scheduler in a shared store, in ms. */
  readonly leaseTimeMs: number;
  readonly #options: ResolvedSchedulerOptions;
  readonly #executors: Map<string, Executor>;
  readonly #defaults: ResolvedTaskDefaults;
  readonly #resolver: FunctionResolver;
  readonly #events: EventHub;
  readonly #reports: Reports;
  readonly #runs: RunTracker;
  readonly #loop: DispatchLoop;
  readonly #lifecycles: LifecycleRegistry;
  readonly #shared: SharedLifecycles;
  readonly #tasks: TaskRegistry;
  /** Writes run history; null when the `history` option is false. */
  readonly #history: HistoryWriter | null;
  readonly #requests: RunRequestTaker;
  /** Who waits for whom (after-triggers), per store. */
  readonly #after: AfterRuns;
  /** The tag concurrency limits: all of them, and the runs per tag of the stores that are not shared. */
  readonly #tagLimits: LocalTagLimits;
  /** The middleware of `use()`, outermost first. */
  readonly #middleware: Middleware[] = [];
  #state: State = 'stopped';
  /** True once `start()` succeeded: a stopped scheduler then cannot see its stores' tasks. */
  #startedOnce = false;
  #paused = false;
  /** True while `start()` sets up stored lifecycle tasks; dispatch waits for it. */
  #settingUp = false;
  /** Settles when the `start()` in progress (if any) has finished, so calls made meanwhile see its outcome. */
  #startup: Promise<void> = Promise.resolve();
  /** Stops watching stores for foreign changes. */
  #unwatch: Array<() => void> = [];

  /** @example new Scheduler({ timezone: 'America/New_York' }) */
  constructor(options: TypedSchedulerOptions<F> = {}) {
    const resolved = parseSchedulerOptions(options);
    this.#options = resolved;
    this.schedulerId = resolved.schedulerId;
    this.timezone = resolved.timezone;
    this.logger = resolved.logger;
    this.leaseTimeMs = resolved.leaseTimeMs;
    this.#executors = resolved.executors;
    this.#defaults = resolved.defaults;
    this.#resolver = resolved.resolver;
    this.#events = new EventHub(() => this.logger);
    this.#reports = new Reports(this.logger, this.#events);
    this.#lifecycles = new LifecycleRegistry(this.#resolver, this.#reports, (alias, id, keeper, failure) =>
      this.#tasks.lockedTaskEnded(alias, id, keeper, failure),
    );
    this.#shared = new SharedLifecycles({
      lifecycles: this.#lifecycles,
      resolver: this.#resolver,
      reports: this.#reports,
      removeStored: (alias, store, id) => this.#tasks.removeStored(alias, store, id),
      live: (lane) => this.#state === 'running' && this.#loop.lane(lane.alias) === lane,
    });
    this.#history =
      resolved.historyPerTask === null
        ? null
        : new HistoryWriter({
            schedulerId: this.schedulerId,
            perTask: resolved.historyPerTask,
            reports: this.#reports,
            store: (alias) => this.#loop.lane(alias)?.store,
          });
    this.#tagLimits = new LocalTagLimits(resolved.concurrencyLimits);
    this.#after = new AfterRuns({
      reports: this.#reports,
      store: (alias) => this.#loop.lane(alias)?.store,
      due: (alias, nextRunTime) => {
        const lane = this.#loop.lane(alias);
        if (lane !== undefined) this.#loop.wakeNoLaterThan(lane, nextRunTime);
      },
    });
    this.#runs = new RunTracker({
      schedulerId: this.schedulerId,
      leaseTimeMs: this.leaseTimeMs,
      events: this.#events,
      reports: this.#reports,
      executor: (alias) => this.#executors.get(alias),
      store: (alias) => this.#loop.lane(alias)?.store,
      lifecycle: (alias, id) => this.#lifecycles.get(alias, id),
      standsBy: (alias, id) => this.#lifecycles.standsBy(alias, id),
      setUpShared: (alias, store, record) => {
        if (!this.#shared.enabled || !this.#shared.applies(store, record)) return undefined;
        const lane = this.#loop.lane(alias);
        return lane === undefined ? undefined : this.#shared.ensure(lane, record);
      },
      resolver: this.#resolver,
      history: this.#history,
      middleware: (record) => this.#middlewareOf(record),
      tagLimits: this.#tagLimits,
      active: () => this.#state === 'running' && !this.#paused,
      afterRunEnded: (alias, record) => this.#after.onRunEnded(alias, record),
      lifecycleEnded: (alias, store, id, lifecycle) =>
        this.#tasks.endLifecycleTask(alias, store, id, lifecycle),
    });
    this.#loop = new DispatchLoop({
      schedulerId: this.schedulerId,
      leaseTimeMs: this.leaseTimeMs,
      resolver: this.#resolver,
      reports: this.#reports,
      runs: this.#runs,
      locks: resolved.locks,
      executor: (alias) => this.#executors.get(alias),
      active: () => this.#state === 'running' && !this.#paused && !this.#settingUp,
      removed: (alias, id) => this.#tasks.removed(alias, id),
    });
    this.#tasks = new TaskRegistry({
      loop: this.#loop,
      runs: this.#runs,
      after: this.#after,
      lifecycles: this.#lifecycles,
      shared: this.#shared,
      events: this.#events,
      reports: this.#reports,
      storesOpen: () => this.#state === 'running' || this.#state === 'stopping',
      startedOnce: () => this.#startedOnce,
      buildContext: (store) => this.#buildContext(store),
      checkExecutor: (alias) => void this.#getExecutor(alias),
    });
    this.#requests = new RunRequestTaker({
      reports: this.#reports,
      runs: this.#runs,
      mayDispatch: (lane) =>
        this.#state === 'running' &&
        !this.#paused &&
        !this.#settingUp &&
        this.#loop.lane(lane.alias) === lane &&
        (resolved.locks === null || resolved.locks.holds(lane.alias)),
    });
    for (const [alias, store] of resolved.stores) this.#loop.add(alias, store);
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
  async start(options: StartOptions = {}): Promise<void> {
    const paused = parseStartOptions(options);
    if (this.#state !== 'stopped') throw new SchedulerAlreadyRunningError();
    this.#state = 'starting';
    let started = () => {};
    this.#startup = new Promise<void>((resolve) => {
      started = resolve;
    });
    this.#runs.reset();
    // What started, so that a failed start closes only that (never a store another scheduler has open).
    const lanes: StoreLane[] = [];
    const executors = new Map<string, Executor>();
    try {
      for (const lane of this.#loop.lanes()) {
        await lane.store.start(this.#reports.storeContext(lane.alias));
        lanes.push(lane);
      }
      for (const [alias, executor] of this.#executors) {
        await executor.start({ logger: this.logger, alias });
        executors.set(alias, executor);
      }
      for (const lane of lanes) await this.#writeConcurrencyLimits(lane.store);
      await this.#tasks.loadAfterTriggers();
      await this.#tasks.writePending(new Date());
    } catch (error) {
      await this.#close(executors, lanes, false, null);
      this.#state = 'stopped';
      throw error;
    } finally {
      started();
    }
    this.#shared.start();
    for (const lane of this.#loop.lanes()) this.#watchStore(lane);
    this.#paused = paused;
    this.#state = 'running';
    this.#startedOnce = true;
    // Setups may call the scheduler (add tasks…), so they run once it is running; dispatch waits for them.
    this.#settingUp = true;
    try {
      await this.#tasks.setUpStoredLifecycles();
    } finally {
      this.#settingUp = false;
    }
    const aliases = [...this.#loop.lanes()].map((lane) => lane.alias);
    await this.#options.locks?.start(aliases, this.logger, () => this.wakeup());
    this.#events.emit('scheduler:started', { schedulerId: this.schedulerId });
    this.logger.info({ schedulerId: this.schedulerId }, 'scheduler started');
    this.#loop.dispatchAll();
    for (const lane of this.#loop.lanes()) this.#requests.take(lane);
  }

  /**
   * Stops dispatching, fires shutdown-triggered tasks, waits for runs in progress (with `wait`, up to
   * `timeout`, then aborts their signals; without `wait`, aborts them at once), ends lifecycle tasks, and
   * closes executors and stores. With a `timeout`, it returns within it whatever a store is doing.
   */
  async shutdown(options: ShutdownOptions = {}): Promise<void> {
    const { wait, deadline } = parseShutdownOptions(options);
    if (this.#state !== 'running') throw new SchedulerNotRunningError();
    this.#state = 'stopping';
    this.#loop.cancel();
    for (const unwatch of this.#unwatch.splice(0)) unwatch();
    this.#runs.abandonWaiting();
    this.#shared.stop();
    // Wake-ups in progress finish first (bounded by the deadline), so no run starts after runs are counted.
    const lanes = [...this.#loop.lanes()];
    await untilDeadline(Promise.all(lanes.map((lane) => lane.idle())), deadline);
    const { shutdownTasks } = this.#tasks;
    const fired = shutdownTasks.fire(
      (alias) => this.#loop.lane(alias),
      this.#runs,
      this.#reports,
      (alias, id) => this.#tasks.removed(alias, id),
    );
    await untilDeadline(fired, deadline);
    if (!wait || !(await untilDeadline(this.#runs.settled(), deadline))) {
      this.#runs.abort(new SchedulerNotRunningError());
    }
    await untilDeadline(this.#runs.settled(), deadline);
    // Once runs were aborted, nothing more is awaited: a task that ignores its signal cannot hold shutdown.
    const waitForCleanup = wait && !this.#runs.aborted;
    await this.#lifecycles.closeAll(waitForCleanup, deadline);
    this.#runs.stopRenewal();
    // The runs have ended (or were given up on): what they recorded goes to the stores before they close.
    await untilDeadline(this.#history?.flush() ?? Promise.resolve(), deadline);
    this.#history?.discard();
    await untilDeadline(this.#options.locks?.stop() ?? Promise.resolve(), deadline);
    await this.#close(this.#executors, lanes, waitForCleanup, deadline);
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
    this.#loop.cancel();
    this.#events.emit('scheduler:paused', { schedulerId: this.schedulerId });
  }

  /** Restarts dispatching; runs that fell due meanwhile are judged by the misfire rules. */
  resume(): void {
    if (this.#state !== 'running') throw new SchedulerNotRunningError();
    if (!this.#paused) return;
    this.#paused = false;
    this.#events.emit('scheduler:resumed', { schedulerId: this.schedulerId });
    this.#runs.retryWaiting();
    this.#loop.dispatchAll();
    for (const lane of this.#loop.lanes()) this.#requests.take(lane);
  }

  /** Re-evaluates due tasks and the next wake-up now. */
  wakeup(): void {
    this.#loop.dispatchAll();
  }

  // ---- tasks ----

  /**
   * Adds a task; before `start()` it is pending and written to its store at start. With `replaceExisting` it is a
   * declaration: a stored task with the same definition keeps its schedule, a different one is replaced.
   * `args` is checked at compile time against the parameters of `fn` (a function, or a name in a `functions`
   * registry whose type the scheduler kept); a module reference takes any `args`.
   */
  addTask<Fn extends TaskFunction | (keyof F & string) | ModuleReference>(
    fn: Fn,
    options: TypedTaskOptions<TaskArgs<F, Fn>>,
  ): Promise<Task>;
  async addTask(fn: TaskFunction | string, options: TaskOptions): Promise<Task> {
    if (this.#state === 'starting') await this.#startup;
    const alias = parseStoreAlias(options?.store);
    const context = this.#buildContext(this.#tasks.lane(alias).store);
    const record = buildTaskRecord(fn, options, context);
    this.#getExecutor(record.executor);
    const lock = parseTaskLock(options.lock, record, context);
    if (this.#state === 'running' && lock === null && options.replaceExisting !== true) {
      const added = this.#tasks.addNow(alias, record);
      if (added !== undefined) return this.#snapshot(added);
    }
    const found = await this.#tasks.add(alias, record, {
      replaceExisting: options.replaceExisting === true,
      explicitNextRunTime: options.nextRunTime !== undefined,
      running: this.#state === 'running',
      lock,
    });
    return this.#snapshot(found);
  }

  /** The task with this id, or undefined. */
  async getTask(id: string, options?: StoreSelector): Promise<Task | undefined> {
    const found = await this.#tasks.find(id, parseSelector(options, 'getTask'));
    return found === undefined ? undefined : this.#snapshot(found);
  }

  /** Every task (of one store, or all), by next run time, paused tasks last. */
  async getTasks(options: GetTasksOptions = {}): Promise<Task[]> {
    const { store, tag } = parseGetTasksOptions(options);
    const found = await this.#tasks.list(store);
    const tagged = tag === undefined ? found : found.filter((task) => task.record.tags.includes(tag));
    return tagged.map((task) => this.#snapshot(task));
  }

  /**
   * Changes any option of a task but its id, as one atomic change in its store that writes only what it names;
   * a new trigger recomputes the next run time from now.
   */
  async updateTask(id: string, changes: TaskChanges, options?: StoreSelector): Promise<Task> {
    const { store: toStore, ...rest } = checkTaskChanges(id, changes);
    const change = updateChange(id, rest, this.#lifecycles);
    const pins = rest.nextRunTime !== undefined ? true : undefined;
    const target = toStore === undefined ? undefined : parseStoreAlias(toStore);
    return this.#modify(id, parseSelector(options, 'updateTask'), change, pins, target);
  }

  /** Gives a task a new trigger and recomputes its next run time from now (this also resumes it). */
  async rescheduleTask(id: string, trigger: Trigger | TriggerSpec, options?: StoreSelector): Promise<Task> {
    return this.#modify(id, parseSelector(options, 'rescheduleTask'), rescheduleChange(id, trigger), false);
  }

  /** Pauses a task: its next run time becomes null. */
  async pauseTask(id: string, options?: StoreSelector): Promise<Task> {
    return this.#modify(id, parseSelector(options, 'pauseTask'), pauseChange, true);
  }

  /**
   * Resumes a paused task, with its next run time recomputed from now. A task whose trigger has no fire
   * time left is removed (the returned snapshot shows it with no next run time).
   */
  async resumeTask(id: string, options?: StoreSelector): Promise<Task> {
    const resumed = await this.#modify(id, parseSelector(options, 'resumeTask'), resumeChange(id), false);
    // Still paused: its trigger has no fire time left.
    if (resumed.paused) await this.removeTask(id, { store: resumed.store });
    return resumed;
  }

  /** Submits one run now, outside the schedule and honouring `maxInstances`; the schedule is unchanged. */
  async runTaskNow(id: string, options?: StoreSelector): Promise<void> {
    const alias = parseSelector(options, 'runTaskNow');
    if (this.#state !== 'running') throw new SchedulerNotRunningError();
    const found = await this.#tasks.find(id, alias);
    if (found === undefined || found.pending) throw new TaskLookupError(id, alias);
    await this.#runs.submit(found.alias, this.#tasks.lane(found.alias).store, found.record, new Date());
  }

  /**
   * Run history, newest first (by the time each run ended), from every store or the one named: each task's last
   * `history.perTask` runs, and those of removed tasks for a while (README, "Run history").
   */
  async getRuns(options: GetRunsOptions = {}): Promise<RunRecord[]> {
    const { query, store } = parseGetRunsOptions(options, this.timezone);
    const lanes = this.#openLanes(store);
    await (store === undefined ? this.#history?.flush() : this.#history?.flushStore(store));
    const found = await Promise.all(
      lanes.map(async (lane) => ({ alias: lane.alias, records: await lane.store.getRuns(query) })),
    );
    const merged: Array<{ alias: string; record: StoredRunRecord }> = [];
    for (const { alias, records } of found) for (const record of records) merged.push({ alias, record });
    // A stable sort: records ending in the same millisecond keep each store's own order.
    merged.sort((a, b) => b.record.endedAt - a.record.endedAt);
    return merged.slice(0, query.limit).map(({ alias, record }) => toRunRecord(record, alias));
  }

  /**
   * Runs a task again, now, with the args of a recorded run (its current function, outside the schedule,
   * honouring `maxInstances`); the new run's record names the one it replays (`replayOf`). Resolves with the new
   * run's id. An unknown run id is a `RunLookupError`; a task removed since is a `TaskLookupError`.
   */
  async replayRun(runId: string): Promise<string> {
    if (typeof runId !== 'string' || runId === '')
      throw new ValueError(`replayRun: runId must be a non-empty string, got ${describeValue(runId)}`);
    const lanes = this.#openLanes(undefined);
    await this.#history?.flush();
    for (const lane of lanes) {
      const [replayed] = await lane.store.getRuns({ runId, limit: 1 });
      if (replayed === undefined) continue;
      if (replayed.argsTruncated === true)
        throw new ValueError(
          `replayRun: run '${runId}' cannot be replayed: its args were too large to keep in run history`,
        );
      const found = await this.#tasks.find(replayed.taskId, lane.alias);
      if (found === undefined || found.pending) throw new TaskLookupError(replayed.taskId, lane.alias);
      const newRunId = this.#runs.newRunId();
      const record = { ...copyTaskRecord(found.record), args: replayed.args };
      await this.#runs.submit(lane.alias, lane.store, record, new Date(), {
        runId: newRunId,
        replayOf: runId,
      });
      return newRunId;
    }
    throw new RunLookupError(runId);
  }

  /**
   * Removes a task; an unknown id is a `TaskLookupError`. Ends a lifecycle task (its `finally` runs). Not an
   * async function: a plain task removed at once (`TaskRegistry.removeNow`) resolves with one shared settled
   * promise, so that removing many tasks one by one allocates nothing per task.
   */
  removeTask(id: string, options?: StoreSelector): Promise<void> {
    try {
      const alias = parseSelector(options, 'removeTask');
      if (this.#state === 'running' && this.#tasks.removeNow(id, alias)) return SETTLED;
      return this.#removeTask(id, alias);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async #removeTask(id: string, alias: string | undefined): Promise<void> {
    if (this.#state === 'starting') await this.#startup;
    await this.#tasks.remove(id, alias);
  }

  /** Removes every task (of one store, or of all). */
  async removeAllTasks(options?: StoreSelector): Promise<void> {
    const alias = parseSelector(options, 'removeAllTasks');
    if (this.#state === 'starting') await this.#startup;
    await this.#tasks.removeAll(alias);
  }

  // ---- stores and executors ----

  /** Adds a store under a new alias (started at once if the scheduler runs). */
  async addStore(alias: string, store: TaskStore): Promise<void> {
    parseAlias(alias, 'addStore');
    if (this.#loop.lane(alias) !== undefined)
      throw new ValueError(`addStore: a store with alias '${alias}' already exists`);
    checkStore(alias, store);
    if (this.#state === 'running') {
      await store.start(this.#reports.storeContext(alias));
      await this.#writeConcurrencyLimits(store);
      await this.#after.load(alias, store);
    }
    const lane = this.#loop.add(alias, store);
    if (this.#state === 'running') {
      this.#watchStore(lane);
      await this.#options.locks?.addStore(alias);
    }
    this.#events.emit('store:added', { alias });
    this.#loop.dispatch(lane);
  }

  /** Removes a store (closed if the scheduler runs); its tasks stay in it but are no longer dispatched. */
  async removeStore(alias: string): Promise<void> {
    const lane = this.#tasks.lane(alias);
    await lane.exclusive(async () => {
      if (this.#state === 'running') await this.#history?.flushStore(alias);
      this.#history?.discard(alias);
      this.#loop.remove(alias);
      this.#runs.abandonWaitingOf(alias);
      this.#after.dropStore(alias);
      this.#tasks.pending.takeStore(alias);
      if (this.#state === 'running') await lane.store.close();
    });
    this.#events.emit('store:removed', { alias });
  }

  /** Adds an executor under a new alias (started at once if the scheduler runs). */
  async addExecutor(alias: string, executor: Executor): Promise<void> {
    parseAlias(alias, 'addExecutor');
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

  // ---- tag concurrency limits ----

  /**
   * Sets (null: removes) the concurrency limit of a tag: at most `limit` runs of tasks with the tag at once; 0
   * holds every run of it. In a shared store the limit is stored and holds across every scheduler sharing it (the
   * change is fleet-wide); runs waiting for the tag are tried again at once.
   * @throws ValueError for a bad tag or limit
   */
  async setConcurrencyLimit(tag: string, limit: number | null): Promise<void> {
    const checked = checkConcurrencyLimit(tag, limit, 'setConcurrencyLimit');
    this.#tagLimits.set(tag, checked);
    if (this.#state === 'running') {
      for (const lane of this.#loop.lanes()) {
        if (isSharedStore(lane.store)) await lane.store.setConcurrencyLimit(tag, checked);
      }
    }
    this.#runs.retryWaiting();
  }

  // ---- middleware ----

  /**
   * Adds a middleware around every attempt of every task (outside each task's own `middleware`), after those
   * added before: the first added is the outermost. Applies to runs that start from now on.
   */
  use(middleware: Middleware): this {
    if (typeof middleware !== 'function')
      throw new ValueError(
        `use: middleware must be a function (run, next) => ..., got ${describeValue(middleware)}`,
      );
    this.#middleware.push(middleware);
    return this;
  }

  /** The middleware around a task's attempts, or null when there is none (the usual case: no cost). */
  #middlewareOf(record: TaskRecord): readonly Middleware[] | null {
    if (record.middleware.length === 0) return this.#middleware.length === 0 ? null : this.#middleware;
    const own = record.middleware.map((middleware): Middleware => {
      const fn = typeof middleware === 'function' ? middleware : this.#resolver.resolveSync(middleware);
      if (fn !== undefined) return fn as Middleware;
      return () => {
        throw new ValueError(
          `task '${record.id}': no function named '${String(middleware)}' for its middleware`,
        );
      };
    });
    return [...this.#middleware, ...own];
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

  // ---- helpers ----

  /** A change to a task (after any `start()` in progress), as its snapshot afterwards. */
  async #modify(
    id: string,
    alias: string | undefined,
    change: StoredChange,
    pinsNextRunTime?: boolean,
    toStore?: string,
  ): Promise<Task> {
    if (this.#state === 'starting') await this.#startup;
    return this.#snapshot(await this.#tasks.modify(id, alias, change, pinsNextRunTime, toStore));
  }

  /** The snapshot of a task as found. */
  #snapshot(found: FoundTask): Task {
    return new Task(found.record, found.alias, found.pending, this);
  }

  /**
   * Shuts these executors down and closes these stores, each waited for until `deadline` at most: work a
   * timed-out attempt left behind, or a store stuck on another process's lock, cannot hold shutdown past it.
   */
  async #close(
    executors: Map<string, Executor>,
    lanes: readonly StoreLane[],
    wait: boolean,
    deadline: number | null,
  ) {
    const log = (fields: Record<string, unknown>, message: string) =>
      this.#reports.log('error', fields, message);
    for (const [alias, executor] of executors) {
      const stopped = executor
        .shutdown({ wait })
        .catch((err) => log({ err, executor: alias }, 'executor shutdown failed'));
      await untilDeadline(stopped, deadline);
    }
    for (const { alias, store } of lanes) {
      const closed = store.close().catch((err) => log({ err, store: alias }, 'store close failed'));
      await untilDeadline(closed, deadline);
    }
  }

  /** Writes the concurrency limits to a shared store (which then counts them across every scheduler sharing it). */
  async #writeConcurrencyLimits(store: TaskStore): Promise<void> {
    if (!isSharedStore(store)) return;
    for (const [tag, limit] of this.#tagLimits.entries()) await store.setConcurrencyLimit(tag, limit);
    for (const tag of this.#tagLimits.removed()) await store.setConcurrencyLimit(tag, null);
  }

  #watchStore(lane: StoreLane): void {
    const unwatch = lane.store.watch?.(() => {
      if (this.#state !== 'running') return;
      this.#loop.dispatch(lane);
      // The change may be a run request (`kairos run-now`, `kairos replay`).
      this.#requests.take(lane);
      // Another process may have added or removed a lifecycle task: this process's instances follow (debounced).
      this.#shared.changed(lane);
      // Or changed an after-trigger, or freed a slot of a limited tag (or changed a limit).
      if (lane.store.shared) {
        this.#after.refresh(lane.alias);
        this.#runs.retryWaiting([lane.alias]);
      }
    });
    if (unwatch !== undefined) this.#unwatch.push(unwatch);
  }

  /** The lanes of open stores, the one named or all; stores are open only while the scheduler runs. */
  #openLanes(alias: string | undefined): StoreLane[] {
    if (this.#state !== 'running') throw new SchedulerNotRunningError();
    return alias === undefined ? [...this.#loop.lanes()] : [this.#tasks.lane(alias)];
  }

  #buildContext(store: TaskStore): TaskBuildContext {
    const { timezone } = this;
    const { persistent, shared } = store;
    return {
      defaults: this.#defaults,
      resolver: this.#resolver,
      timezone,
      persistent,
      shared,
      now: new Date(),
    };
  }

  #getExecutor(alias: string): Executor {
    const executor = this.#executors.get(alias);
    if (executor === undefined) throw new ExecutorLookupError(alias);
    return executor;
  }
}
