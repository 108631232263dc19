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
  /** Attempts waiting for a free place, oldest first. */
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

  async execute(execution: Execution): Promise<unknown> {
    if (this.#active >= this.concurrency) await new Promise<void>((resolve) => this.#queue.push(resolve));
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
}
