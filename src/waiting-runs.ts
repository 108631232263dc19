/**
 * Runs waiting for a tag (API.md "Task composition", tag concurrency limits): a run whose tag is at its limit is
 * not dropped; it waits here, per store, first come first tried, and is tried again when a slot may have freed:
 * a run of a limited tag ended in this process, another process freed one (the store's watch), a limit changed,
 * the scheduler resumed. A run whose lateness passes its misfire grace while it waits is reported missed, on
 * time, by a timer; in a shared store the same timer also tries again once a lease time has passed, by when the
 * slots of a scheduler that died have expired.
 */
import { type LongTimeout, setLongTimeout } from './long-timeout.js';
import type { RunOrigin } from './runs.js';
import type { RunSlotAnswer, TaskRecord, TaskStore } from './store.js';

/** A run waiting for a free slot of a tag. */
export interface WaitingRun {
  alias: string;
  store: TaskStore;
  record: TaskRecord;
  scheduledRunTime: Date;
  origin: RunOrigin | undefined;
  /** The tag it waits for (the first of its tags found at its limit). */
  tag: string;
  /** Epoch ms after which it is missed (its scheduled time plus its misfire grace); null: it waits for ever. */
  deadline: number | null;
}

/** What the queue needs from the run tracker. */
export interface WaitingRunsContext {
  /**
   * Tries to start a waiting run: `true` started, `false` skipped (`maxInstances`), a tag: it waits on (for that
   * tag), null: it could not be tried (a store failure, reported): it waits on.
   */
  tryStart(run: WaitingRun): RunSlotAnswer | null | Promise<RunSlotAnswer | null>;
  /** The run's lateness passed its misfire grace while it waited: report it missed. */
  expired(run: WaitingRun): void;
  /** True while runs may start (the scheduler is running and not paused). */
  active(): boolean;
  /** How long a dead scheduler's run slots outlive it in a shared store. */
  leaseTimeMs: number;
}

/** The waiting runs of one scheduler, by store alias. */
export class WaitingRuns {
  readonly #context: WaitingRunsContext;
  /** Waiting runs per store alias, in the order they began waiting. */
  readonly #queues = new Map<string, WaitingRun[]>();
  /** How many runs wait, over every store. */
  #size = 0;
  /** How many runs of each task wait, by store alias and task id. */
  readonly #perTask = new Map<string, Map<string, number>>();
  /** Stores whose runs are being tried now, and those to try again after. */
  readonly #trying = new Set<string>();
  readonly #again = new Set<string>();
  #timer: LongTimeout | undefined;
  /** When the timer fires (epoch ms); infinite when it is not armed. */
  #timerAt = Number.POSITIVE_INFINITY;

  constructor(context: WaitingRunsContext) {
    this.#context = context;
  }

  /** How many runs wait, over every store. */
  get size(): number {
    return this.#size;
  }

