/** Task options: the public shapes, their defaults and validation, and the `Task` snapshot. */
import { KairosError, ValueError } from './errors.js';
import type { TaskErrorEvent, TaskExecutedEvent, TaskRetryEvent } from './events.js';
import type { Lock } from './lock-interface.js';
import type { Middleware } from './middleware.js';
import { assertJsonArgs, FunctionResolver, isGeneratorFunction } from './references.js';
import {
  copyTaskRecord,
  HOOK_KINDS,
  type RetryPolicy,
  type TaskFunction,
  type TaskHooks,
  type TaskRecord,
} from './store.js';
import { parseTags } from './tags.js';
import { type DateInput, type DurationInput, parseDate, parseDuration } from './time.js';
import { AFTER_IDLE } from './triggers/after.js';
import { ShutdownTrigger } from './triggers/shutdown.js';
import { toTrigger } from './triggers/spec.js';
import type { Trigger, TriggerSpec } from './triggers/trigger.js';
import { describeValue, rejectUnknownKeys } from './validate.js';

/** What `retries` accepts. */
export interface RetryOptions {
  /** How many times a failed run is tried again (0 or more). */
  max: number;
  /** Delay before the first retry. @default 1000 ms */
  delay?: DurationInput;
  /** Each further retry waits `backoff` times longer. @default 2 */
  backoff?: number;
  /** No delay is longer than this. @default 1 hour, or `delay` if that is longer */
  maxDelay?: DurationInput;
  /** Draw each delay at random from `[0, delay]` ("full jitter"). @default false */
  jitter?: boolean;
}

/** A task hook: called with the payload of one of the task's run events; what it returns is ignored. */
export type TaskHook<E> = (event: E) => unknown;

/** Options of `addTask`. Everything but `trigger` is optional. */
export interface TaskOptions {
  /** When the task fires: a trigger object or its JSON spec. */
  trigger: Trigger | TriggerSpec;
  /** @default a random UUID */
  id?: string;
  /** @default the function's name */
  name?: string;
  /** Positional arguments passed to the function. @default [] */
  args?: unknown[];
  /** Store alias. @default 'default' */
  store?: string;
  /** Executor alias. @default 'default' */
  executor?: string;
  /** Collapse runs that are due together into one (the latest). @default taskDefaults.coalesce (true) */
  coalesce?: boolean;
  /** How late a run may start; null: any lateness. @default taskDefaults.misfireGraceTime (1 s) */
  misfireGraceTime?: DurationInput | null;
  /** Runs of this task in progress at once, across all schedulers sharing the store. @default 1 */
  maxInstances?: number;
  /** The first run time instead of the trigger's; null adds the task paused. */
  nextRunTime?: DateInput | null;
  /** Replace a task with the same id instead of failing with `ConflictingIdError`. @default false */
  replaceExisting?: boolean;
  /** Retry failed runs. @default none */
  retries?: RetryOptions;
  /** Abort `currentRun().signal` and fail the run with `TimeoutError` after this long. @default none */
  timeout?: DurationInput;
  /** Labels: `getTasks({ tag })` finds the task by any of them; run history records them. @default [] */
  tags?: string[];
  /**
   * Called after each run that succeeded, with `task:executed`'s payload: a function, or the name of one in the
   * scheduler's `functions` (required in a persistent store). Not awaited; a hook that throws is logged and changes
   * nothing. `null` in `updateTask` removes it. @default none
   */
  onSuccess?: TaskHook<TaskExecutedEvent> | string | null;
  /** As `onSuccess`, after each run whose last attempt failed, with `task:error`'s payload. */
  onFailure?: TaskHook<TaskErrorEvent> | string | null;
  /** As `onSuccess`, after each failed attempt that will be retried, with `task:retry`'s payload. */
  onRetry?: TaskHook<TaskRetryEvent> | string | null;
  /**
   * Middleware around each attempt of this task, outermost first, inside the scheduler's (`use`): functions, or
   * names of functions in `functions` (required in a persistent store). @default []
   */
  middleware?: Array<Middleware | string>;
  /**
   * Lifecycle tasks only: one instance in the fleet. Only the process holding this lock (a `Lock`, or a path for a
   * `FileLock`, `{pgrp}` as for the scheduler's option) sets the task up and runs its fires; the others keep trying
   * (every `lock.retryMs`, else every second) and take over, with setup anew. Never stored; it cannot be changed
   * by `updateTask`. @default none
   */
  lock?: Lock | string;
}

