/**
 * The wake-up loop: one timer at the earliest next wake-up over all stores; at a wake-up, each due store's lane
 * acquires its due tasks, applies the dispatch rule (src/dispatcher.ts) to each, hands the runs to the run
 * tracker and releases the tasks with their next run times, then reads its next wake-up and re-arms the timer.
 * It is fed its storage operations and never knows which store it talks to.
 */
import type { DispatchLocks } from './dispatch-lock.js';
import { type DispatchPlan, nextRunTimeAfter, planDispatch } from './dispatcher.js';
import { KairosError, ValueError } from './errors.js';
import type { Executor } from './executors/executor.js';
import { FunctionResolver } from './references.js';
import type { Reports } from './reports.js';
import type { ClaimedRun, RunTracker } from './runs.js';
import {
  isSharedStore,
  type SharedTaskStore,
  type TaskRecord,
  type TaskRelease,
  type TaskStore,
} from './store.js';
import { StoreLane } from './store-lane.js';
import { WakeupTimer } from './timer.js';
import { describeValue } from './validate.js';

/** Due tasks acquired per store query: a burst of up to this many starts all its runs before any release. */
const ACQUIRE_BATCH = 2048;
/**
 * The first query of a wake-up of a persistent store asks for this many, and each next one for four times more (up
 * to `ACQUIRE_BATCH`): a persistent store rebuilds every task it hands out from its stored form (cron expressions
 * parsed, on a cold start), so that the first runs of a large due backlog start after a few dozen of them, not
 * after thousands. A MemoryStore hands out built tasks: it gets full batches at once.
 */
const FIRST_PERSISTENT_BATCH = 64;
/** A store's wake-ups that follow each other at once yield to the event loop every this many. */
const YIELD_EVERY_ROUNDS = 16;
/** How long a task whose function cannot be resolved stays parked before it is tried again. */
const UNRESOLVED_HOLD_MS = 60_000;

/** What the loop needs from its scheduler. */
export interface DispatchLoopContext {
  schedulerId: string;
  /** How long acquired tasks stay leased to this scheduler if it never releases them. */
  leaseTimeMs: number;
  resolver: FunctionResolver;
  reports: Reports;
  runs: RunTracker;
  /** The dispatch locks of the `lock` option, if any. */
  locks: DispatchLocks | null;
  /** The executor of an alias, if it exists. */
  executor(alias: string): Executor | undefined;
  /** True while wake-ups may dispatch (running, not paused, not setting up). */
  active(): boolean;
  /** A release removed a task (its trigger had no fire time left). */
  removed(alias: string, taskId: string): void;
}

/** The stores of a scheduler, each in its lane, and the one timer that wakes them. */
export class DispatchLoop {
  readonly #context: DispatchLoopContext;
  /** Stores by alias, each with its queue of work and next wake-up. */
  readonly #lanes = new Map<string, StoreLane>();
  /** The lanes in the order added, as an array made anew on each change (readers may keep iterating the old one). */
  #laneList: readonly StoreLane[] = [];
  readonly #timer = new WakeupTimer(() => this.#onTimer());
  /** Tasks whose function could not be resolved and was reported (by store, id and function). */
  readonly #unresolved = new Set<string>();

  constructor(context: DispatchLoopContext) {
    this.#context = context;
  }

  /** Adds a store's lane. */
  add(alias: string, store: TaskStore): StoreLane {
    const lane = new StoreLane(alias, store);
    this.#lanes.set(alias, lane);
    this.#laneList = [...this.#lanes.values()];
    return lane;
  }

  /** Removes a store's lane; the timer re-arms without it. */
  remove(alias: string): void {
    this.#lanes.delete(alias);
    this.#laneList = [...this.#lanes.values()];
    this.rearm();
  }

  /** The lane of an alias, if any. */
  lane(alias: string): StoreLane | undefined {
    return this.#lanes.get(alias);
  }

  /** Every lane, in the order added. */
  lanes(): readonly StoreLane[] {
    return this.#laneList;
  }

