/**
 * The `TaskStore` contract. Every store (memory, file, SQLite, PostgreSQL) implements this one interface,
 * and the scheduler talks to stores through nothing else.
 *
 * Two kinds of lease make sharing a store between schedulers safe:
 * - a *task lease*: `acquireDueTasks` claims due tasks for one owner until `releaseTasks` hands them back
 *   with their new next run time, so each due run is dispatched by exactly one scheduler;
 * - a *run slot*: in a shared store, each run in progress holds one (`claimRunSlot`), renewed while it runs,
 *   so that `maxInstances` counts runs across every scheduler sharing the store. A dead scheduler's leases
 *   expire. A store that is not shared has one scheduler, which counts its runs itself.
 */
import type { Logger } from 'pino';
import type { RunNowRequest, RunQuery, StoredRunRecord } from './history.js';
import type { Trigger } from './triggers/trigger.js';

/** Any function a task can run (plain, async, or a generator function for lifecycle tasks). */
// biome-ignore lint/suspicious/noExplicitAny: a task function may take and return anything.
export type TaskFunction = (...args: any[]) => unknown;

/**
 * A task's hooks (API.md "Task composition"), each a function (MemoryStore) or the name of one of the scheduler's
 * `functions`: called with the payload of `task:executed`, `task:error` and `task:retry` of the task's runs.
 */
export interface TaskHooks {
  onSuccess?: string | TaskFunction;
  onFailure?: string | TaskFunction;
  onRetry?: string | TaskFunction;
}

/** The hooks a task may have. */
export const HOOK_KINDS: readonly (keyof TaskHooks)[] = ['onSuccess', 'onFailure', 'onRetry'];

/** Retry policy of a task, normalised (all durations in ms). */
export interface RetryPolicy {
  /** How many times a failed run is tried again. */
  max: number;
  /** Delay before the first retry. */
  delayMs: number;
  /** Factor the delay grows by with each further retry. */
  backoff: number;
  /** Upper bound of any delay. */
  maxDelayMs: number;
  /** Whether each delay is drawn at random from `[0, delay]`. */
  jitter: boolean;
}

/** A task as stores hold it: normalised options, instants as epoch ms. */
export interface TaskRecord {
  id: string;
  name: string;
  /**
   * What runs: the name of a function in the scheduler's `functions`, a module reference
   * (`'./jobs.js#report'`), or, in a non-persistent store only, the function itself.
   */
  fn: string | TaskFunction;
  trigger: Trigger;
  args: unknown[];
  executor: string;
  coalesce: boolean;
  /** Milliseconds, or null for "any lateness is fine". */
  misfireGraceTime: number | null;
  maxInstances: number;
  /** Epoch ms of the next run; null when the task is paused (or fires only at shutdown). */
  nextRunTime: number | null;
  retries: RetryPolicy | null;
  /** Milliseconds, or null for none. */
  timeout: number | null;
  /** Labels (`getTasks({ tag })`, run history); distinct, in the order given. */
  tags: string[];
  /** Its hooks; null when it has none. */
  hooks: TaskHooks | null;
  /** Its own middleware, outermost first: functions, or names of registered ones. */
  middleware: Array<string | TaskFunction>;
}

/**
 * What the scheduler tells a store about a task it acquired: its new next run time (epoch ms), null to pause,
 * or `'remove'` when the trigger is exhausted; or `holdUntil` to leave the record exactly as it is, still
 * leased to the owner until that instant (a task whose function cannot be found yet is parked this way).
 */
export type TaskRelease =
  | { id: string; nextRunTime: number | null | 'remove' }
  | { id: string; holdUntil: number };

/** A task with an after-trigger, as `TaskStoreBase.getAfterTriggers` lists it. */
export interface AfterTriggerEntry {
  id: string;
  /** The ids of the tasks whose runs fire it. */
  tasks: string[];
}

