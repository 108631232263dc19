import { ValueError } from '../errors.js';
import { describeValue } from '../time.js';
import type { Execution, Executor, ExecutorContext } from './executor.js';

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

  /** Executes now, or after a place frees up; an attempt whose signal aborts while it waits never runs. */
  async execute(execution: Execution): Promise<unknown> {
    if (this.#active >= this.concurrency) await this.#waitForPlace(execution.signal);
    this.#active++;
    try {
      return await execution.invoke();
    } finally {
      this.#active--;
      const next = this.#queue.shift();
      if (next !== undefined) next();
      else if (this.#active === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
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
