/**
 * Lifecycle tasks in a shared store, "per process, tick once" (API.md "Lifecycle tasks across processes"): a task
 * whose function is the name of a registered generator function, in a store several schedulers share. Every
 * scheduler that has the name registered keeps its own instance: set up at `start()`, when it adds the task, when
 * a scan of the store (after the store's watch reported another process's change) first sees it, or lazily when
 * a fire of it is dispatched here with none yet. A scan also closes the instances whose task is gone from the
 * store, so removing the task in any process cleans up every process.
 */
import type { DetachedLifecycle, LifecycleRegistry, LifecycleTask } from './lifecycle.js';
import type { FunctionResolver } from './references.js';
import type { Reports } from './reports.js';
import type { TaskRecord, TaskStore } from './store.js';
import type { StoreLane } from './store-lane.js';

/** The least time between the starts of two scans of one store, in ms. */
export const SCAN_INTERVAL_MS = 1000;

/** What the shared lifecycles need from their scheduler. */
export interface SharedLifecyclesContext {
  lifecycles: LifecycleRegistry;
  resolver: FunctionResolver;
  reports: Reports;
  /** Removes a stored task and reports it (its live lifecycle here, if any, is closed). */
  removeStored(alias: string, store: TaskStore, id: string): Promise<void>;
  /** True while `lane` is one of the scheduler's running stores (a scan of it may run). */
  live(lane: StoreLane): boolean;
}

/** The scans of one store: serialized, at most one every `SCAN_INTERVAL_MS`. */
interface ScanState {
  /** Settles when the last scan queued has ended. */
  tail: Promise<void>;
  /** The timer of the next scan, if one is planned. */
  timer: ReturnType<typeof setTimeout> | undefined;
  /** When the last planned scan started (epoch ms). */
  last: number;
}

/** What identifies the instance a record needs: its function name and args (a change means a new instance). */
function signatureOf(record: TaskRecord): string {
  return JSON.stringify([record.fn, record.args]);
}

/** The per-process instances of lifecycle tasks in shared stores, for one scheduler. */
export class SharedLifecycles {
  readonly #context: SharedLifecyclesContext;
  /** Setups in progress, by `alias\u0000id`: every path that needs an instance waits for the same one. */
  readonly #settingUp = new Map<string, Promise<LifecycleTask | null>>();
  /** The signature of the record each instance was set up from. */
  readonly #signatures = new WeakMap<LifecycleTask, string>();
  readonly #scans = new Map<string, ScanState>();
  #stopped = true;

  constructor(context: SharedLifecyclesContext) {
    this.#context = context;
  }

  /** True if this scheduler can have shared lifecycle tasks (one of its registered functions is a generator). */
  get enabled(): boolean {
    return this.#context.resolver.hasGeneratorFunctions;
  }

  /** True if `record` is a lifecycle task given by name in the shared store `store`. */
  applies(store: TaskStore, record: TaskRecord): boolean {
    return store.shared && typeof record.fn === 'string' && this.#context.resolver.namesGenerator(record.fn);
  }

  /** Allows scans after a change (at `start()`). */
  start(): void {
    this.#stopped = false;
  }

  /** Cancels the planned scans (at shutdown); a scan in progress ends on its own. */
  stop(): void {
    this.#stopped = true;
    for (const state of this.#scans.values()) {
      if (state.timer !== undefined) clearTimeout(state.timer);
      state.timer = undefined;
    }
  }