/** Arguments of `TaskStore.acquireDueTasks`. */
export interface AcquireOptions {
  /** The acquiring scheduler's id. */
  owner: string;
  /** Epoch ms: tasks with `nextRunTime <= now` are due. */
  now: number;
  /** How long the acquired tasks stay leased to `owner` if it never releases them. */
  leaseMs: number;
  /** At most this many tasks. */
  limit: number;
}

/** Arguments of `RunSlots.claimRunSlot`. */
export interface RunSlotClaim {
  taskId: string;
  /** Unique id of the run. */
  runId: string;
  owner: string;
  /** Epoch ms after which the slot no longer counts unless its owner renews it. */
  expiresAt: number;
  /** The task's `maxInstances`: claim only if fewer live slots exist. */
  maxInstances: number;
  /**
   * The task's tags: claim only if each tag with a concurrency limit in the store has fewer live slots than its
   * limit. The slot counts toward every one of them (also toward a limit set later) while it lives. Absent: none.
   */
  tags?: readonly string[];
}

/**
 * The answer to a run-slot claim: `true` when the slot was taken, `false` when the task has `maxInstances` live
 * slots, or the first of its tags that is at its concurrency limit (the run waits for it).
 */
export type RunSlotAnswer = boolean | string;

/** What a store is given when it starts. */
export interface StoreContext {
  /** The scheduler's logger, for the store's own reports. */
  logger: Logger;
  /** The store's alias in the scheduler, for messages. */
  alias: string;
  /**
   * Reports a stored record that cannot be read back (corrupt JSON, unknown trigger type). The store keeps the
   * record untouched, never deletes it, and leaves it out of due queries until it changes or the store restarts.
   */
  reportBrokenRecord(taskId: string, error: Error): void;
}

/** What a store tells `updateTask`'s change about the task besides its record. */
export interface StoredTaskState {
  /**
   * The scheduled time a scheduler is dispatching right now (the next run time a live task lease was acquired
   * with), or null. A change must not set the next run time to it or earlier: that time is running already. A
   * store may also tell the last time it released as dispatched (PostgreSQL does, since the schedulers sharing it
   * run on machines whose clocks differ): a change computed from a clock behind then never schedules it again.
   */
  leasedRunTime: number | null;
}

/** A change to a stored task: the new record, or `current` itself for "no change". Synchronous. */
export type TaskChange = (current: TaskRecord, state: StoredTaskState) => TaskRecord;

/**
 * The run slots of a shared store: `maxInstances` and tag concurrency limits counted across every scheduler that
 * shares it.
 */
export interface RunSlots {
  /**
   * Takes a run slot if the task has fewer than `maxInstances` live slots and each of its tags with a limit has
   * fewer live slots than the limit (see `RunSlotAnswer`). Expired slots do not count.
   */
  claimRunSlot(claim: RunSlotClaim): Promise<RunSlotAnswer>;
  /** Extends `owner`'s slots for these runs to `expiresAt`. */
  renewRunSlots(owner: string, runIds: readonly string[], expiresAt: number): Promise<void>;
  /**
   * Frees a run slot (idempotent). Freeing one that counted toward a tag with a limit is a change other processes'
   * watches hear of (their runs waiting for the tag try again); any other is quiet.
   */
  releaseRunSlot(runId: string): Promise<void>;
}

/** The tag concurrency limits of a shared store (API.md "Task composition"), which every scheduler sharing it obeys. */
export interface StoredConcurrencyLimits {
  /** Every tag's limit. */
  getConcurrencyLimits(): Promise<Record<string, number>>;
  /** Sets (or, with null, removes) a tag's limit; other processes' watches hear of it. */
  setConcurrencyLimit(tag: string, limit: number | null): Promise<void>;
}

/**
 * What every store does. Every method is async; a store validates nothing a scheduler already validated. A store
 * is a `LocalTaskStore` (one scheduler at a time) or a `SharedTaskStore` (several, with run slots).
 */
export interface TaskStoreBase {
  /** True if records outlive the process: `fn` must then be a name or reference and `args` JSON. */
  readonly persistent: boolean;

  /** Opens the store (creating files, tables…). A corrupt or foreign backing file is an error here. */
  start(context: StoreContext): Promise<void>;
  /** Closes the store; it may be started again. Leases acquired through this instance end. */
  close(): Promise<void>;

