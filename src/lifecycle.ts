/**
 * Lifecycle tasks: a generator function whose body up to the first `yield` is setup, each fire resumes it
 * once (`yield` evaluates to the run's context), and `return()` on removal or shutdown runs its `finally`.
 */
import type { RunContext } from './context.js';
import { ValueError } from './errors.js';
import type { Lock } from './lock-interface.js';
import { untilDeadline } from './long-timeout.js';
import { type FunctionResolver, isGeneratorFunction } from './references.js';
import type { Reports } from './reports.js';
import type { TaskFunction, TaskRecord } from './store.js';
import { type SetupFailure, TaskLockKeeper } from './task-lock.js';

type AnyGenerator =
  | Generator<unknown, unknown, RunContext | undefined>
  | AsyncGenerator<unknown, unknown, RunContext | undefined>;

/** What one fire of a lifecycle task produced. */
export interface LifecycleStep {
  /** The yielded (or, on the last fire, returned) value. */
  value: unknown;
  /** True when the generator returned: the task is over. */
  done: boolean;
}

/** One live lifecycle task. */
export class LifecycleTask {
  /** The live generator. */
  readonly #generator: AnyGenerator;
  /** True once the generator returned, threw, or was closed. */
  #finished = false;

  /** Creates the generator; its body does not run until `setup()`. */
  constructor(fn: TaskFunction, args: readonly unknown[]) {
    this.#generator = fn(...args) as AnyGenerator;
  }

  /** True once the generator has ended. */
  get finished(): boolean {
    return this.#finished;
  }

  /** Runs the setup (the body up to the first `yield`). */
  setup(): Promise<LifecycleStep> {
    return this.#advance(undefined);
  }

  /** Resumes the generator once for a fire; a throw ends the task. */
  fire(context: RunContext): Promise<LifecycleStep> {
    return this.#advance(context);
  }

  /**
   * Calls `return()` so `finally` blocks run (an async generator queues it behind a step in progress).
   * With `wait` false the cleanup is started but not awaited, so a stuck step cannot hold a forced shutdown.
   * Idempotent.
   */
  async close(wait = true): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    const returned = Promise.resolve().then(() => this.#generator.return(undefined));
    if (wait) await returned;
    else returned.catch(() => {});
  }

  async #advance(input: RunContext | undefined): Promise<LifecycleStep> {
    if (this.#finished) return { value: undefined, done: true };
    try {
      const { value, done } = await this.#generator.next(input as RunContext);
      if (done) this.#finished = true;
      return { value, done: done === true };
    } catch (error) {
      this.#finished = true;
      throw error;
    }
  }
}

/** What `detach` hands back for the caller to close: a lifecycle, or the lock keeper of a locked one. */
export type DetachedLifecycle = LifecycleTask | TaskLockKeeper;

/**
 * A locked lifecycle task ended in this process on its own (a takeover's setup threw, or returned): the scheduler
 * removes it, unless `keeper` is no longer the task's.
 */
export type LockedTaskEnded = (
  alias: string,
  taskId: string,
  keeper: TaskLockKeeper,
  failure: SetupFailure,
) => void;

/** A locked task's keeper, and the store its task is in now (a task may move). */
interface KeptTask {
  keeper: TaskLockKeeper;
  place: { alias: string };
}

/**
 * The live lifecycle tasks of one scheduler, by store alias and task id, and the lock keepers of those added
 * with `lock` (src/task-lock.ts): a locked task has a keeper from `addTask` until it is removed (across restarts),
 * and a live lifecycle only while its keeper holds the lock.
 */
export class LifecycleRegistry {
  /** Live lifecycles by `alias\u0000id`. */
  readonly #byKey = new Map<string, LifecycleTask>();
  /** Lock keepers of locked lifecycle tasks, by `alias\u0000id`. */
  readonly #keepers = new Map<string, KeptTask>();
  readonly #resolver: FunctionResolver;
  readonly #reports: Reports;
  readonly #lockedTaskEnded: LockedTaskEnded;

  constructor(resolver: FunctionResolver, reports: Reports, lockedTaskEnded: LockedTaskEnded) {
    this.#resolver = resolver;
    this.#reports = reports;
    this.#lockedTaskEnded = lockedTaskEnded;
  }

  /**
   * True for a locked task this process has no live instance of (it does not hold the lock, or setup is under
   * way): its fires do not run. Called only for tasks without a live lifecycle; one size check while no task has
   * a lock (the dispatch path).
   */
  standsBy(alias: string, id: string): boolean {
    return this.#keepers.size !== 0 && this.#keepers.has(taskKey(alias, id));
  }

