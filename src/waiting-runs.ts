/**
 * Runs waiting for a tag (API.md "Task composition", tag concurrency limits): a run whose tag is at its limit is
 * not dropped; it waits here, filed per store under the tag it waits for, first come first tried, and is tried
 * again when a slot may have freed: a run of the tag ended in this process (only that tag's queue is tried, and
 * only until a run finds it full again, so a long queue costs nothing per freed slot), another process freed one
 * (the store's watch), a limit changed, the scheduler resumed. A run whose lateness passes its misfire grace while
 * it waits is reported missed, on time, by a timer (also while the scheduler is paused); in a shared store the
 * same timer also tries again once a lease time has passed, by when the slots of a scheduler that died expired.
 */
import { type LongTimeout, setLongTimeout } from './long-timeout.js';
import type { RunOrigin } from './runs.js';
import type { RunSlotAnswer, TaskRecord, TaskStore } from './store.js';

/** A run waiting for a free slot of a tag. */
export interface WaitingRun {
  alias: string;
  store: TaskStore;
  /** The task as it was when the run began waiting, or as this scheduler changed it since. */
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
   * Tries to start a waiting run: `true` started, `false` not run (skipped at `maxInstances`, or its task is
   * gone), a tag: it waits on (for that tag), null: it could not be tried (a store failure, reported): it waits on.
   * Synchronous for a store that is not shared.
   */
  tryStart(run: WaitingRun): RunSlotAnswer | null | Promise<RunSlotAnswer | null>;
  /** The run's lateness passed its misfire grace while it waited: report it missed. */
  expired(run: WaitingRun): void;
  /** True while runs may start (the scheduler is running and not paused). */
  active(): boolean;
  /** How long a dead scheduler's run slots outlive it in a shared store. */
  leaseTimeMs: number;
}

/** The queue of runs whose task's tags changed while they waited (no tag is empty): tried at the next try. */
const UNFILED = '';

/** The waiting runs of one store, by the tag each waits for, each queue in the order the runs began waiting. */
type StoreQueues = Map<string, WaitingRun[]>;

/** Which tags' queues a try looks at: some, or all. */
type TagSelection = ReadonlySet<string> | 'all';

/** The waiting runs of one scheduler, by store alias. */
export class WaitingRuns {
  readonly #context: WaitingRunsContext;
  readonly #stores = new Map<string, StoreQueues>();
  /** How many runs wait, over every store. */
  #size = 0;
  /** How many runs of each task wait, by store alias and task id. */
  readonly #perTask = new Map<string, Map<string, number>>();
  /** The stores whose runs are being tried now, and the tags to try once more after. */
  readonly #trying = new Map<string, Set<string> | 'all' | null>();
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