  /**
   * The instance of a task of a shared store in this process: the live one (if set up from the same function and
   * args), the one being set up, or a new one, set up now and registered if the task is still stored as it was
   * (null otherwise). A setup that throws removes the task from the store (every process then cleans up) and
   * rejects; a generator that returns in setup removes it too.
   */
  ensure(lane: StoreLane, record: TaskRecord): Promise<LifecycleTask | null> {
    const signature = signatureOf(record);
    const live = this.#context.lifecycles.get(lane.alias, record.id);
    if (live !== undefined && this.#matches(live, signature)) return Promise.resolve(live);
    const key = `${lane.alias}\u0000${record.id}`;
    const inFlight = this.#settingUp.get(key);
    if (inFlight !== undefined) return inFlight;
    const setUp = this.#setUp(lane, record, signature).finally(() => this.#settingUp.delete(key));
    this.#settingUp.set(key, setUp);
    return setUp;
  }

  /** Plans a scan of a shared store after its watch reported a change: at once, or a second after the last. */
  changed(lane: StoreLane): void {
    if (this.#stopped || !lane.store.shared || !this.enabled) return;
    const state = this.#state(lane.alias);
    if (state.timer !== undefined) return;
    const wait = Math.max(0, state.last + SCAN_INTERVAL_MS - Date.now());
    state.timer = setTimeout(() => {
      state.timer = undefined;
      state.last = Date.now();
      if (this.#stopped || !this.#context.live(lane)) return;
      this.scan(lane).catch((error: unknown) =>
        this.#context.reports.log(
          'error',
          { err: error, store: lane.alias },
          'scanning for lifecycle tasks failed',
        ),
      );
    }, wait);
    state.timer.unref?.();
  }

  /**
   * Brings this process's instances in step with a shared store: closes those whose task is gone (`return()`,
   * so their `finally` runs), and sets up those of lifecycle tasks that have none here (a failed setup is
   * reported as `task:error` and removes the task). Scans of one store run one after the other.
   */
  scan(lane: StoreLane): Promise<void> {
    const state = this.#state(lane.alias);
    const scan = state.tail.then(() => this.#scan(lane));
    state.tail = scan.catch(() => {});
    return scan;
  }

  async #scan(lane: StoreLane): Promise<void> {
    const { lifecycles, reports } = this.#context;
    const gone: DetachedLifecycle[] = [];
    const wanted = await lane.exclusive(async () => {
      const found = (await lane.store.getTasks()).filter((record) => this.applies(lane.store, record));
      const ids = new Set(found.map((record) => record.id));
      for (const id of lifecycles.idsIn(lane.alias)) {
        if (ids.has(id)) continue;
        const detached = lifecycles.detach(lane.alias, id);
        if (detached !== undefined) gone.push(detached);
      }
      return found;
    });
    for (const lifecycle of gone) await lifecycles.close(lifecycle);
    for (const record of wanted) {
      try {
        await this.ensure(lane, record);
      } catch (error) {
        const message = `setup of lifecycle task '${record.id}' failed; the task is removed`;
        reports.taskError(lane.alias, record.id, new Date(), error, message);
      }
    }
  }

  async #setUp(lane: StoreLane, record: TaskRecord, signature: string): Promise<LifecycleTask | null> {
    const { lifecycles } = this.#context;
    let lifecycle: LifecycleTask | null;
    try {
      lifecycle = await lifecycles.setUp(lane.alias, record);
    } catch (error) {
      await this.#removeIfUnchanged(lane, record.id, signature);
      throw error;
    }
    if (lifecycle === null) return null;
    const instance = lifecycle;
    this.#signatures.set(instance, signature);
    let replaced: DetachedLifecycle | undefined;
    let kept: boolean;
    try {
      kept = await lane.exclusive(async () => {
        const stored = await lane.store.getTask(record.id);
        if (stored === undefined || signatureOf(stored) !== signature) return false;
        replaced = lifecycles.adopt(lane.alias, record.id, instance, false);
        if (instance.finished) await this.#context.removeStored(lane.alias, lane.store, record.id);
        return true;
      });
    } catch (error) {
      await lifecycles.close(instance);
      throw error;
    }
    await lifecycles.close(replaced);
    if (kept) return instance;
    await lifecycles.close(instance);
    return null;
  }

  /** Removes a task whose setup failed here, unless it was removed or replaced meanwhile; failures are logged. */
  async #removeIfUnchanged(lane: StoreLane, id: string, signature: string): Promise<void> {
    try {
      await lane.exclusive(async () => {
        const stored = await lane.store.getTask(id);
        if (stored !== undefined && signatureOf(stored) === signature)
          await this.#context.removeStored(lane.alias, lane.store, id);
      });
    } catch (error) {
      this.#context.reports.log(
        'error',
        { err: error, taskId: id, store: lane.alias },
        `removing task '${id}' failed`,
      );
    }
  }

  /** True if `lifecycle` was set up from a record with this signature (or is not one of ours). */
  #matches(lifecycle: LifecycleTask, signature: string): boolean {
    const own = this.#signatures.get(lifecycle);
    return own === undefined || own === signature;
  }

  #state(alias: string): ScanState {
    let state = this.#scans.get(alias);
    if (state === undefined) {
      state = { tail: Promise.resolve(), timer: undefined, last: 0 };
      this.#scans.set(alias, state);
    }
    return state;
  }
}