  /** How many runs of a task wait. */
  count(alias: string, taskId: string): number {
    if (this.#size === 0) return 0;
    return this.#perTask.get(alias)?.get(taskId) ?? 0;
  }

  /** Adds a run at the end of its store's queue. */
  add(run: WaitingRun): void {
    let queue = this.#queues.get(run.alias);
    if (queue === undefined) {
      queue = [];
      this.#queues.set(run.alias, queue);
    }
    queue.push(run);
    this.#size++;
    this.#countRun(run.alias, run.record.id, 1);
    const at = this.#retryAt(run, Date.now());
    if (at < this.#timerAt) this.#armAt(at);
  }

  /** Tries the waiting runs of these stores again (every store's when `aliases` is omitted). */
  retry(aliases: Iterable<string> = [...this.#queues.keys()]): void {
    for (const alias of aliases) if (this.#queues.has(alias)) void this.#tryStore(alias);
  }

  /** The aliases of the stores with waiting runs whose store is not shared. */
  localAliases(): string[] {
    return [...this.#queues].filter(([, queue]) => !queue[0]?.store.shared).map(([alias]) => alias);
  }

  /** Removes and returns the waiting runs of a store (of one task of it, if `taskId` is given). */
  drop(alias: string, taskId?: string): WaitingRun[] {
    const queue = this.#queues.get(alias);
    if (queue === undefined) return [];
    const dropped = taskId === undefined ? queue : queue.filter((run) => run.record.id === taskId);
    this.#remove(alias, new Set(dropped));
    return dropped;
  }

  /** Removes and returns every waiting run, and stops the timer (at shutdown). */
  clear(): WaitingRun[] {
    const all = [...this.#queues.values()].flat();
    this.#queues.clear();
    this.#perTask.clear();
    this.#size = 0;
    this.#armAt(Number.POSITIVE_INFINITY);
    return all;
  }

  /** Tries a store's waiting runs, in order; serialised per store (a call meanwhile tries again after). */
  async #tryStore(alias: string): Promise<void> {
    if (this.#trying.has(alias)) {
      this.#again.add(alias);
      return;
    }
    this.#trying.add(alias);
    try {
      do {
        this.#again.delete(alias);
        if (!this.#context.active()) break;
        await this.#tryOnce(alias);
      } while (this.#again.has(alias));
    } finally {
      this.#trying.delete(alias);
      this.#arm();
    }
  }

  /**
   * One pass over a store's queue: runs past their deadline are missed; the others are tried in order, all at
   * once (a shared store batches their claims into one transaction, in this order).
   */
  async #tryOnce(alias: string): Promise<void> {
    const queue = [...(this.#queues.get(alias) ?? [])];
    const now = Date.now();
    const done = new Set<WaitingRun>();
    const answers: Array<RunSlotAnswer | null | Promise<RunSlotAnswer | null>> = [];
    const tried: WaitingRun[] = [];
    for (const run of queue) {
      if (run.deadline !== null && now > run.deadline) {
        done.add(run);
        this.#context.expired(run);
        continue;
      }
      tried.push(run);
      answers.push(this.#context.tryStart(run));
    }
    // Settled before anything else changes the queue: each answer is its run's.
    this.#remove(alias, done);
    const settled = await Promise.all(answers);
    const ended = new Set<WaitingRun>();
    for (const [index, answer] of settled.entries()) {
      const run = tried[index] as WaitingRun;
      if (answer === true || answer === false) ended.add(run);
      else if (typeof answer === 'string') run.tag = answer;
    }
    this.#remove(alias, ended);
  }

  #remove(alias: string, runs: ReadonlySet<WaitingRun>): void {
    if (runs.size === 0) return;
    const queue = this.#queues.get(alias);
    if (queue === undefined) return;
    const kept = queue.filter((run) => !runs.has(run));
    this.#size -= queue.length - kept.length;
    for (const run of queue) if (runs.has(run)) this.#countRun(alias, run.record.id, -1);
    if (kept.length === 0) this.#queues.delete(alias);
    else this.#queues.set(alias, kept);
  }

  #countRun(alias: string, taskId: string, delta: number): void {
    let counts = this.#perTask.get(alias);
    if (counts === undefined) {
      counts = new Map();
      this.#perTask.set(alias, counts);
    }
    const count = (counts.get(taskId) ?? 0) + delta;
    if (count > 0) counts.set(taskId, count);
    else counts.delete(taskId);
    if (counts.size === 0) this.#perTask.delete(alias);
  }

  /**
   * Arms the timer at the earliest deadline of a waiting run (it is then missed), or a lease time from now if a
   * run waits in a shared store, whichever is sooner; stops it when nothing waits.
   */
  #arm(): void {
    let at = Number.POSITIVE_INFINITY;
    const now = Date.now();
    for (const queue of this.#queues.values())
      for (const run of queue) at = Math.min(at, this.#retryAt(run, now));
    this.#armAt(at);
  }

  /** When a run must be looked at again without news: past its deadline, or a lease time on in a shared store. */
  #retryAt(run: WaitingRun, now: number): number {
    const byLease = run.store.shared ? now + this.#context.leaseTimeMs : Number.POSITIVE_INFINITY;
    return run.deadline === null ? byLease : Math.min(run.deadline + 1, byLease);
  }

  #armAt(at: number): void {
    this.#timer?.clear();
    this.#timer = undefined;
    this.#timerAt = at;
    if (at === Number.POSITIVE_INFINITY) return;
    this.#timer = setLongTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Number.POSITIVE_INFINITY;
      this.retry();
    }, at - Date.now());
  }
}