  /** The lock keeper of a task, if it has a lock. */
  keeperOf(alias: string, id: string): TaskLockKeeper | undefined {
    return this.#keepers.size === 0 ? undefined : this.#keepers.get(taskKey(alias, id))?.keeper;
  }

  /**
   * Registers the lock keeper of a lifecycle task added with `lock`, not started (`TaskLockKeeper.start`). The
   * caller detached the task's previous keeper, if any.
   */
  keep(alias: string, record: TaskRecord, lock: Lock): TaskLockKeeper {
    const place = { alias };
    const id = record.id;
    const keeper: TaskLockKeeper = new TaskLockKeeper(lock, {
      setUp: async () => {
        const lifecycle = await this.setUp(place.alias, record);
        if (lifecycle === null)
          throw new ValueError(`task '${id}': its function is no longer a generator function`);
        return lifecycle;
      },
      attach: (instance) => this.set(place.alias, id, instance),
      detach: (instance) => {
        if (this.get(place.alias, id) === instance) this.#byKey.delete(taskKey(place.alias, id));
      },
      ended: (failure) => this.#lockedTaskEnded(place.alias, id, keeper, failure),
      log: (level, fields, message) =>
        this.#reports.log(level, { taskId: id, store: place.alias, ...fields }, message),
    });
    this.#keepers.set(taskKey(alias, id), { keeper, place });
    return keeper;
  }

  /** The live lifecycle of a task, if it is one (no key is built while there are none: the dispatch path). */
  get(alias: string, id: string): LifecycleTask | undefined {
    return this.#byKey.size === 0 ? undefined : this.#byKey.get(taskKey(alias, id));
  }

  /** The ids of the tasks of one store that have a live lifecycle here. */
  idsIn(alias: string): string[] {
    const prefix = taskKey(alias, '');
    const ids: string[] = [];
    for (const key of this.#byKey.keys()) if (key.startsWith(prefix)) ids.push(key.slice(prefix.length));
    return ids;
  }

  /** True if `lifecycle` is the live one of the task (it was not replaced or removed meanwhile). */
  isCurrent(alias: string, id: string, lifecycle: LifecycleTask): boolean {
    return this.get(alias, id) === lifecycle;
  }

  /** Registers the live lifecycle of a task. */
  set(alias: string, id: string, lifecycle: LifecycleTask): void {
    this.#byKey.set(taskKey(alias, id), lifecycle);
  }

  /**
   * Takes the lifecycle of a task out of the registry (to be closed by the caller); for a locked task, its keeper
   * (closing it closes its live instance, then releases the lock).
   */
  detach(alias: string, id: string): DetachedLifecycle | undefined {
    const key = taskKey(alias, id);
    const lifecycle = this.get(alias, id);
    if (lifecycle !== undefined) this.#byKey.delete(key);
    const kept = this.#keepers.size === 0 ? undefined : this.#keepers.get(key);
    if (kept === undefined) return lifecycle;
    this.#keepers.delete(key);
    return kept.keeper;
  }

  /** Files a task's lifecycle (and lock keeper) under another store (the task moved). */
  move(from: string, to: string, id: string): void {
    const lifecycle = this.get(from, id);
    if (lifecycle !== undefined) {
      this.#byKey.delete(taskKey(from, id));
      this.set(to, id, lifecycle);
    }
    const kept = this.#keepers.get(taskKey(from, id));
    if (kept !== undefined) {
      this.#keepers.delete(taskKey(from, id));
      kept.place.alias = to;
      this.#keepers.set(taskKey(to, id), kept);
    }
  }

  /**
   * True if adding this task sets up no lifecycle and replaces none: its function is not a generator function
   * found without importing (`setUp` would make none), and no lifecycle or lock keeper is registered for its id.
   */
  isPlain(alias: string, record: TaskRecord): boolean {
    return !this.has(alias, record.id) && this.#generatorOf(record) === undefined;
  }

  /** True if the task has a live lifecycle or a lock keeper here (removing it closes one). */
  has(alias: string, id: string): boolean {
    return this.get(alias, id) !== undefined || this.keeperOf(alias, id) !== undefined;
  }

  /** Creates and sets up the generator of a lifecycle task (null for plain tasks); a failed setup rejects. */
  async setUp(alias: string, record: TaskRecord): Promise<LifecycleTask | null> {
    const fn = this.#generatorOf(record);
    if (fn === undefined) return null;
    const lifecycle = new LifecycleTask(fn, record.args);
    try {
      await lifecycle.setup();
    } catch (error) {
      this.#reports.log(
        'error',
        { err: error, taskId: record.id, store: alias },
        `setup of lifecycle task '${record.id}' failed`,
      );
      throw error;
    }
    return lifecycle;
  }

