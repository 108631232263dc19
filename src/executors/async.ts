import { ValueError } from '../errors.js';
import { describeValue } from '../time.js';
import { type Execution, type Executor, type ExecutorContext, isPromiseLike } from './executor.js';

/** Options of `AsyncExecutor`. */
export interface AsyncExecutorOptions {
  /** Attempts executing at once; more wait in order. @default Infinity (unlimited) */
  concurrency?: number;
}

/** Runs tasks in the event loop of this process: right for I/O-bound work. */
export class AsyncExecutor implements Executor {
  /** The most attempts executing at once. */
  readonly concurrency: number;
  /** Attempts executing now. */
  #active = 0;
  /** Attempts waiting for a free place, oldest first; each is started by calling it. */
  #queue: Array<() => void> = [];
  /** Settles when the last active attempt ends (for `shutdown({ wait })`). */
  #idle: Array<() => void> = [];

  /** @example new AsyncExecutor({ concurrency: 10 }) */
  constructor(options: AsyncExecutorOptions = {}) {
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

  async start(_context: ExecutorContext): Promise<void> {}

  async shutdown({ wait }: { wait: boolean }): Promise<void> {
    if (!wait || (this.#active === 0 && this.#queue.length === 0)) return;
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

  /** Runs an attempt in a place taken for it, and frees the place when the attempt returns or settles. */
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
    return Promise.resolve(result).then(
      (value) => {
        this.#leave();
        return value;
      },
      (error: unknown) => {
        this.#leave();
        throw error;
      },
    );
  }

  /** Frees a place: hands it to the oldest waiting attempt, or tells `shutdown({ wait })` once all is done. */
  #leave(): void {
    const next = this.#queue.shift();
    if (next !== undefined) {
      next();
      return;
    }
    this.#active--;
    if (this.#active === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }

  /** Waits in the queue; leaves it (rejecting with the abort reason) if `signal` aborts first. */
  #waitForPlace(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    return new Promise<void>((resolve, reject) => {
      const start = () => {
        signal.removeEventListener('abort', leave);
        resolve();
      };
      const leave = () => {
        const index = this.#queue.indexOf(start);
        if (index >= 0) this.#queue.splice(index, 1);
        if (this.#active === 0 && this.#queue.length === 0) for (const done of this.#idle.splice(0)) done();
        reject(signal.reason);
      };
      signal.addEventListener('abort', leave, { once: true });
      this.#queue.push(start);
    });
  }
}