/** What `updateTask` accepts: any option but `id` (and not `replaceExisting` or `lock`), plus a new function. */
export type TaskChanges = Partial<Omit<TaskOptions, 'id' | 'replaceExisting' | 'lock'>> & {
  /** A new function, function name or module reference. */
  fn?: TaskFunction | string;
};

/** Defaults applied to tasks that do not set these options. */
export interface TaskDefaults {
  /** @default true */
  coalesce?: boolean;
  /** @default 1000 ms */
  misfireGraceTime?: DurationInput | null;
  /** @default 1 */
  maxInstances?: number;
}

/** `TaskDefaults` after validation. */
export interface ResolvedTaskDefaults {
  coalesce: boolean;
  misfireGraceTime: number | null;
  maxInstances: number;
}

const TASK_OPTION_KEYS = new Set([
  'trigger',
  'id',
  'name',
  'args',
  'store',
  'executor',
  'coalesce',
  'misfireGraceTime',
  'maxInstances',
  'nextRunTime',
  'replaceExisting',
  'retries',
  'timeout',
  'tags',
  'onSuccess',
  'onFailure',
  'onRetry',
  'middleware',
  'lock',
]);
/**
 * The keys `updateTask` accepts: every option but `id` and `replaceExisting`, plus `fn`. `lock` is accepted only
 * to be refused with a message that says why (`checkTaskChanges`).
 */
const CHANGE_KEYS = new Set([...TASK_OPTION_KEYS].filter((key) => key !== 'id' && key !== 'replaceExisting'));
CHANGE_KEYS.add('fn');
const RETRY_KEYS = new Set(['max', 'delay', 'backoff', 'maxDelay', 'jitter']);
const DEFAULT_KEYS = new Set(['coalesce', 'misfireGraceTime', 'maxInstances']);

/** Throws `ValueError` for an unknown key (kept here for existing imports; see validate.ts). */
export { rejectUnknownKeys } from './validate.js';

function parseBoolean(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean')
    throw new ValueError(`${what} must be true or false, got ${describeValue(value)}`);
  return value;
}

function parseMaxInstances(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new ValueError(`${what} must be an integer of at least 1, got ${describeValue(value)}`);
  }
  return value;
}

function parseGrace(value: unknown, what: string): number | null {
  return value === null ? null : parseDuration(value, what);
}

/** A timeout: a duration of more than 0 ms (a zero timeout would fail every run before it starts). */
function parseTimeout(value: unknown, what: string): number {
  const ms = parseDuration(value, what);
  if (ms === 0) throw new ValueError(`${what} must be longer than 0 ms, got ${describeValue(value)}`);
  return ms;
}

function parseNonEmptyString(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '')
    throw new ValueError(`${what} must be a non-empty string, got ${describeValue(value)}`);
  return value;
}

/** Validates the scheduler's `taskDefaults`. */
export function parseTaskDefaults(input: TaskDefaults | undefined): ResolvedTaskDefaults {
  const defaults: ResolvedTaskDefaults = { coalesce: true, misfireGraceTime: 1000, maxInstances: 1 };
  if (input === undefined) return defaults;
  if (typeof input !== 'object' || input === null) {
    throw new ValueError(`taskDefaults must be an object, got ${describeValue(input)}`);
  }
  rejectUnknownKeys(input, DEFAULT_KEYS, 'taskDefaults');
  if (input.coalesce !== undefined) defaults.coalesce = parseBoolean(input.coalesce, 'taskDefaults.coalesce');
  if (input.misfireGraceTime !== undefined) {
    defaults.misfireGraceTime = parseGrace(input.misfireGraceTime, 'taskDefaults.misfireGraceTime');
  }
  if (input.maxInstances !== undefined)
    defaults.maxInstances = parseMaxInstances(input.maxInstances, 'taskDefaults.maxInstances');
  return defaults;
}