  /** Adds a run at the end of its tag's queue. */
  add(run: WaitingRun): void {
    this.#file(run);
    const at = this.#retryAt(run, Date.now());
    if (at < this.#timerAt) this.#armAt(at);
  }

  /**
   * Tries the waiting runs of these stores again (every store's when `aliases` is omitted): those waiting for one
   * of `tags`, or all.
   */
  retry(aliases: Iterable<string> = [...this.#stores.keys()], tags: TagSelection = 'all'): void {
    for (const alias of aliases) if (this.#stores.has(alias)) void this.#tryStore(alias, tags);
  }

  /** The aliases of the stores with waiting runs whose store is not shared. */
  localAliases(): string[] {
    const aliases: string[] = [];
    for (const [alias, queues] of this.#stores) if (!firstRun(queues)?.store.shared) aliases.push(alias);
    return aliases;
  }

  /** Removes and returns the waiting runs of a store (of one task of it, if `taskId` is given). */
  drop(alias: string, taskId?: string): WaitingRun[] {
    const queues = this.#stores.get(alias);
    if (queues === undefined) return [];
    const dropped: WaitingRun[] = [];
    for (const [tag, queue] of queues) {
      const kept: WaitingRun[] = [];
      for (const run of queue) (taskId === undefined || run.record.id === taskId ? dropped : kept).push(run);
      this.#setQueue(alias, queues, tag, kept);
    }
    for (const run of dropped) this.#uncount(run);
    return dropped;
  }

  /**
   * A task of a store only this scheduler uses changed: its waiting runs take its new version (tags, args…) and
   * are filed again. Returns the runs of a task that is now paused, taken out: they will not run.
   */
  update(alias: string, record: TaskRecord): WaitingRun[] {
    if (this.count(alias, record.id) === 0) return [];
    const runs = this.drop(alias, record.id);
    if (record.nextRunTime === null) return runs;
    for (const run of runs) {
      run.record = record;
      // No longer tagged so: filed under no tag (''), tried at once, and filed again under the tag it then waits for.
      if (!record.tags.includes(run.tag)) run.tag = UNFILED;
      this.#file(run);
    }
    this.retry([alias]);
    return [];
  }

  /** Removes and returns every waiting run, and stops the timer (at shutdown). */
  clear(): WaitingRun[] {
    const all: WaitingRun[] = [];
    // One by one, not spread: a flood can leave more waiting runs than a call's arguments may number.
    for (const queues of this.#stores.values()) {
      for (const queue of queues.values()) for (const run of queue) all.push(run);
    }
    this.#stores.clear();
    this.#perTask.clear();
    this.#size = 0;
    this.#armAt(Number.POSITIVE_INFINITY);
    return all;
  }

  /** Tries a store's waiting runs; serialised per store (tags asked for meanwhile are tried right after). */
  async #tryStore(alias: string, tags: TagSelection): Promise<void> {
    if (this.#trying.has(alias)) {
      this.#trying.set(alias, mergeTags(this.#trying.get(alias) ?? null, tags));
      return;
    }
    this.#trying.set(alias, null);
    let next: TagSelection | null = tags;
    try {
      while (next !== null) {
        await this.#tryOnce(alias, next);
        next = this.#trying.get(alias) ?? null;
        this.#trying.set(alias, null);
      }
    } finally {
      this.#trying.delete(alias);
      // Runs only left the queues, so an armed timer fires no later than needed (at worst early, for a try that
      // finds nothing): re-armed only when it is not, so that each freed slot costs no pass over every run.
      if (this.#size === 0) this.#armAt(Number.POSITIVE_INFINITY);
      else if (this.#timer === undefined) this.#arm();
    }
  }

  /**
   * One try of a store's runs waiting for `tags`: those past their deadline are missed (also while paused); the
   * others are tried in order. In a store only this scheduler uses the answers come at once, and a tag's queue is
   * tried only until a run finds the tag full again; a shared store's runs are tried all at once (their claims
   * batched into one transaction, in this order).
   */
  async #tryOnce(alias: string, tags: TagSelection): Promise<void> {
    const queues = this.#stores.get(alias);
    if (queues === undefined) return;
    const now = Date.now();
    if (tags === 'all' || !this.#context.active()) this.#expire(alias, queues, now);
    if (!this.#context.active()) return;
    const selected = tags === 'all' ? [...queues.keys()] : [...tags].filter((tag) => queues.has(tag));
    if (firstRun(queues)?.store.shared) await this.#tryShared(alias, queues, selected);
    else for (const tag of selected) this.#tryLocal(alias, queues, tag, now);
  }

  /** Tries the head of a tag's queue of a local store until a run finds the tag full (the rest would, too). */
  #tryLocal(alias: string, queues: StoreQueues, tag: string, now: number): void {
    for (;;) {
      const queue = queues.get(tag);
      const run = queue?.[0];
      if (queue === undefined || run === undefined) return;
      if (run.deadline !== null && now > run.deadline) {
        this.#take(alias, queues, tag, queue);
        this.#context.expired(run);
        continue;
      }
      const answer = this.#context.tryStart(run);
      if (answer === null || answer instanceof Promise) return;
      if (answer === tag) return;
      this.#take(alias, queues, tag, queue);
      if (typeof answer === 'string') {
        run.tag = answer;
        this.#file(run);
      }
    }
  }

  /** Tries every run of the selected tags' queues of a shared store at once. */
  async #tryShared(alias: string, queues: StoreQueues, tags: readonly string[]): Promise<void> {
    const tried = tags.flatMap((tag) => queues.get(tag) ?? []);
    const answers = await Promise.all(tried.map((run) => this.#context.tryStart(run)));
    const moved = new Set<WaitingRun>();
    for (const [index, answer] of answers.entries()) {
      const run = tried[index] as WaitingRun;
      if (answer === true || answer === false || (typeof answer === 'string' && answer !== run.tag)) {
        moved.add(run);
      }
    }
    if (moved.size === 0) return;
    for (const [tag, queue] of [...queues]) {
      this.#setQueue(
        alias,
        queues,
        tag,
        queue.filter((run) => !moved.has(run)),
      );
    }
    for (const [index, answer] of answers.entries()) {
      const run = tried[index] as WaitingRun;
      if (!moved.has(run)) continue;
      this.#uncount(run);
      if (typeof answer === 'string') {
        run.tag = answer;
        this.#file(run);
      }
    }
  }

  /** Reports missed, and takes out, the runs of a store past their deadline. */
  #expire(alias: string, queues: StoreQueues, now: number): void {
    for (const [tag, queue] of [...queues]) {
      if (!queue.some((run) => run.deadline !== null && now > run.deadline)) continue;
      const kept: WaitingRun[] = [];
      for (const run of queue) {
        if (run.deadline !== null && now > run.deadline) {
          this.#uncount(run);
          this.#context.expired(run);
        } else {
          kept.push(run);
        }
      }
      this.#setQueue(alias, queues, tag, kept);
    }
  }

  /** Files a run at the end of its tag's queue, and counts it. */
  #file(run: WaitingRun): void {
    let queues = this.#stores.get(run.alias);
    if (queues === undefined) {
      queues = new Map();
      this.#stores.set(run.alias, queues);
    }
    let queue = queues.get(run.tag);
    if (queue === undefined) {
      queue = [];
      queues.set(run.tag, queue);
    }
    queue.push(run);
    this.#size++;
    this.#countRun(run.alias, run.record.id, 1);
  }

  /** Takes the head of a tag's queue out, uncounted. */
  #take(alias: string, queues: StoreQueues, tag: string, queue: WaitingRun[]): void {
    const run = queue.shift() as WaitingRun;
    this.#uncount(run);
    if (queue.length === 0) this.#setQueue(alias, queues, tag, queue);
  }

  #uncount(run: WaitingRun): void {
    this.#size--;
    this.#countRun(run.alias, run.record.id, -1);
  }

  /** Sets a tag's queue, removing it (and the store's entry) when empty. */
  #setQueue(alias: string, queues: StoreQueues, tag: string, queue: WaitingRun[]): void {
    if (queue.length > 0) queues.set(tag, queue);
    else queues.delete(tag);
    if (queues.size === 0) this.#stores.delete(alias);
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
   * run waits in a shared store while the scheduler may start runs, whichever is sooner; stops it when nothing
   * waits.
   */
  #arm(): void {
    let at = Number.POSITIVE_INFINITY;
    const now = Date.now();
    for (const queues of this.#stores.values()) {
      for (const queue of queues.values())
        for (const run of queue) at = Math.min(at, this.#retryAt(run, now));
    }
    this.#armAt(at);
  }

  /** When a run must be looked at again without news: past its deadline, or a lease time on in a shared store. */
  #retryAt(run: WaitingRun, now: number): number {
    const byLease =
      run.store.shared && this.#context.active() ? now + this.#context.leaseTimeMs : Number.POSITIVE_INFINITY;
    return run.deadline === null ? byLease : Math.min(Math.max(run.deadline + 1, now), byLease);
  }

  #armAt(at: number): void {
    this.#timer?.clear();
    this.#timer = undefined;
    this.#timerAt = at;
    if (at === Number.POSITIVE_INFINITY) return;
    this.#timer = setLongTimeout(
      () => {
        this.#timer = undefined;
        this.#timerAt = Number.POSITIVE_INFINITY;
        this.retry();
      },
      Math.max(at - Date.now(), 1),
    );
  }
}

/** Any run of a store's queues (they all share the store). */
function firstRun(queues: StoreQueues): WaitingRun | undefined {
  for (const queue of queues.values()) if (queue[0] !== undefined) return queue[0];
  return undefined;
}

/** The union of two selections of tags to try (null: none yet). */
function mergeTags(pending: Set<string> | 'all' | null, tags: TagSelection): Set<string> | 'all' {
  if (pending === 'all' || tags === 'all') return 'all';
  const merged = new Set(pending ?? []);
  for (const tag of tags) merged.add(tag);
  return merged;
}
