/**
 * The options of the `Scheduler` and of its lifecycle methods: their shapes, documented, and their validation,
 * done once at the boundary so that the rest of the scheduler works with checked values.
 */

import { hostname } from 'node:os';
import { type Logger, pino } from 'pino';
import { MemoryStore } from '../stores/memory.js';
import { DispatchLocks } from './dispatch-lock.js';
import { ValueError } from './errors.js';
import { AsyncExecutor } from './executors/async.js';
import type { Executor } from './executors/executor.js';
import type { Lock } from './lock-interface.js';
import { withSafeErrorSerializer } from './log.js';
import { FunctionResolver } from './references.js';
import type { TaskFunction, TaskStore } from './store.js';
import { parseConcurrencyLimits } from './tag-limits.js';
import { parseTag } from './tags.js';
import { parseTaskDefaults, type ResolvedTaskDefaults, type TaskDefaults } from './task.js';
import { type DurationInput, parseDuration, parseTimezone, systemTimezone } from './time.js';
import { checkOptions, describeValue, isPlainObject } from './validate.js';

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
   * Only the process holding this lock dispatches; the others keep trying (every `lock.retryMs`, else every
   * second) and take over when it goes away. A `Lock`: a `FileLock` (one machine), a `PostgresLock`
   * (`kairos/stores/postgres`, several machines) or any object of the `Lock` shape. A string is a `FileLock`
   * path, which may hold `{store}` (one lock per store) and `{pgrp}` (the process group id). @default none
   */
  lock?: Lock | string;
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
  /**
   * Run history: each task's last `perTask` runs, kept in its store (`getRuns`, `replayRun`, `kairos runs`);
   * `false` records nothing (what the stores hold stays readable). @default { perTask: 20 }
   */
  history?: HistoryOptions | false;
  /**
   * Tag concurrency limits: at most `n` runs of tasks with the tag at once (0 holds them all); a run over a limit
   * waits (`task:waiting`). A shared store keeps the limits and counts runs across every scheduler sharing it:
   * these are written to it at start. `setConcurrencyLimit` changes them at run time. @default none
   */
  concurrencyLimits?: Record<string, number>;
}

/** The `history` option. */
export interface HistoryOptions {
  /** Run records kept per task, 1 to 10,000. @default 20 */
  perTask?: number;
}

/** Options of `start()`. */
export interface StartOptions {
  /** Open everything but do not dispatch until `resume()`. @default false */
  paused?: boolean;
}

/** Options of `shutdown()`. */
export interface ShutdownOptions {
  /** Wait for runs in progress. @default true */
  wait?: boolean;
  /** With `wait`: after this long, abort the runs' signals and stop waiting. @default no limit */
  timeout?: DurationInput;
}

/** Options of `getTasks`: a store (else every store) and a tag (else every task). */
export interface GetTasksOptions extends StoreSelector {
  /** Only the tasks with this tag. */
  tag?: string;
}

/** Selects a store by alias in the task methods; without it every store is searched. */
export interface StoreSelector {
  store?: string;
}

/** `SchedulerOptions` after validation. */
export interface ResolvedSchedulerOptions {
  stores: Map<string, TaskStore>;
  executors: Map<string, Executor>;
  defaults: ResolvedTaskDefaults;
  timezone: string;
  /** A child of the logger given, whose `err` serializer never throws. */
  logger: Logger;
  resolver: FunctionResolver;
  locks: DispatchLocks | null;
  schedulerId: string;
  leaseTimeMs: number;
  /** Run records kept per task; null when history is off. */
  historyPerTask: number | null;
  /** The `concurrencyLimits` option, by tag. */
  concurrencyLimits: Map<string, number>;
}