/** Validates `retries` into a `RetryPolicy`. */
export function parseRetries(input: unknown, what: string): RetryPolicy {
  if (typeof input !== 'object' || input === null)
    throw new ValueError(`${what} must be an object like { max: 3 }, got ${describeValue(input)}`);
  rejectUnknownKeys(input, RETRY_KEYS, what);
  const options = input as RetryOptions;
  if (typeof options.max !== 'number' || !Number.isInteger(options.max) || options.max < 0) {
    throw new ValueError(`${what}.max must be a non-negative integer, got ${describeValue(options.max)}`);
  }
  const backoff = options.backoff ?? 2;
  if (typeof backoff !== 'number' || !Number.isFinite(backoff) || backoff < 1) {
    throw new ValueError(
      `${what}.backoff must be a number of at least 1, got ${describeValue(options.backoff)}`,
    );
  }
  const delayMs = options.delay === undefined ? 1000 : parseDuration(options.delay, `${what}.delay`);
  return {
    max: options.max,
    delayMs,
    backoff,
    maxDelayMs: parseMaxDelay(options.maxDelay, delayMs, what),
    jitter: options.jitter === undefined ? false : parseBoolean(options.jitter, `${what}.jitter`),
  };
}

/** `retries.maxDelay`: at least `delay` (a cap below the first delay is a mistake); default 1 hour or `delay`. */
function parseMaxDelay(input: unknown, delayMs: number, what: string): number {
  // The default cap never shortens the first delay the user asked for.
  if (input === undefined) return Math.max(3_600_000, delayMs);
  const maxDelayMs = parseDuration(input, `${what}.maxDelay`);
  if (maxDelayMs < delayMs) {
    throw new ValueError(
      `${what}.maxDelay ${describeValue(input)} is shorter than the first delay (${delayMs} ms)`,
    );
  }
  return maxDelayMs;
}

/** What `buildTaskRecord` needs to know besides the options. */
export interface TaskBuildContext {
  defaults: ResolvedTaskDefaults;
  resolver: FunctionResolver;
  /** The scheduler's timezone, filled into triggers that have none. */
  timezone: string;
  /** Whether the target store is persistent (functions must then be references, args JSON). */
  persistent: boolean;
  /** Whether the target store is shared (a lifecycle task given by name may then live in it). */
  shared: boolean;
  /** The current time, for the first run time. */
  now: Date;
}

/** Validates `addTask` options (once, at the boundary) and builds the record a store keeps. */
export function buildTaskRecord(fn: unknown, options: TaskOptions, context: TaskBuildContext): TaskRecord {
  if (typeof options !== 'object' || options === null) {
    throw new ValueError(
      `addTask: options must be an object with at least a trigger, got ${describeValue(options)}`,
    );
  }
  rejectUnknownKeys(options, TASK_OPTION_KEYS, 'addTask');
  const id = options.id === undefined ? crypto.randomUUID() : parseNonEmptyString(options.id, 'id');
  if (options.replaceExisting !== undefined)
    parseBoolean(options.replaceExisting, `task '${id}': replaceExisting`);
  const storedFn = context.resolver.toStoredFunction(fn, id, context.persistent);
  const record: TaskRecord = {
    id,
    name:
      options.name === undefined
        ? FunctionResolver.nameOf(storedFn)
        : parseNonEmptyString(options.name, `task '${id}': name`),
    fn: storedFn,
    trigger: resolveTrigger(options.trigger, context.timezone, id),
    args: [],
    executor: 'default',
    coalesce: context.defaults.coalesce,
    misfireGraceTime: context.defaults.misfireGraceTime,
    maxInstances: context.defaults.maxInstances,
    nextRunTime: null,
    retries: null,
    timeout: null,
    tags: [],
    hooks: null,
    middleware: [],
  };
  applyChangesTo(record, options, context, typeof fn === 'string');
  const first = firstRunTime(record.trigger, context.now, id);
  if (options.nextRunTime === undefined) record.nextRunTime = first;
  return record;
}

/** Validates the changes of `updateTask` (the object and its keys) before anything is looked up. */
export function checkTaskChanges(id: string, changes: unknown): TaskChanges {
  if (typeof changes !== 'object' || changes === null || Array.isArray(changes)) {
    throw new ValueError(`updateTask: changes must be an object, got ${describeValue(changes)}`);
  }
  if ('id' in changes) throw new ValueError(`updateTask: the id of task '${id}' cannot be changed`);
  rejectUnknownKeys(changes, CHANGE_KEYS, `updateTask('${id}')`);
  // The lock is held by a keeper that set the task up; changing it would mean a takeover: keep that explicit.
  if ((changes as { lock?: unknown }).lock !== undefined) {
    throw new ValueError(
      `updateTask: the lock of task '${id}' cannot be changed; remove the task and add it again with the new lock`,
    );
  }
  return changes as TaskChanges;
}