  /** Stops the timer (pause, shutdown). */
  cancel(): void {
    this.#timer.cancel();
  }

  /** Starts a wake-up of every store. */
  dispatchAll(): void {
    if (!this.#context.active()) return;
    for (const lane of this.#lanes.values()) this.dispatch(lane);
  }

  /**
   * One wake-up of one store: dispatches what is due in it, then reads its next wake-up and re-arms the timer.
   * Serialised per store; a store that fails is tried again after a backoff (`store:error`), and delays only its
   * own tasks. Never throws.
   */
  dispatch(lane: StoreLane): void {
    if (lane.dispatching) {
      lane.again = true;
      return;
    }
    lane.dispatching = true;
    void this.#runLane(lane).finally(() => {
      lane.dispatching = false;
      this.rearm();
    });
  }

  /**
   * Arms the timer at the earliest next wake-up over the stores this scheduler may dispatch from, except those in
   * a wake-up now (each re-arms when its wake-up ends): a store that hangs never holds the others' timer.
   */
  rearm(): void {
    if (!this.#context.active()) return;
    let earliest: number | null = null;
    for (const lane of this.#lanes.values()) {
      if (lane.wakeAt === null || lane.dispatching || !this.#mayDispatch(lane.alias)) continue;
      if (earliest === null || lane.wakeAt < earliest) earliest = lane.wakeAt;
    }
    if (earliest !== this.#timer.target) this.#timer.arm(earliest);
  }

  /** Brings a store's next wake-up (and the timer) forward to `time` if that is sooner (no store query). */
  wakeNoLaterThan(lane: StoreLane, time: number | null): void {
    if (time === null) return;
    lane.wakeNoLaterThan(time);
    if (!this.#context.active() || lane.dispatching || !this.#mayDispatch(lane.alias)) return;
    const target = this.#timer.target;
    if (target === null || time < target) this.#timer.arm(time);
  }

  /** The timer fired: wakes up the stores whose next wake-up has come, and re-arms for the others. */
  #onTimer(): void {
    const now = Date.now();
    for (const lane of this.#lanes.values()) {
      if (lane.wakeAt !== null && lane.wakeAt <= now) this.dispatch(lane);
    }
    this.rearm();
  }

  /** False for a store whose dispatch lock another process holds. */
  #mayDispatch(alias: string): boolean {
    return this.#context.locks === null || this.#context.locks.holds(alias);
  }

  async #runLane(lane: StoreLane): Promise<void> {
    let rounds = 0;
    do {
      // Wake-ups that go on at once (more was due) yield to the event loop now and then, so that timers and I/O
      // are never starved, whatever keeps making tasks due.
      if (++rounds % YIELD_EVERY_ROUNDS === 0) await new Promise((resolve) => setImmediate(resolve));
      lane.again = false;
      await lane.exclusive(async () => {
        if (!this.#context.active() || !this.#mayDispatch(lane.alias) || this.#lanes.get(lane.alias) !== lane)
          return;
        const wokeAt = Date.now();
        let acquired = 0;
        try {
          acquired = await this.#dispatchStore(lane.alias, lane.store, wokeAt);
          lane.succeeded(await lane.store.earliestWakeup(this.#context.schedulerId));
        } catch (error) {
          lane.failed(Date.now());
          this.#context.reports.storeError(lane.alias, error);
        }
        // More already due (tasks a few microseconds apart): go on at once instead of through a timer, which
        // could not fire sooner than 1 ms. Only after progress, so a store can never make this spin.
        if (acquired > 0 && lane.wakeAt !== null && lane.wakeAt <= Date.now()) lane.again = true;
      });
    } while (lane.again && this.#context.active());
  }

  /**
   * Acquires the due tasks of one store in batches and dispatches them; returns how many it acquired. A store
   * only this scheduler uses starts runs first and writes next run times after (cron math never delays a run); a
   * shared store commits each task's next run time before its runs start, so that a scheduler killed mid-wake-up
   * can never have run a time that another scheduler then runs again.
   */
  async #dispatchStore(alias: string, store: TaskStore, wokeAt: number): Promise<number> {
    let acquired = 0;
    let limit = store.persistent ? FIRST_PERSISTENT_BATCH : ACQUIRE_BATCH;
    for (;;) {
      const now = Date.now();
      const due = await store.acquireDueTasks({
        owner: this.#context.schedulerId,
        now,
        leaseMs: this.#context.leaseTimeMs,
        limit,
      });
      if (due.length === 0) return acquired;
      acquired += due.length;
      if (isSharedStore(store)) await this.#dispatchShared(alias, store, due, now, wokeAt);
      else await this.#dispatchLocal(alias, store, due, now, wokeAt);
      if (due.length < limit) return acquired;
      limit = Math.min(limit * 4, ACQUIRE_BATCH);
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
    const { runs } = this.#context;
    const releases: TaskRelease[] = [];
    const planned: Array<{ record: TaskRecord; latest: Date }> = [];
    // Indexed loops on the dispatch path: a burst runs most of them before V8 optimises them, and a `for…of`
    // costs about half a microsecond an item until it does (10,000 runs: ~5 ms a loop).
    for (let index = 0; index < due.length; index++) {
      const record = due[index] as TaskRecord;
      const planning = this.#planTask(alias, record, now, wokeAt, releases);
      const plan = planning instanceof Promise ? await planning : planning;
      if (plan === null) continue;
      this.#reportMissed(alias, record, plan);
      const { runTimes } = plan;
      for (let time = 0; time < runTimes.length; time++) {
        runs.submit(alias, store, record, runTimes[time] as Date);
      }
      if (plan.next !== undefined) releases.push({ id: record.id, nextRunTime: plan.next });
      else planned.push({ record, latest: plan.latest });
    }
    for (let index = 0; index < planned.length; index++) {
      const { record, latest } = planned[index] as { record: TaskRecord; latest: Date };
      const next = this.#plan(alias, record, () => nextRunTimeAfter(record.trigger, latest, now));
      releases.push({ id: record.id, nextRunTime: next });
    }
    await store.releaseTasks(this.#context.schedulerId, releases);
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
    const { runs } = this.#context;
    const releases: TaskRelease[] = [];
    const planned: Array<{ record: TaskRecord; plan: DispatchPlan }> = [];
    const claims: Array<Promise<ClaimedRun | null>> = [];
    for (let index = 0; index < due.length; index++) {
      const record = due[index] as TaskRecord;
      const planning = this.#planTask(alias, record, now, wokeAt, releases);
      const plan = planning instanceof Promise ? await planning : planning;
      if (plan === null) continue;
      const next =
        plan.next ?? this.#plan(alias, record, () => nextRunTimeAfter(record.trigger, plan.latest, now));
      releases.push({ id: record.id, nextRunTime: next });
      if (next === null) continue;
      planned.push({ record, plan });
      const { runTimes } = plan;
      for (let time = 0; time < runTimes.length; time++) {
        claims.push(runs.claim(alias, store, record, runTimes[time] as Date));
      }
    }
    const claimed = await Promise.all(claims);
    const held = new Set(await store.releaseTasks(this.#context.schedulerId, releases));
    for (let index = 0; index < planned.length; index++) {
      const { record, plan } = planned[index] as { record: TaskRecord; plan: DispatchPlan };
      if (held.has(record.id)) this.#reportMissed(alias, record, plan);
    }
    for (let index = 0; index < claimed.length; index++) {
      const run = claimed[index];
      if (run == null) continue;
      if (!held.has(run.record.id)) {
        if (run.slotId !== null) void runs.free(store, run.slotId);
      } else {
        runs.startClaimed(alias, store, run);
      }
    }
    this.#afterReleases(
      alias,
      releases.filter((release) => held.has(release.id)),
    );
  }

  /**
   * Plans one acquired task: null (with the release that parks or pauses it pushed to `releases`) when its
   * function cannot be found or its trigger fails. Synchronous for a function found without importing (the
   * usual case): a burst must not yield between tasks, or the run-slot claims of a shared store, batched per
   * tick, would each take a transaction of their own.
   */
  #planTask(
    alias: string,
    record: TaskRecord,
    now: number,
    wokeAt: number,
    releases: TaskRelease[],
  ): DispatchPlan | null | Promise<DispatchPlan | null> {
    if (this.#context.resolver.resolveSync(record.fn) === undefined) {
      return this.#isUnresolvable(alias, record).then((unresolvable) => {
        if (!unresolvable) return this.#planResolved(alias, record, now, wokeAt, releases);
        releases.push({ id: record.id, holdUntil: now + UNRESOLVED_HOLD_MS });
        return null;
      });
    }
    return this.#planResolved(alias, record, now, wokeAt, releases);
  }

  /** Plans a task whose function is found; a trigger that fails pauses it (null, its release pushed). */
  #planResolved(
    alias: string,
    record: TaskRecord,
    now: number,
    wokeAt: number,
    releases: TaskRelease[],
  ): DispatchPlan | null {
    const plan = this.#plan(alias, record, () => planDispatch(record, now, wokeAt));
    if (plan === null) releases.push({ id: record.id, nextRunTime: null });
    return plan;
  }

  /**
   * Runs trigger math for a task; if the trigger throws (e.g. an AndTrigger with no common time) or returns
   * something other than a Date, reports it and returns null: the task is then paused, and kept.
   */
  #plan<T>(alias: string, record: TaskRecord, compute: () => T): T | null {
    try {
      return compute();
    } catch (error) {
      const reported =
        error instanceof KairosError
          ? error
          : new ValueError(`task '${record.id}': its trigger failed: ${describeError(error)}`, {
              cause: error,
            });
      const message = `task '${record.id}' could not be scheduled; it is paused`;
      this.#context.reports.taskError(
        alias,
        record.id,
        new Date(record.nextRunTime as number),
        reported,
        message,
      );
      return null;
    }
  }

  /**
   * For a function not resolvable without importing: true if it cannot be found (renamed in a redeploy, a module
   * that fails to import, a module reference outside `moduleRoot`): reported once per task and function, and
   * parked untouched so another deploy, or a later try, picks it up. An executor that loads functions itself
   * (worker threads) gets only references that pass the `moduleRoot` check.
   */
  async #isUnresolvable(alias: string, record: TaskRecord): Promise<boolean> {
    const { resolver } = this.#context;
    const key = `${alias}\u0000${record.id}\u0000${FunctionResolver.nameOf(record.fn)}`;
    try {
      if (this.#context.executor(record.executor)?.loadsFunctions === true)
        resolver.checkReference(record.fn);
      else await resolver.resolve(record.fn);
      this.#unresolved.delete(key);
      return false;
    } catch (error) {
      if (!this.#unresolved.has(key)) {
        this.#unresolved.add(key);
        const message = `task '${record.id}': ${(error as Error).message}; it is kept untouched`;
        this.#context.reports.taskError(
          alias,
          record.id,
          new Date(record.nextRunTime as number),
          error,
          message,
        );
      }
      return true;
    }
  }

  /** Emits `task:missed` for a plan that missed fire times. */
  #reportMissed(alias: string, record: TaskRecord, plan: DispatchPlan): void {
    if (plan.missed === null) return;
    this.#context.runs.missed(alias, record, plan.missed.times.at(-1) as Date, plan.missed.count);
    this.#context.reports.events.emit('task:missed', {
      taskId: record.id,
      store: alias,
      count: plan.missed.count,
      countIsExact: plan.missed.exact,
      scheduledRunTimes: plan.missed.times,
    });
  }

  /** Reports the tasks that releases removed (their triggers had no fire time left). */
  #afterReleases(alias: string, releases: readonly TaskRelease[]): void {
    for (let index = 0; index < releases.length; index++) {
      const release = releases[index] as TaskRelease;
      if ('nextRunTime' in release && release.nextRunTime === 'remove')
        this.#context.removed(alias, release.id);
    }
  }
}

/** A message for anything thrown. */
function describeError(error: unknown): string {
  return error instanceof Error ? error.message : describeValue(error);
}
