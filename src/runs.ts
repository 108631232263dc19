/**
 * The runs in progress of one scheduler: their slots (counted here for stores only this scheduler uses, claimed
 * in the store for shared ones, and renewed there while runs last), their start and end, waiting for them at
 * shutdown, and the per-run events (`task:submitted`, `task:max-instances`; `run.ts` emits the outcome ones).
 */
import type { RunContext } from './context.js';
import { ExecutorLookupError } from './errors.js';
import type { EventHub } from './events.js';
import type { Executor } from './executors/executor.js';
import type { HistoryWriter } from './history-writer.js';
import type { LifecycleTask } from './lifecycle.js';
import { type Middleware, withMiddleware } from './middleware.js';
import type { FunctionResolver } from './references.js';
import type { Reports } from './reports.js';
import { type AbortWatch, executeRun, watchAbort } from './run.js';
import { LocalRunCounts } from './run-counts.js';
import {
  copyTaskRecord,
  isSharedStore,
  type RunSlotAnswer,
  type SharedTaskStore,
  type TaskRecord,
  type TaskStore,
} from './store.js';
import type { LocalTagLimits } from './tag-limits.js';
import { MAX_TIMER_DELAY_MS } from './time.js';
import { type WaitingRun, WaitingRuns } from './waiting-runs.js';

/** A run a wake-up of a shared store claimed a slot for; it starts once the task's release went through. */
export interface ClaimedRun {
  record: TaskRecord;
  scheduledRunTime: Date;
  /**
   * Its run slot, or null when the task had `maxInstances` runs in progress (the run is skipped) or one of its
   * tags is at its concurrency limit (`waitingFor`: the run waits).
   */
  slotId: string | null;
  /** The tag at its limit the run waits for; null when it got a slot or is skipped. */
  waitingFor: string | null;
}

/** Where a run outside the schedule comes from: a run request (whose id it takes), or a replay of a run. */
export interface RunOrigin {
  /** The run's id in history (a run request's id); default `<schedulerId>:<n>`. */
  runId?: string;
  /** The run id this run replays. */
  replayOf?: string;
}

/** What the run tracker needs from its scheduler. */
export interface RunTrackerContext {
  schedulerId: string;
  /** How long a run slot outlives this scheduler; slots are renewed every third of it. */
  leaseTimeMs: number;
  events: EventHub;
  reports: Reports;
  /** The executor of an alias, if it exists. */
  executor(alias: string): Executor | undefined;
  /** The store of an alias, if it is still there (for renewals). */
  store(alias: string): TaskStore | undefined;
  /** The live lifecycle of a task, if it is one. */
  lifecycle(alias: string, taskId: string): LifecycleTask | undefined;
  /** True for a locked lifecycle task this process has no live instance of: its fires do not run. */
  standsBy(alias: string, taskId: string): boolean;
  /**
   * For a lifecycle task of a shared store with no instance here yet: this process's instance, being set up (the
   * fire resumes it once ready; null: the task is gone). Undefined for any other task.
   */
  setUpShared(alias: string, store: TaskStore, record: TaskRecord): Promise<LifecycleTask | null> | undefined;
  /** Resolves task functions (importing module references once). */
  resolver: FunctionResolver;
  /** Records runs in the stores' history; null when history is off. */
  history: HistoryWriter | null;
  /** The middleware around a task's attempts (the scheduler's, then the task's); null when there is none. */
  middleware(record: TaskRecord): readonly Middleware[] | null;
  /** The tag concurrency limits of the stores that are not shared (a shared store keeps its own). */
  tagLimits: LocalTagLimits;
  /** True while runs may start (running, not paused): runs waiting for a tag start only then. */
  active(): boolean;
  /**
   * Called when a run of a task that other tasks' after-triggers wait for has ended (null: none waits for it, and
   * nothing is made for it per run).
   */
  afterRunEnded(alias: string, record: TaskRecord): ((succeeded: boolean) => void) | null;
  /** A lifecycle task's generator returned during a run: the scheduler removes the task. */
  lifecycleEnded(alias: string, store: TaskStore, taskId: string, lifecycle: LifecycleTask): Promise<void>;
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

/** Tracks the runs of one scheduler from their slot to their end. */
export class RunTracker {
  readonly #context: RunTrackerContext;
  /** Numbers this scheduler's runs (and makes its slot ids unique). */
  #sequence = 0;
  /**
   * Starts every run id of this start of the scheduler: `<schedulerId>:<random>`. A scheduler restarted with the
   * same (configured) `schedulerId` thus never reuses a run id its previous life left in a store's history or
   * run slots.
   */
  #runIdPrefix: string;
  /** Runs in progress that did not end synchronously, by run number. */
  readonly #runs = new Map<number, ActiveRun>();
  /** Runs in progress per task of the stores that are not shared. */
  readonly #localRuns = new LocalRunCounts();
  /** Aborted when shutdown stops waiting for runs. */
  #shutdown = new AbortController();
  /** The shutdown signal with a race that rejects when it aborts, shared by every run. */
  #shutdownWatch: AbortWatch = watchAbort(this.#shutdown);
  /** Renews run slots in shared stores while runs are in progress. */
  #renewal: NodeJS.Timeout | undefined;
  /** Runs waiting for a tag at its concurrency limit. */
  readonly #waiting: WaitingRuns;