/** Returns `record` with `changes` applied and validated (used by `updateTask`). */
export function applyTaskChanges(
  record: TaskRecord,
  changes: TaskChanges,
  context: TaskBuildContext,
  fnByName?: boolean,
): TaskRecord {
  const next = copyTaskRecord(record);
  applyChangesTo(next, changes, context, fnByName);
  return next;
}

/** Applies `changes` to `next`, a record not yet handed out (`addTask` builds one, `updateTask` copies one). */
function applyChangesTo(
  next: TaskRecord,
  changes: TaskChanges,
  context: TaskBuildContext,
  fnByName: boolean | undefined,
): void {
  const id = next.id;
  if (changes.fn !== undefined)
    next.fn = context.resolver.toStoredFunction(changes.fn, id, context.persistent);
  if (changes.name !== undefined) next.name = parseNonEmptyString(changes.name, `task '${id}': name`);
  if (changes.trigger !== undefined) next.trigger = resolveTrigger(changes.trigger, context.timezone, id);
  if (changes.args !== undefined) {
    if (!Array.isArray(changes.args))
      throw new ValueError(`task '${id}': args must be an array, got ${describeValue(changes.args)}`);
    next.args = [...changes.args];
  }
  if (changes.executor !== undefined)
    next.executor = parseNonEmptyString(changes.executor, `task '${id}': executor`);
  if (changes.coalesce !== undefined)
    next.coalesce = parseBoolean(changes.coalesce, `task '${id}': coalesce`);
  if (changes.misfireGraceTime !== undefined) {
    next.misfireGraceTime = parseGrace(changes.misfireGraceTime, `task '${id}': misfireGraceTime`);
  }
  if (changes.maxInstances !== undefined)
    next.maxInstances = parseMaxInstances(changes.maxInstances, `task '${id}': maxInstances`);
  if (changes.retries !== undefined) next.retries = parseRetries(changes.retries, `task '${id}': retries`);
  if (changes.timeout !== undefined) next.timeout = parseTimeout(changes.timeout, `task '${id}': timeout`);
  if (changes.tags !== undefined) next.tags = parseTags(changes.tags, `task '${id}': tags`);
  if (namesHooks(changes)) next.hooks = applyHooks(next, changes, context);
  if (changes.middleware !== undefined) {
    const list: unknown = changes.middleware;
    if (!Array.isArray(list))
      throw new ValueError(`task '${id}': middleware must be an array, got ${describeValue(list)}`);
    next.middleware = list.map((middleware, index) =>
      context.resolver.toStoredHook(middleware, `task '${id}': middleware[${index}]`, context.persistent),
    );
  }
  if (changes.nextRunTime !== undefined) {
    next.nextRunTime =
      changes.nextRunTime === null
        ? null
        : parseDate(changes.nextRunTime, context.timezone, `task '${id}': nextRunTime`).getTime();
  }
  const byName =
    changes.fn !== undefined ? typeof changes.fn === 'string' : (fnByName ?? typeof next.fn === 'string');
  checkRecord(next, context, byName);
}

/** True if `changes` names any hook (an indexed loop: it runs on every add, mostly before V8 optimises it). */
function namesHooks(changes: TaskChanges): boolean {
  for (let index = 0; index < HOOK_KINDS.length; index++) {
    if (changes[HOOK_KINDS[index] as keyof TaskHooks] !== undefined) return true;
  }
  return false;
}

/** The record's hooks with the hooks `changes` names set (or, when null, removed); null when none are left. */
function applyHooks(record: TaskRecord, changes: TaskChanges, context: TaskBuildContext): TaskHooks | null {
  const hooks: TaskHooks = { ...record.hooks };
  for (const kind of HOOK_KINDS) {
    const hook = changes[kind];
    if (hook === undefined) continue;
    if (hook === null) delete hooks[kind];
    else
      hooks[kind] = context.resolver.toStoredHook(hook, `task '${record.id}': ${kind}`, context.persistent);
  }
  return Object.keys(hooks).length === 0 ? null : hooks;
}

/**
 * Cross-option rules: lifecycle tasks, persistence. A lifecycle task lives in a `MemoryStore`, or, given by the
 * name of a registered generator function (`byName`), in a shared store (each process sets up its own instance).
 */