  /** Adds a task; an existing id is a `ConflictingIdError` (the scheduler builds `replaceExisting` on `updateTask`). */
  addTask(record: TaskRecord): Promise<void>;
  /**
   * Changes a stored task atomically: inside the store's transaction or lock, reads the task as it is now, calls
   * `change` with it (synchronously) and writes what `change` returns, so that no write made meanwhile by another
   * process (a run's advance of the next run time) is lost. `change` returning `current` itself writes nothing.
   * A new version ends a hold on the task (`holdUntil`: it changed, so it is worth trying again); a task lease
   * stays, and the lease holder's release then yields if the next run time changed. Resolves with the task as
   * stored. An unknown id is a `TaskLookupError`; a record that cannot be read back is a `SerializationError`
   * (kept untouched); an error thrown by `change` rejects and writes nothing.
   */
  updateTask(id: string, change: TaskChange): Promise<TaskRecord>;
  /** Removes a task and returns it; an unknown id is a `TaskLookupError`. */
  removeTask(id: string): Promise<TaskRecord>;
  /** Removes every task and returns the removed ids. */
  removeAllTasks(): Promise<string[]>;
  /** The task with this id, if any. */
  getTask(id: string): Promise<TaskRecord | undefined>;
  /** Every task, by next run time ascending, paused tasks (null next run time) last, ties by id. */
  getTasks(): Promise<TaskRecord[]>;

  /**
   * The earliest epoch ms at which `acquireDueTasks` could return something: the smallest next run time
   * of unleased tasks, or the expiry of a lease (of any owner). Null when nothing is scheduled.
   */
  earliestWakeup(owner: string): Promise<number | null>;
  /**
   * Leases to `owner` up to `limit` due tasks (`nextRunTime <= now`) that no other owner holds
   * (or whose lease expired), earliest first.
   */
  acquireDueTasks(options: AcquireOptions): Promise<TaskRecord[]>;
  /**
   * Ends `owner`'s leases on these tasks, setting each one's next run time (or removing it), and resolves with
   * the ids of the tasks whose lease `owner` still held: a task whose lease expired and was taken by another
   * scheduler is left alone and left out, and its runs must not start. A release yields to a change made
   * meanwhile by someone else: if the task's next run time is no longer the one it was acquired with (paused,
   * rescheduled by another process), that change wins and only the lease ends (the id is still listed).
   */
  releaseTasks(owner: string, releases: readonly TaskRelease[]): Promise<string[]>;

  /**
   * Appends run records (API.md "Run history"), in the order given, then keeps only the newest `perTask`
   * records (by appending order) of each task the batch names. A record whose run id is stored already is
   * left out. Records outlive their task: `pruneRuns` bounds those.
   */
  appendRuns(records: readonly StoredRunRecord[], perTask: number): Promise<void>;
  /**
   * The records that pass the query, newest first: `endedAt` descending, and among records that ended in the
   * same millisecond, the later appended first. At most `query.limit`.
   */
  getRuns(query: RunQuery): Promise<StoredRunRecord[]>;
  /**
   * Deletes the records of tasks no longer in the store that ended before `endedBefore`, and those beyond the
   * newest `keep` of them. Resolves with how many it deleted.
   */
  pruneRuns(endedBefore: number, keep: number): Promise<number>;

  /**
   * The tasks whose trigger is an after-trigger (`{ type: 'after' }`): each one's id and the ids of the tasks it
   * waits for. Read through an index (or the store's memory): cheap however many other tasks the store holds.
   */
  getAfterTriggers(): Promise<AfterTriggerEntry[]>;

  /**
   * Optional: calls `listener` when another process changed the store, so the scheduler re-arms its
   * timer without polling. Returns a function that stops watching.
   */
  watch?(listener: () => void): () => void;
}