  constructor(context: RunTrackerContext) {
    this.#context = context;
    this.#runIdPrefix = newRunIdPrefix(context.schedulerId);
    this.#waiting = new WaitingRuns({
      tryStart: (run) => this.#tryWaiting(run),
      expired: (run) => this.#waitExpired(run),
      active: () => context.active(),
      leaseTimeMs: context.leaseTimeMs,
    });
  }

  /** A new shutdown signal, for a new start of the scheduler. */
  reset(): void {
    this.#runIdPrefix = newRunIdPrefix(this.#context.schedulerId);
    this.#shutdown = new AbortController();
    this.#shutdownWatch = watchAbort(this.#shutdown);
  }

  /** True once shutdown aborted the runs. */
  get aborted(): boolean {
    return this.#shutdown.signal.aborted;
  }

  /** Aborts every run's signal (shutdown gave up waiting); no retry follows. */
  abort(reason: unknown): void {
    this.#shutdown.abort(reason);
  }

  /** Settles once every run in progress now has ended. */
  settled(): Promise<unknown> {
    return Promise.allSettled([...this.#runs.values()].map((run) => run.promise));
  }

  /** True while this scheduler has a run of the task in progress. */
  isRunning(alias: string, taskId: string): boolean {
    if (this.#localRuns.running(alias, taskId) > 0) return true;
    for (const run of this.#runs.values()) if (run.store === alias && run.taskId === taskId) return true;
    return false;
  }

  /**
   * Claims a slot and starts the run, or reports it skipped at `maxInstances`. For a store only this scheduler
   * uses, the slot is counted here and the run starts before this returns (a burst starts without a promise
   * hop per run); a shared store claims the slot itself (so `maxInstances` holds across schedulers), and the
   * returned promise settles once the run has started or been skipped.
   */
  submit(
    alias: string,
    store: TaskStore,
    record: TaskRecord,
    scheduledRunTime: Date,
    origin?: RunOrigin,
  ): Promise<void> | undefined {
    if (!isSharedStore(store)) {
      const waiting = this.#waiting.size === 0 ? 0 : this.#waiting.count(alias, record.id);
      if (this.#localRuns.running(alias, record.id) + waiting >= record.maxInstances) {
        this.skip(alias, record, scheduledRunTime, origin);
        return undefined;
      }
      const tag = record.tags.length === 0 ? undefined : this.#context.tagLimits.blockedBy(record.tags);
      if (tag === undefined) this.start(alias, store, record, scheduledRunTime, null, origin);
      else this.wait(alias, store, record, scheduledRunTime, tag, origin);
      return undefined;
    }
    return this.claim(alias, store, record, scheduledRunTime).then((run) => {
      if (run !== null) this.startClaimed(alias, store, run, origin);
    });
  }

  /** Starts a run whose claim was answered: with its slot, or waiting for a tag, or skipped at `maxInstances`. */
  startClaimed(alias: string, store: TaskStore, run: ClaimedRun, origin?: RunOrigin): void {
    const { record, scheduledRunTime } = run;
    if (run.slotId !== null) this.start(alias, store, record, scheduledRunTime, run.slotId, origin);
    else if (run.waitingFor !== null)
      this.wait(alias, store, record, scheduledRunTime, run.waitingFor, origin);
    else this.skip(alias, record, scheduledRunTime, origin);
  }

  /**
   * A run waits for a free slot of `tag` (event `task:waiting`): it starts when one frees, unless its lateness
   * passes its misfire grace first (then it is missed).
   */
  wait(
    alias: string,
    store: TaskStore,
    record: TaskRecord,
    scheduledRunTime: Date,
    tag: string,
    origin?: RunOrigin,
  ): void {
    const grace = record.misfireGraceTime;
    const deadline = grace === null ? null : scheduledRunTime.getTime() + grace;
    this.#waiting.add({ alias, store, record, scheduledRunTime, origin, tag, deadline });
    this.#context.reports.log(
      'debug',
      { taskId: record.id, store: alias, scheduledRunTime, tag },
      `task '${record.id}' waits: tag '${tag}' is at its concurrency limit`,
    );
    this.#context.events.emit('task:waiting', { taskId: record.id, store: alias, scheduledRunTime, tag });
  }

  /**
   * Tries again the runs waiting in these stores (every store's if omitted), those waiting for one of `tags` (all
   * if omitted): a slot may have freed.
   */
  retryWaiting(aliases?: Iterable<string>, tags?: ReadonlySet<string>): void {
    if (this.#waiting.size > 0) this.#waiting.retry(aliases, tags);
  }

  /**
   * A task of a store only this scheduler uses was changed: its waiting runs take the new version; those of a task
   * now paused will not run (reported missed).
   */
  updateWaiting(alias: string, record: TaskRecord): void {
    if (this.#waiting.size === 0) return;
    for (const run of this.#waiting.update(alias, record))
      this.#waitExpired(run, 'it was paused while it waited');
  }

  /** Forgets the waiting runs of a removed task (or of a removed store); they will not run. */
  forgetWaiting(alias: string, taskId?: string): void {
    if (this.#waiting.size > 0) this.#waiting.drop(alias, taskId);
  }

  /** The store is removed: its waiting runs will not run (reported missed). */
  abandonWaitingOf(alias: string): void {
    if (this.#waiting.size === 0) return;
    for (const run of this.#waiting.drop(alias))
      this.#waitExpired(run, 'its store was removed while it waited');
  }

  /** At shutdown: every waiting run is reported missed (it did not run, and will not). */
  abandonWaiting(): void {
    for (const run of this.#waiting.clear())
      this.#waitExpired(run, 'the scheduler shut down while it waited');
  }

  /**
   * Tries to start a waiting run (see `WaitingRunsContext.tryStart`). In a shared store the task is read again
   * first, since another process may have changed it: a task removed (whose trigger had times left: a one-shot's
   * record is gone once its run was dispatched) or paused meanwhile does not run; a changed one runs as it is now.
   */
  #tryWaiting(run: WaitingRun): RunSlotAnswer | null | Promise<RunSlotAnswer | null> {
    const { alias, store, record, scheduledRunTime, origin } = run;
    if (isSharedStore(store)) {
      return store.getTask(record.id).then(
        (current) => {
          if (current === undefined) {
            if (record.trigger.getNextFireTime(scheduledRunTime, new Date()) === null)
              return this.#claimWaiting(run);
            this.#waitExpired(run, 'its task was removed while it waited');
            return false;
          }
          if (current.nextRunTime === null) {
            this.#waitExpired(run, 'its task was paused while it waited');
            return false;
          }
          run.record = current;
          return this.#claimWaiting(run);
        },
        (error: unknown) => {
          this.#context.reports.log('error', { err: error, store: alias }, 'reading a waiting task failed');
          return null;
        },
      );
    }
    if (this.#localRuns.running(alias, record.id) >= record.maxInstances) {
      this.skip(alias, record, scheduledRunTime, origin);
      return false;
    }
    const tag = this.#context.tagLimits.blockedBy(record.tags);
    if (tag !== undefined) return tag;
    this.start(alias, store, record, scheduledRunTime, null, origin);
    return true;
  }

  /** Claims a slot for a waiting run of a shared store and starts it, or tells what it waits for now. */
  #claimWaiting(run: WaitingRun): Promise<RunSlotAnswer | null> {
    const { alias, record, scheduledRunTime, origin } = run;
    const store = run.store as SharedTaskStore;
    return this.claim(alias, store, record, scheduledRunTime, true).then((claimed) => {
      if (claimed === null) return null;
      if (claimed.waitingFor !== null) return claimed.waitingFor;
      this.startClaimed(alias, store, claimed, origin);
      return claimed.slotId !== null;
    });
  }

  /**
   * A waiting run will not run: its lateness passed its misfire grace (or `why`: its task was removed or paused
   * meanwhile, the scheduler shut down). It is reported missed (event and history).
   */
  #waitExpired(run: WaitingRun, why = `it waited for tag '${run.tag}' past its misfire grace time`): void {
    const { alias, record, scheduledRunTime } = run;
    this.#context.history?.recordNotRun(alias, this.newRunId(), record, scheduledRunTime, 'missed', 1);
    this.#context.reports.log(
      'warn',
      { taskId: record.id, store: alias, scheduledRunTime, tag: run.tag },
      `task '${record.id}' missed: ${why}`,
    );
    this.#context.events.emit('task:missed', {
      taskId: record.id,
      store: alias,
      count: 1,
      countIsExact: true,
      scheduledRunTimes: [scheduledRunTime],
    });
  }

  /** Records the fire times a wake-up missed in history: one record for all of them, at the latest. */
  missed(alias: string, record: TaskRecord, latest: Date, count: number): void {
    this.#context.history?.recordNotRun(alias, this.newRunId(), record, latest, 'missed', count);
  }

  /** A new run id, unique across every scheduler sharing a store (since `schedulerId` is). */
  newRunId(): string {
    return `${this.#runIdPrefix}${++this.#sequence}`;
  }

  /**
   * Claims a run slot in a shared store; null (reported) if the claim failed. Never rejects. A task with
   * `maxInstances` runs waiting here already is skipped without a claim (`waiting`: the run claiming is one of
   * them, and does not count).
   */
  claim(
    alias: string,
    store: SharedTaskStore,
    record: TaskRecord,
    scheduledRunTime: Date,
    waiting = false,
  ): Promise<ClaimedRun | null> {
    if (!waiting && this.#waiting.size > 0 && this.#waiting.count(alias, record.id) >= record.maxInstances)
      return Promise.resolve({ record, scheduledRunTime, slotId: null, waitingFor: null });
    // Unique across every scheduler sharing a store, since schedulerId is; cheaper than a UUID per run.
    const slotId = this.newRunId();
    const claim = {
      taskId: record.id,
      runId: slotId,
      owner: this.#context.schedulerId,
      expiresAt: Date.now() + this.#context.leaseTimeMs,
      maxInstances: record.maxInstances,
      tags: record.tags,
    };
    return store.claimRunSlot(claim).then(
      (answer) => ({
        record,
        scheduledRunTime,
        slotId: answer === true ? slotId : null,
        waitingFor: typeof answer === 'string' ? answer : null,
      }),
      (error: unknown) => {
        const message = `task '${record.id}': claiming a run slot failed`;
        this.#context.reports.taskError(alias, record.id, scheduledRunTime, error, message);
        return null;
      },
    );
  }

  /** Frees a run slot (a failure is logged; the slot then expires with its lease). Never rejects. */
  free(store: SharedTaskStore, slotId: string): Promise<void> {
    return store
      .releaseRunSlot(slotId)
      .catch((error: unknown) =>
        this.#context.reports.log('error', { err: error }, 'releasing a run slot failed'),
      );
  }

  /** Reports a run not started because `maxInstances` runs of its task are in progress. */
  skip(alias: string, record: TaskRecord, scheduledRunTime: Date, origin?: RunOrigin): void {
    this.#context.history?.recordNotRun(
      alias,
      origin?.runId ?? this.newRunId(),
      record,
      scheduledRunTime,
      'skipped',
      undefined,
      origin?.replayOf,
    );
    this.#context.reports.log(
      'warn',
      { taskId: record.id, scheduledRunTime },
      `task '${record.id}' skipped: maxInstances reached`,
    );
    this.#context.events.emit('task:max-instances', { taskId: record.id, store: alias, scheduledRunTime });
  }

  /**
   * Starts a run that holds a slot: `slotId` in a shared store; null for a store only this scheduler uses,
   * whose runs are counted in `#localRuns`. A run that ended synchronously is done with here (it was never
   * counted: nothing else ran meanwhile); any other is counted and kept until its end is handled.
   */
  start(
    alias: string,
    store: TaskStore,
    record: TaskRecord,
    scheduledRunTime: Date,
    slotId: string | null,
    origin?: RunOrigin,
  ): void {
    const { events, reports, history } = this.#context;
    let lifecycle = this.#context.lifecycle(alias, record.id);
    let settingUp: Promise<LifecycleTask | null> | undefined;
    if (lifecycle === undefined) {
      if (this.#context.standsBy(alias, record.id)) {
        this.#standBy(alias, store, record, scheduledRunTime, slotId);
        return;
      }
      settingUp = this.#context.setUpShared(alias, store, record);
    }
    if (events.has('task:submitted')) {
      events.emit('task:submitted', { taskId: record.id, store: alias, scheduledRunTime });
    }
    const executor = this.#context.executor(record.executor);
    let ended: Promise<void> | undefined;
    // What history records of the run (nothing is made for it when history is off).
    const runId = history === null ? '' : (origin?.runId ?? slotId ?? this.newRunId());
    const startedAt = history === null ? 0 : Date.now();
    const replayOf = origin?.replayOf;
    let couldNotRun: unknown;
    let runRecord: TaskRecord = record;
    if (executor === undefined) {
      couldNotRun = new ExecutorLookupError(record.executor);
      reports.taskError(
        alias,
        record.id,
        scheduledRunTime,
        couldNotRun,
        `task '${record.id}' could not run`,
        1,
      );
    } else if (executor.loadsFunctions === true) {
      try {
        runRecord = this.#forLoader(record);
      } catch (error) {
        couldNotRun = error;
        const message = `task '${record.id}' could not run: ${(error as Error).message}`;
        reports.taskError(alias, record.id, scheduledRunTime, error, message, 1);
      }
    }
    if (couldNotRun !== undefined) {
      const run = { store: alias, record, scheduledRunTime, runId, startedAt, replayOf };
      history?.recordRun(run, 'error', 1, couldNotRun);
    } else if (executor !== undefined) {
      ended = executeRun({
        record: runRecord,
        store: alias,
        scheduledRunTime,
        runId,
        startedAt,
        replayOf,
        executor,
        events,
        logger: reports.logger,
        call: this.#call(record, settingUp, lifecycle, (ready) => {
          lifecycle = ready;
        }),
        shutdown: this.#shutdownWatch,
        history,
        resolver: this.#context.resolver,
        ended: this.#context.afterRunEnded(alias, record),
      });
    }
    if (ended === undefined && slotId === null) return;
    if (slotId === null) {
      this.#localRuns.add(alias, record.id);
      if (record.tags.length > 0) this.#context.tagLimits.add(record.tags);
    }
    const number = ++this.#sequence;
    // `executeRun` never rejects; should it ever, the run still ends (its slot freed) and nothing goes unhandled.
    const end = () => this.#end(number, alias, store, record, slotId, lifecycle);
    const promise = (ended ?? Promise.resolve())
      .then(end, end)
      .catch((error: unknown) =>
        reports.log('error', { err: error, taskId: record.id }, 'ending a run failed'),
      );
    this.#runs.set(number, { taskId: record.id, store: alias, slotId, promise });
    if (slotId !== null) this.#startRenewal();
  }

  /**
   * A fire of a locked lifecycle task while another process holds its lock (or this one is still setting it up):
   * it does not run, and is no error; only a debug line says so. A run slot claimed for it is given back.
   */
  #standBy(
    alias: string,
    store: TaskStore,
    record: TaskRecord,
    scheduledRunTime: Date,
    slotId: string | null,
  ): void {
    this.#context.reports.log(
      'debug',
      { taskId: record.id, store: alias, scheduledRunTime },
      `task '${record.id}' not run: this process does not hold its lock`,
    );
    if (slotId !== null && isSharedStore(store)) void this.free(store, slotId);
  }

  /**
   * The record to hand to an executor that loads functions itself (worker threads): its module reference
   * checked against `moduleRoot` now and given by the real path checked, so a symlink swapped since the wake-up
   * cannot redirect the import. Throws if the check fails.
   */
  #forLoader(record: TaskRecord): TaskRecord {
    const fn = this.#context.resolver.checkReference(record.fn);
    return fn === record.fn ? record : { ...copyTaskRecord(record), fn };
  }

  /**
   * The per-attempt call of a run: resume a lifecycle task (once set up), or call a plain one; inside its
   * middleware, if it has any (a task without middleware is called directly, at no cost).
   */
  #call(
    record: TaskRecord,
    settingUp: Promise<LifecycleTask | null> | undefined,
    lifecycle: LifecycleTask | undefined,
    setUp: (lifecycle: LifecycleTask | undefined) => void,
  ): (context: RunContext) => unknown {
    const chain = this.#context.middleware(record);
    if (settingUp !== undefined) {
      const resume = async (context: RunContext) => {
        const ready = (await settingUp) ?? undefined;
        setUp(ready);
        return ready === undefined ? undefined : (await ready.fire(context)).value;
      };
      return chain === null ? resume : withMiddleware(chain, resume, record.args);
    }
    if (lifecycle !== undefined) {
      const resume = lifecycleCall(lifecycle);
      return chain === null ? resume : withMiddleware(chain, resume, record.args);
    }
    if (chain === null) return plainCall(this.#context.resolver, record);
    const resolver = this.#context.resolver;
    return withMiddleware(
      chain,
      async (_context, args) => (await resolver.resolve(record.fn))(...args),
      record.args,
    );
  }

  /** Stops renewing run slots (at shutdown). */
  stopRenewal(): void {
    if (this.#renewal !== undefined) clearInterval(this.#renewal);
    this.#renewal = undefined;
  }

  /** After a run ended: frees its slot, and removes a lifecycle task whose generator returned. */
  async #end(
    runId: number,
    alias: string,
    store: TaskStore,
    record: TaskRecord,
    slotId: string | null,
    lifecycle: LifecycleTask | undefined,
  ): Promise<void> {
    this.#runs.delete(runId);
    if (this.#runs.size === 0) this.stopRenewal();
    if (slotId === null) {
      this.#localRuns.release(alias, record.id);
      if (record.tags.length > 0 && this.#context.tagLimits.release(record.tags))
        this.retryWaiting(this.#waiting.localAliases(), new Set(record.tags));
    } else if (isSharedStore(store)) {
      await this.free(store, slotId);
      // Its tags' places are free in the store: this scheduler's waiting runs try (other schedulers hear of it).
      if (record.tags.length > 0) this.retryWaiting([alias], new Set(record.tags));
    }
    if (lifecycle?.finished) await this.#context.lifecycleEnded(alias, store, record.id, lifecycle);
  }

  /** Renews this scheduler's run slots in shared stores, every third of the lease, while runs are in progress. */
  #startRenewal(): void {
    if (this.#renewal !== undefined) return;
    const { leaseTimeMs } = this.#context;
    this.#renewal = setInterval(() => this.#renew(), Math.min(leaseTimeMs / 3, MAX_TIMER_DELAY_MS));
  }

  #renew(): void {
    const { schedulerId, leaseTimeMs, reports } = this.#context;
    const byStore = new Map<string, string[]>();
    for (const run of this.#runs.values()) {
      if (run.slotId === null) continue;
      const slotIds = byStore.get(run.store);
      if (slotIds === undefined) byStore.set(run.store, [run.slotId]);
      else slotIds.push(run.slotId);
    }
    for (const [alias, slotIds] of byStore) {
      const store = this.#context.store(alias);
      if (store === undefined || !isSharedStore(store)) continue;
      store
        .renewRunSlots(schedulerId, slotIds, Date.now() + leaseTimeMs)
        .catch((error: unknown) =>
          reports.log('error', { err: error, store: alias }, 'renewing run slots failed'),
        );
    }
  }
}

/** `<schedulerId>:<6 random base-36 characters>-`, the start of a run id. */
function newRunIdPrefix(schedulerId: string): string {
  const random = Math.floor(Math.random() * 36 ** 6)
    .toString(36)
    .padStart(6, '0');
  return `${schedulerId}:${random}-`;
}

/** The per-attempt call of a plain task: resolve its function (importing module references once), call it. */
function plainCall(resolver: FunctionResolver, record: TaskRecord): () => unknown {
  const direct = resolver.resolveSync(record.fn);
  if (direct !== undefined) return () => direct(...record.args);
  return async () => (await resolver.resolve(record.fn))(...record.args);
}

/** The per-attempt call of a lifecycle task: resume its generator once. */
function lifecycleCall(lifecycle: LifecycleTask): (context: RunContext) => Promise<unknown> {
  return async (context) => (await lifecycle.fire(context)).value;
}