function checkRecord(record: TaskRecord, context: TaskBuildContext, byName: boolean): void {
  const fn = context.resolver.resolveSync(record.fn);
  if (fn !== undefined && isGeneratorFunction(fn)) {
    if (context.persistent && !(context.shared && byName && typeof record.fn === 'string')) {
      throw new ValueError(
        `task '${record.id}': a lifecycle (generator) task lives only in a MemoryStore, or given by the name of a registered generator function in a shared store`,
      );
    }
    if (record.retries !== null) {
      throw new ValueError(
        `task '${record.id}': retries cannot apply to a lifecycle (generator) task: a throw ends it`,
      );
    }
    record.maxInstances = 1;
  }
  if (context.persistent) {
    if (record.trigger instanceof ShutdownTrigger) {
      throw new ValueError(
        `task '${record.id}': a ShutdownTrigger task lives only in a MemoryStore (in a persistent store a crashed process would leave it behind, never to fire)`,
      );
    }
    assertJsonArgs(record.args, record.id);
  }
}

/** Accepts a trigger or spec and fills in the scheduler's zone where the trigger has none. */
function resolveTrigger(input: unknown, timezone: string, id: string): Trigger {
  if (input === undefined) throw new ValueError(`task '${id}': trigger is required`);
  const trigger = toTrigger(input, `task '${id}': trigger`);
  return trigger.withDefaultTimezone?.(timezone) ?? trigger;
}

/**
 * The first run time (epoch ms) of a trigger from `now`, or null for a shutdown trigger. A trigger that has no fire
 * time at all (a cron `endAt` in the past, a date that cannot exist), a custom trigger that throws or returns
 * something other than a `Date`, is a `ValueError` naming the task.
 */
export function firstRunTime(trigger: Trigger, now: Date, taskId: string): number | null {
  if (trigger instanceof ShutdownTrigger) return null;
  const first = checkedFireTime(trigger, null, now, taskId);
  if (first === null) {
    throw new ValueError(
      `task '${taskId}': its trigger ${describeValue(trigger.toJSON())} has no fire time at or after ${now.toISOString()}: it would never run`,
    );
  }
  return first;
}

/**
 * The first run time at or after `now` of a task changed while it may be running: never at or before
 * `leasedRunTime` (the time a scheduler is dispatching right now), so that no scheduled time runs twice because
 * of a change. Null if the trigger has no fire time after it (a one-shot that is running now).
 */
export function rescheduledRunTime(
  trigger: Trigger,
  now: Date,
  leasedRunTime: number | null,
  taskId: string,
): number | null {
  if (trigger instanceof ShutdownTrigger) return null;
  const first = checkedFireTime(trigger, null, now, taskId);
  if (first === null || leasedRunTime === null || first > leasedRunTime) return first;
  return checkedFireTime(trigger, new Date(leasedRunTime), now, taskId);
}

/**
 * A next run time the user pins (`nextRunTime`) on a task that is stored, moved past every time that may have
 * been dispatched already: a time a scheduler is dispatching now (`leasedRunTime`), and the times before the
 * stored next run time `current` that are not in the future (for a paused task, every time not in the future).
 * Then no pinned time makes a scheduled time run twice; a pinned time in the future is kept as it is.
 */
export function pinnedRunTime(
  pinned: number,
  current: number | null,
  leasedRunTime: number | null,
  now: number,
): number {
  let floor = current === null ? now : Math.min(current - 1, now);
  if (leasedRunTime !== null && leasedRunTime > floor) floor = leasedRunTime;
  return pinned > floor ? pinned : floor + 1;
}

/** `trigger.getNextFireTime` for a user's trigger: what it throws or a non-Date it returns is a `ValueError`. */
export function checkedFireTime(
  trigger: Trigger,
  previous: Date | null,
  now: Date,
  taskId: string,
): number | null {
  let next: unknown;
  try {
    next = trigger.getNextFireTime(previous, now);
  } catch (error) {
    if (error instanceof KairosError) throw error;
    throw new ValueError(
      `task '${taskId}': its trigger threw: ${(error as Error)?.message ?? String(error)}`,
      {
        cause: error,
      },
    );
  }
  if (next === null) return null;
  if (!(next instanceof Date) || Number.isNaN(next.getTime())) {
    throw new ValueError(
      `task '${taskId}': its trigger's getNextFireTime returned ${describeValue(next)}, not a Date or null`,
    );
  }
  return next.getTime();
}