/** The default `leaseTime`. */
const DEFAULT_LEASE_MS = 30_000;
/** The shortest `leaseTime`: a lease must outlast a wake-up. */
const MIN_LEASE_MS = 1000;

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
  'history',
  'concurrencyLimits',
]);
const HISTORY_OPTION_KEYS = new Set(['perTask']);
/** The default `history.perTask`. */
const DEFAULT_HISTORY_PER_TASK = 20;
/** The largest `history.perTask`. */
const MAX_HISTORY_PER_TASK = 10_000;
const START_OPTION_KEYS = new Set(['paused']);
const SHUTDOWN_OPTION_KEYS = new Set(['wait', 'timeout']);
const SELECTOR_KEYS = new Set(['store']);
/** What a `logger` option must have. */
const LOGGER_METHODS = ['child', 'trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
const STORE_METHODS = [
  'start',
  'close',
  'addTask',
  'updateTask',
  'getTasks',
  'acquireDueTasks',
  'releaseTasks',
  'earliestWakeup',
  'appendRuns',
  'getRuns',
  'pruneRuns',
] as const;
/** What a shared store has besides: run slots and run requests. */
const RUN_SLOT_METHODS = [
  'claimRunSlot',
  'renewRunSlots',
  'releaseRunSlot',
  'requestRun',
  'takeRunRequests',
  'hasRunRequest',
  'cancelRunRequest',
] as const;
const EXECUTOR_METHODS = ['start', 'shutdown', 'execute'] as const;

/** Validates the options of `new Scheduler()`. */
export function parseSchedulerOptions(options: SchedulerOptions): ResolvedSchedulerOptions {
  checkOptions(options as unknown, SCHEDULER_OPTION_KEYS, 'Scheduler');
  for (const key of ['stores', 'executors', 'functions'] as const) {
    const value: unknown = options[key];
    if (value !== undefined && !isPlainObject(value)) {
      throw new ValueError(`Scheduler: ${key} must be an object of aliases, got ${describeValue(value)}`);
    }
  }
  const stores = new Map<string, TaskStore>();
  for (const [alias, store] of Object.entries(options.stores ?? { default: new MemoryStore() })) {
    stores.set(alias, checkStore(alias, store));
  }
  const executors = new Map<string, Executor>();
  for (const [alias, executor] of Object.entries(options.executors ?? { default: new AsyncExecutor() })) {
    executors.set(alias, checkExecutor(alias, executor));
  }
  return {
    stores,
    executors,
    defaults: parseTaskDefaults(options.taskDefaults),
    timezone:
      options.timezone === undefined
        ? systemTimezone()
        : parseTimezone(options.timezone, 'Scheduler: timezone'),
    logger: withSafeErrorSerializer(parseLogger(options.logger)),
    resolver: new FunctionResolver(options.functions, { moduleRoot: options.moduleRoot }),
    locks: options.lock === undefined ? null : new DispatchLocks(options.lock),
    schedulerId: parseSchedulerId(options.schedulerId),
    leaseTimeMs: parseLeaseTime(options.leaseTime),
    historyPerTask: parseHistory(options.history),
    concurrencyLimits: parseConcurrencyLimits(options.concurrencyLimits),
  };
}

/** The `history` option: records kept per task, or null for off. */
function parseHistory(input: unknown): number | null {
  if (input === false) return null;
  if (input === undefined) return DEFAULT_HISTORY_PER_TASK;
  if (!isPlainObject(input)) {
    throw new ValueError(
      `Scheduler: history must be { perTask?: number } or false, got ${describeValue(input)}`,
    );
  }
  checkOptions(input, HISTORY_OPTION_KEYS, 'Scheduler: history');
  const perTask = input.perTask ?? DEFAULT_HISTORY_PER_TASK;
  if (!Number.isInteger(perTask) || (perTask as number) < 1 || (perTask as number) > MAX_HISTORY_PER_TASK) {
    throw new ValueError(
      `Scheduler: history.perTask must be an integer from 1 to ${MAX_HISTORY_PER_TASK} (history: false turns history off), got ${describeValue(perTask)}`,
    );
  }
  return perTask as number;
}

/** Validates the options of `start()`; returns whether to start paused. */
export function parseStartOptions(options: StartOptions): boolean {
  checkOptions(options as unknown, START_OPTION_KEYS, 'start');
  if (options.paused !== undefined && typeof options.paused !== 'boolean') {
    throw new ValueError(`start: paused must be true or false, got ${describeValue(options.paused)}`);
  }
  return options.paused === true;
}

/** Validates the options of `shutdown()`: whether to wait, and the deadline (epoch ms) or null for none. */
export function parseShutdownOptions(options: ShutdownOptions): { wait: boolean; deadline: number | null } {
  checkOptions(options as unknown, SHUTDOWN_OPTION_KEYS, 'shutdown');
  if (options.wait !== undefined && typeof options.wait !== 'boolean') {
    throw new ValueError(`shutdown: wait must be true or false, got ${describeValue(options.wait)}`);
  }
  const timeoutMs =
    options.timeout === undefined ? null : parseDuration(options.timeout, 'shutdown: timeout');
  return { wait: options.wait ?? true, deadline: timeoutMs === null ? null : Date.now() + timeoutMs };
}

const GET_TASKS_KEYS = new Set(['store', 'tag']);

/** Validates `getTasks` options. */
export function parseGetTasksOptions(options: GetTasksOptions): { store?: string; tag?: string } {
  checkOptions(options as unknown, GET_TASKS_KEYS, 'getTasks');
  const store = parseSelector(
    { ...(options.store === undefined ? {} : { store: options.store }) },
    'getTasks',
  );
  const tag = options.tag === undefined ? undefined : parseTag(options.tag, 'getTasks: tag');
  return { ...(store === undefined ? {} : { store }), ...(tag === undefined ? {} : { tag }) };
}

/** Validates a `{ store? }` selector; returns the alias given, if any. */
export function parseSelector(options: StoreSelector | undefined, what: string): string | undefined {
  if (options === undefined) return undefined;
  checkOptions(options as unknown, SELECTOR_KEYS, what);
  if (options.store !== undefined && typeof options.store !== 'string') {
    throw new ValueError(
      `${what}: store must be a store alias (a string), got ${describeValue(options.store)}`,
    );
  }
  return options.store;
}

/** The `store` option of a task: an alias, 'default' when not given. */
export function parseStoreAlias(alias: unknown): string {
  if (alias === undefined) return 'default';
  if (typeof alias !== 'string')
    throw new ValueError(`store must be a store alias (a string), got ${describeValue(alias)}`);
  return alias;
}

/** Validates a store or executor alias given to `addStore` / `addExecutor`. */
export function parseAlias(alias: unknown, what: string): string {
  if (typeof alias !== 'string' || alias === '')
    throw new ValueError(`${what}: alias must be a non-empty string, got ${describeValue(alias)}`);
  return alias;
}

/** Throws `ValueError` unless `store` is a `TaskStore` (a shared one with run slots). */
export function checkStore(alias: string, store: unknown): TaskStore {
  checkShape(`stores.${alias}`, store, 'a TaskStore', STORE_METHODS);
  if ((store as TaskStore).shared) {
    checkShape(
      `stores.${alias}`,
      store,
      'a shared TaskStore (it lacks run slots or run requests)',
      RUN_SLOT_METHODS,
    );
  }
  return store as TaskStore;
}

/** Throws `ValueError` unless `executor` is an `Executor`. */
export function checkExecutor(alias: string, executor: unknown): Executor {
  checkShape(`executors.${alias}`, executor, 'an Executor', EXECUTOR_METHODS);
  return executor as Executor;
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

function defaultLogger(): Logger {
  return pino({ name: 'kairos', level: process.env.KAIROS_LOG_LEVEL ?? 'warn' }, pino.destination(2));
}

/** The `schedulerId` option, or `hostname-pid-random`. */
function parseSchedulerId(id: unknown): string {
  if (id === undefined) return `${hostname()}-${process.pid}-${crypto.randomUUID().slice(0, 8)}`;
  if (typeof id !== 'string' || id === '') {
    throw new ValueError(`Scheduler: schedulerId must be a non-empty string, got ${describeValue(id)}`);
  }
  return id;
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