  /**
   * Registers `lifecycle`, set up for a task just written, in place of the task's previous one; when the store
   * kept an identical declared task instead (`kept`), the one running stays. Returns the lifecycle no longer
   * needed (the replaced one, or the new one when kept), for the caller to close.
   */
  adopt(
    alias: string,
    id: string,
    lifecycle: LifecycleTask | null,
    kept: boolean,
  ): DetachedLifecycle | undefined {
    if (kept) return lifecycle ?? undefined;
    const replaced = this.detach(alias, id);
    if (lifecycle !== null) this.set(alias, id, lifecycle);
    return replaced;
  }

  /** The task's function if it is a generator function found without importing (a lifecycle task's). */
  #generatorOf(record: TaskRecord): TaskFunction | undefined {
    const fn = this.#resolver.resolveSync(record.fn);
    return fn !== undefined && isGeneratorFunction(fn) ? fn : undefined;
  }

  /**
   * At start, sets up the lifecycle tasks among `records` (of a store that is not persistent, e.g. added
   * before start) that have none yet. Returns the tasks whose setup failed, and those that ended in setup:
   * the caller reports and removes them.
   */
  async setUpStored(
    alias: string,
    records: readonly TaskRecord[],
  ): Promise<{ failed: Array<{ id: string; error: unknown }>; finished: string[] }> {
    const failed: Array<{ id: string; error: unknown }> = [];
    const finished: string[] = [];
    for (const record of records) {
      const keeper = this.keeperOf(alias, record.id);
      if (keeper !== undefined) {
        // A locked task: its keeper starts trying (and sets it up only if it wins the lock).
        try {
          if (!(await keeper.start())) finished.push(record.id);
        } catch (error) {
          failed.push({ id: record.id, error });
        }
        continue;
      }
      if (this.get(alias, record.id) !== undefined) continue;
      try {
        const lifecycle = await this.setUp(alias, record);
        if (lifecycle === null) continue;
        this.set(alias, record.id, lifecycle);
        if (lifecycle.finished) finished.push(record.id);
      } catch (error) {
        failed.push({ id: record.id, error });
      }
    }
    return { failed, finished };
  }

  /**
   * Ends a detached lifecycle task (`return()`, so its `finally` runs), or closes a detached lock keeper (its
   * instance's cleanup, then the release of its lock); failures are logged.
   */
  async close(lifecycle: DetachedLifecycle | undefined, wait = true): Promise<void> {
    await lifecycle?.close(wait).catch((error) => this.#logCloseError(error));
  }

  /**
   * Ends every lifecycle task (at shutdown), each waited for until `deadline` at most: lock keepers first (each
   * cleans its instance up, then releases its lock; they stay registered, to start again at the next `start()`),
   * then the other lifecycles.
   */
  async closeAll(wait: boolean, deadline: number | null): Promise<void> {
    for (const { keeper } of this.#keepers.values()) await untilDeadline(this.close(keeper, wait), deadline);
    for (const lifecycle of this.#byKey.values()) {
      await untilDeadline(this.close(lifecycle, wait), deadline);
    }
    this.#byKey.clear();
  }

  /** A lifecycle task's function and args live in its running generator: they cannot be swapped. */
  checkChange(record: TaskRecord, changes: { fn?: unknown; args?: unknown }): void {
    if (changes.fn === undefined && changes.args === undefined) return;
    const current = this.#resolver.resolveSync(record.fn);
    const next =
      changes.fn === undefined ? current : this.#resolver.resolveSync(changes.fn as string | TaskFunction);
    if (isGeneratorFunction(current) || isGeneratorFunction(next)) {
      throw new ValueError(
        `updateTask: task '${record.id}' is (or would become) a lifecycle task; its fn and args cannot change — remove it and add it again`,
      );
    }
  }

  #logCloseError(error: unknown): void {
    this.#reports.log('error', { err: error }, 'a lifecycle task threw while closing');
  }
}

/** The registry key of a task. */
function taskKey(alias: string, id: string): string {
  return `${alias}\u0000${id}`;
}
