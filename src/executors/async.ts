import { ValueError } from '../errors.js';
import { describeValue, rejectUnknownKeys } from '../validate.js';
import { type Execution, type Executor, type ExecutorContext, isPromiseLike, onAbort } from './executor.js';

/** Options of `AsyncExecutor`. */
export interface AsyncExecutorOptions {
  /** Attempts executing at once; more wait in order. @default Infinity (unlimited) */
  concurrency?: number;
}

const OPTION_KEYS: ReadonlySet<string> = new Set(['concurrency']);

/** The async attempts holding a place under one signal. */
interface Holders {
  /** How many; set to 0 when the signal aborts (their places are freed then, and never again). */
  count: number;
}

/**
 * Runs tasks in the event loop of this process: right for I/O-bound work. An attempt holds its place until it
 * settles or its signal aborts (a timeout, a forced shutdown): an abandoned attempt frees its place at once,
 * even if its function never settles.
 */
export class AsyncExecutor implements Executor {
  /** The most attempts executing at once. */
  readonly concurrency: number;
  /** Attempts holding a place now. */
  #active = 0;
  /**
   * Attempts waiting for a free place, oldest first; each is started by calling it, which returns false for an
   * attempt that stopped waiting (its signal aborted), left in the queue rather than searched for.
   */
  #queue: Array<() => boolean> = [];
  /** Index of the oldest entry of `#queue` (entries before it were taken; `shift()` is O(n) on long arrays). */
  #head = 0;
  /** Attempts in `#queue` still waiting. */
  #waiting = 0;
  /** Settles when the last active attempt ends (for `shutdown({ wait })`). */
  #idle: Array<() => void> = [];
  /** Async attempts holding a place, by their signal. */
  readonly #holders = new WeakMap<AbortSignal, Holders>();

  /** @example new AsyncExecutor({ concurrency: 10 }) */
  constructor(options: AsyncExecutorOptions = {}) {
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new ValueError(`AsyncExecutor: options must be an object, got ${describeValue(options)}`);
    }
    rejectUnknownKeys(options, OPTION_KEYS, 'AsyncExecutor');
    const concurrency = options.concurrency ?? Number.POSITIVE_INFINITY;
    if (
      typeof concurrency !== 'number' ||
      !(concurrency >= 1) ||
      (Number.isFinite(concurrency) && !Number.isInteger(concurrency))
    ) {
      throw new ValueError(
        `AsyncExecutor: concurrency must be an integer of at least 1 or Infinity, got ${describeValue(options.concurrency)}`,
      );
    }
    this.concurrency = concurrency;
  }

  /** Nothing to prepare: attempts run in this event loop. */
  async start(_context: ExecutorContext): Promise<void> {}

  /** With `wait`, resolves once every attempt has settled or been abandoned (its signal aborted). */
  async shutdown({ wait }: { wait: boolean }): Promise<void> {
    if (!wait || (this.#active === 0 && this.#waiting === 0)) return;
    await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  /**
   * Executes now if a place is free (calling the function before returning, so a sync result comes back as
   * is), or once a place is handed over to it; an attempt whose signal aborts while it waits never runs.
   */
  execute(execution: Execution): unknown {
    if (this.#active >= this.concurrency) {
      return this.#waitForPlace(execution.signal).then(() => this.#run(execution));
    }
    this.#active++;
    return this.#run(execution);
  }

  /**
   * Runs an attempt in a place taken for it, and frees the place when the attempt returns or throws; an async
   * attempt's place is freed by `#hold`.
   */
  #run(execution: Execution): unknown {
    let result: unknown;
    let async: boolean;
    try {
      result = execution.invoke();
      async = isPromiseLike(result);
    } catch (error) {
      this.#leave();
      throw error;
    }
    if (!async) {
      this.#leave();
      return result;
    }
    return this.#hold(Promise.resolve(result), execution.signal);
  }

  /**
   * Keeps the place of an async attempt until `work` settles or `signal` aborts, whichever comes first, and
   * frees it exactly once. Settles like `work`.
   */
  #hold<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
    if (signal.aborted) {
      this.#leave();
      return work;
    }
    const holders = this.#holdersOf(signal);
    holders.count++;
    return work.then(
      (value) => {
        this.#settled(holders);
        return value;
      },
      (error: unknown) => {
        this.#settled(holders);
        throw error;
      },
    );
  }

  /**
   * The async attempts holding a place under `signal`, watched by one 'abort' listener that the first of them
   * adds and that stays until the signal aborts (or is collected with it): however many attempts share a signal,
   * and however many come and go, each costs a count, never a listener.
   */
  #holdersOf(signal: AbortSignal): Holders {
    let holders = this.#holders.get(signal);
    if (holders === undefined) {
      const created: Holders = { count: 0 };
      holders = created;
      this.#holders.set(signal, created);
      signal.addEventListener('abort', () => this.#abandon(signal, created), { once: true });
    }
    return holders;
  }

  /** An attempt settled: frees its place, unless its signal aborted first (which freed it already). */
  #settled(holders: Holders): void {
    if (holders.count === 0) return;
    holders.count--;
    this.#leave();
  }

  /** `signal` aborted: frees the places of its attempts at once, though their functions may never settle. */
  #abandon(signal: AbortSignal, holders: Holders): void {
    this.#holders.delete(signal);
    let places = holders.count;
    holders.count = 0;
    while (places-- > 0) this.#leave();
  }

  /** Frees a place: hands it to the oldest waiting attempt, or tells `shutdown({ wait })` once all is done. */
  #leave(): void {
    for (let next = this.#takeNext(); next !== undefined; next = this.#takeNext()) {
      if (next()) return;
    }
    this.#active--;
    this.#notifyIdle();
  }

  /** Takes the oldest entry of the queue; drops the taken ones from the array once they are most of it. */
  #takeNext(): (() => boolean) | undefined {
    if (this.#head === this.#queue.length) return undefined;
    const next = this.#queue[this.#head++];
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return next;
  }

  /** Resolves the waits of `shutdown({ wait })` if nothing holds or waits for a place. */
  #notifyIdle(): void {
    if (this.#active === 0 && this.#waiting === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }

  /**
   * Waits in the queue; stops waiting (rejecting with the abort reason) when `signal` aborts, or when a place
   * is handed over after it aborted but before its own abort listener ran (one shutdown signal aborting many).
   */
  #waitForPlace(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    return new Promise<void>((resolve, reject) => {
      let waiting = true;
      const giveUp = () => {
        if (!waiting) return;
        waiting = false;
        this.#waiting--;
        this.#notifyIdle();
        reject(signal.reason);
      };
      const unsubscribe = onAbort(signal, giveUp);
      this.#waiting++;
      this.#queue.push(() => {
        if (signal.aborted) giveUp();
        if (!waiting) return false;
        waiting = false;
        this.#waiting--;
        unsubscribe();
        resolve();
        return true;
      });
    });
  }
}
