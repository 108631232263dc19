/**
 * Lifecycle tasks: a generator function whose body up to the first `yield` is setup, each fire resumes it
 * once (`yield` evaluates to the run's context), and `return()` on removal or shutdown runs its `finally`.
 */
import type { RunContext } from './context.js';
import type { TaskFunction } from './store.js';

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
