/**
 * Internal to `FileStore` (stores/file.ts), not a public API: the queue of the store's operations. A read runs
 * on the document as it is on disk now; writes queued while one is in flight are applied together, in one
 * locked read-modify-write (one lock, one read, one write), so that a wake-up's run slots do not cost one fsync
 * each. Callers hear back only once their round is over (the lock released, the rename durable).
 */

/**
 * What an operation may change: it sets `dirty` if it changed the state, which then is written. An operation whose
 * change other processes need not hear of (run history, run slots, a request taken) also sets `quiet`.
 */
export interface Change {
  dirty: boolean;
  /** True if this operation's change, if any, need not wake other processes' watches. */
  quiet: boolean;
}

/** How the queue reaches the state (the document). */
export interface QueueRounds<S> {
  /** The state as it is now, for a read. */
  read(): Promise<S>;
  /**
   * One locked read-modify-write: calls `apply` on the state as it is now, and writes the state if `apply` says
   * it changed it (`dirty`); `quiet` when every operation that changed it was quiet. Resolves once the write is
   * durable and the lock released.
   */
  write(apply: (state: S) => Change): Promise<void>;
  /** Told that a round failed as a whole (the state could not be read, locked or written). */
  failed(): void;
}

/** A queued operation: a read, or a write that may share its round with the writes queued with it. */
interface Operation<S> {
  write: boolean;
  /** Does the work on the state; a write sets `change.dirty` if it changed it. */
  run(state: S, change: Change): unknown;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** The operations of one store instance, run one round at a time. */
export class OperationQueue<S> {
  readonly #rounds: QueueRounds<S>;
  #queue: Operation<S>[] = [];
  /** The running drain of `#queue`, if any. */
  #draining: Promise<void> | null = null;

  constructor(rounds: QueueRounds<S>) {
    this.#rounds = rounds;
  }

  /** Resolves once every operation queued so far is done (null when none is queued). */
  get idle(): Promise<void> | null {
    return this.#draining;
  }

  /** Queues an operation; reads run on the current state, consecutive writes share one locked round. */
  enqueue<T>(write: boolean, run: (state: S, change: Change) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ write, run, resolve: resolve as (value: unknown) => void, reject });
      this.#draining ??= this.#drain();
    });
  }

  /** Runs queued operations until none is left; `#draining` is cleared in the same tick the queue is seen empty. */
  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const head = this.#queue[0] as Operation<S>;
        const count = head.write ? countLeading(this.#queue, (operation) => operation.write) : 1;
        const batch = this.#queue.splice(0, count);
        try {
          if (head.write) {
            let outcomes: Outcome[] = [];
            await this.#rounds.write((state) => {
              const round = { dirty: false, quiet: true };
              outcomes = batch.map((operation) => {
                const change = { dirty: false, quiet: false };
                const outcome = attempt(() => operation.run(state, change));
                if (change.dirty) {
                  round.dirty = true;
                  if (!change.quiet) round.quiet = false;
                }
                return outcome;
              });
              return round;
            });
            // Settled only now, after the round: "done" never means "still locked".
            for (const [index, outcome] of outcomes.entries()) settle(batch[index] as Operation<S>, outcome);
          } else {
            const state = await this.#rounds.read();
            for (const operation of batch) {
              const outcome = attempt(() => operation.run(state, { dirty: false, quiet: false }));
              settle(operation, outcome);
            }
          }
        } catch (error) {
          this.#rounds.failed();
          for (const operation of batch) operation.reject(error);
        }
      }
    } finally {
      this.#draining = null;
    }
  }
}

function countLeading<T>(items: readonly T[], test: (item: T) => boolean): number {
  let count = 0;
  while (count < items.length && test(items[count] as T)) count++;
  return count;
}

function attempt(work: () => unknown): Outcome {
  try {
    return { ok: true, value: work() };
  } catch (error) {
    return { ok: false, error };
  }
}

function settle(operation: Pick<Operation<unknown>, 'resolve' | 'reject'>, outcome: Outcome): void {
  if (outcome.ok) operation.resolve(outcome.value);
  else operation.reject(outcome.error);
}