/**
 * A copy of `record`, with another next run time if given. Records are values: a change makes a new one.
 * Copies are made by this one literal, in the field order of `TaskRecord` (as `buildTaskRecord` and
 * `deserializeTask` make records), so that all records share one hidden class in V8 and the code that reads
 * them on the dispatch path stays monomorphic.
 */
export function copyTaskRecord(
  record: TaskRecord,
  nextRunTime: number | null = record.nextRunTime,
): TaskRecord {
  return {
    id: record.id,
    name: record.name,
    fn: record.fn,
    trigger: record.trigger,
    args: record.args,
    executor: record.executor,
    coalesce: record.coalesce,
    misfireGraceTime: record.misfireGraceTime,
    maxInstances: record.maxInstances,
    nextRunTime,
    retries: record.retries,
    timeout: record.timeout,
    tags: record.tags,
    hooks: record.hooks,
    middleware: record.middleware,
  };
}

/** A store one scheduler uses at a time: it counts the runs in progress itself. */
export interface LocalTaskStore extends TaskStoreBase {
  readonly shared: false;
}

/**
 * Requests that a scheduler sharing the store run a task now: how the `kairos` command's `run-now` and `replay`
 * reach a scheduler in another process. Exactly one scheduler takes each request.
 */
export interface RunNowRequests {
  /** Stores a request; the store's watchers see it as another process's change. */
  requestRun(request: RunNowRequest): Promise<void>;
  /**
   * Removes and returns every request made at or after `now - RUN_REQUEST_MAX_AGE_MS`, oldest first (older ones
   * are removed and never returned). Atomic: a request is returned to one caller only.
   */
  takeRunRequests(now: number): Promise<RunNowRequest[]>;
  /** True while a request is waiting for a scheduler to take it. */
  hasRunRequest(requestId: string): Promise<boolean>;
  /** Removes a request no scheduler took; true if it was still there. */
  cancelRunRequest(requestId: string): Promise<boolean>;
}

/**
 * A store several schedulers may use at once: it keeps run slots (`RunSlots`), renewed while runs last, so that
 * `maxInstances` and tag concurrency limits (`StoredConcurrencyLimits`) count runs across all of them, and takes
 * run requests from other processes (`RunNowRequests`).
 */
export interface SharedTaskStore extends TaskStoreBase, RunSlots, StoredConcurrencyLimits, RunNowRequests {
  readonly shared: true;
}

/** A place tasks live: local or shared. */
export type TaskStore = LocalTaskStore | SharedTaskStore;

/**
 * Optional, for a local store (not shared) whose tasks live in this process's memory (the MemoryStore): the same
 * add and removal as `addTask` and `removeTask`, done before the call returns. The scheduler uses them only while
 * nothing else is queued on the store's lane, so the change is the one the async method would make, made without
 * a promise round trip (an add or removal of a plain task then costs a few map operations).
 */
export interface ImmediateTaskStore {
  /** `addTask`, done at once; an existing id is a `ConflictingIdError` (thrown). */
  addTaskNow(record: TaskRecord): void;
  /** `removeTask`, done at once: the removed task, or undefined (nothing removed) for an unknown id. */
  removeTaskNow(id: string): TaskRecord | undefined;
}

/** True for a local store that can add and remove tasks at once (both `ImmediateTaskStore` methods). */
export function isImmediateStore(store: TaskStore): store is LocalTaskStore & ImmediateTaskStore {
  if (store.shared) return false;
  const immediate = store as Partial<ImmediateTaskStore>;
  return typeof immediate.addTaskNow === 'function' && typeof immediate.removeTaskNow === 'function';
}

/** True for a shared store (which then has run slots: the scheduler checks that when it is given one). */
export function isSharedStore(store: TaskStore): store is SharedTaskStore {
  return store.shared;
}

/** Orders records as `getTasks` returns them: next run time ascending, paused (null) last, ties by id. */
export function compareTaskRecords(a: TaskRecord, b: TaskRecord): number {
  if (a.nextRunTime !== b.nextRunTime) {
    if (a.nextRunTime === null) return 1;
    if (b.nextRunTime === null) return -1;
    return a.nextRunTime - b.nextRunTime;
  }
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