/** The operations a `Task` snapshot's shortcuts call; the scheduler implements them. */
export interface TaskActions {
  updateTask(id: string, changes: TaskChanges, options?: { store?: string }): Promise<Task>;
  rescheduleTask(id: string, trigger: Trigger | TriggerSpec, options?: { store?: string }): Promise<Task>;
  pauseTask(id: string, options?: { store?: string }): Promise<Task>;
  resumeTask(id: string, options?: { store?: string }): Promise<Task>;
  removeTask(id: string, options?: { store?: string }): Promise<void>;
  runTaskNow(id: string, options?: { store?: string }): Promise<void>;
}

/** Shared by every snapshot with an empty list (most have no args, tags or middleware). */
const NO_ITEMS: readonly never[] = Object.freeze([]);

/** A frozen copy of a record's list, for a snapshot. */
function frozenCopy<T>(items: readonly T[]): readonly T[] {
  return items.length === 0 ? NO_ITEMS : Object.freeze([...items]);
}

/** A snapshot of a task as it was when read; the shortcuts act on the live task through the scheduler. */
export class Task {
  readonly id: string;
  readonly name: string;
  /** The function, function name or module reference the task runs. */
  readonly fn: string | TaskFunction;
  readonly trigger: Trigger;
  readonly args: readonly unknown[];
  /** Alias of the store holding the task. */
  readonly store: string;
  readonly executor: string;
  readonly coalesce: boolean;
  /** In milliseconds; null means any lateness is fine. */
  readonly misfireGraceTime: number | null;
  readonly maxInstances: number;
  /**
   * Null while paused, for a task that fires only at shutdown, and for one whose after-trigger waits for runs of
   * its upstream tasks (`paused` tells them apart).
   */
  readonly nextRunTime: Date | null;
  /** True while the task is paused (`pauseTask`). */
  readonly paused: boolean;
  /** True while the scheduler has not started and the task is not yet in its store. */
  readonly pending: boolean;
  readonly retries: Readonly<RetryPolicy> | null;
  /** In milliseconds, or null. */
  readonly timeout: number | null;
  readonly tags: readonly string[];
  /** Its hooks (functions, or names of registered ones); null when it has none. */
  readonly hooks: Readonly<TaskHooks> | null;
  /** Its own middleware (functions, or names of registered ones), outermost first. */
  readonly middleware: ReadonlyArray<string | TaskFunction>;
  /** The scheduler that the shortcuts act through. */
  readonly #actions: TaskActions;

  constructor(record: TaskRecord, store: string, pending: boolean, actions: TaskActions) {
    this.id = record.id;
    this.name = record.name;
    this.fn = record.fn;
    this.trigger = record.trigger;
    this.args = frozenCopy(record.args);
    this.store = store;
    this.executor = record.executor;
    this.coalesce = record.coalesce;
    this.misfireGraceTime = record.misfireGraceTime;
    this.maxInstances = record.maxInstances;
    this.nextRunTime =
      record.nextRunTime === null || record.nextRunTime === AFTER_IDLE ? null : new Date(record.nextRunTime);
    this.paused = record.nextRunTime === null && !(record.trigger instanceof ShutdownTrigger);
    this.pending = pending;
    this.retries = record.retries === null ? null : Object.freeze({ ...record.retries });
    this.timeout = record.timeout;
    this.tags = frozenCopy(record.tags);
    this.hooks = record.hooks === null ? null : Object.freeze({ ...record.hooks });
    this.middleware = frozenCopy(record.middleware);
    this.#actions = actions;
  }

  /** `scheduler.updateTask(this.id, changes)`. */
  update(changes: TaskChanges): Promise<Task> {
    return this.#actions.updateTask(this.id, changes, { store: this.store });
  }

  /** `scheduler.rescheduleTask(this.id, trigger)`. */
  reschedule(trigger: Trigger | TriggerSpec): Promise<Task> {
    return this.#actions.rescheduleTask(this.id, trigger, { store: this.store });
  }

  /** `scheduler.pauseTask(this.id)`. */
  pause(): Promise<Task> {
    return this.#actions.pauseTask(this.id, { store: this.store });
  }

  /** `scheduler.resumeTask(this.id)`. */
  resume(): Promise<Task> {
    return this.#actions.resumeTask(this.id, { store: this.store });
  }

  /** `scheduler.removeTask(this.id)`. */
  remove(): Promise<void> {
    return this.#actions.removeTask(this.id, { store: this.store });
  }

  /** `scheduler.runTaskNow(this.id)`. */
  runNow(): Promise<void> {
    return this.#actions.runTaskNow(this.id, { store: this.store });
  }
}
