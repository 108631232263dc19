/**
 * Internal to kairos' shared stores (`SQLiteStore`, `PostgresStore`), not a public API: the batching of run-slot
 * changes. A burst of runs claims (and later frees) thousands of slots in one tick; each change on its own would
 * cost a transaction (SQLite) or a round trip (PostgreSQL), so the changes made in one tick are applied together,
 * in call order, and each caller hears back once the batch has committed.
 */
import type { RunSlotAnswer, RunSlotClaim } from '../../src/store.js';

/** A run-slot change: a claim, or the release of a slot. */
export type SlotOp = { claim: RunSlotClaim; runId?: undefined } | { claim?: undefined; runId: string };

/** A queued change and its caller. */
interface SlotEntry {
  op: SlotOp;
  resolve: (answer: RunSlotAnswer) => void;
  reject: (error: unknown) => void;
}

/**
 * Applies a batch of changes in call order, in one transaction; a claim's result is its `RunSlotAnswer`, a
 * release's whether there was a slot. May answer synchronously (SQLite when the lock is free).
 */
export type ApplySlotOps = (ops: readonly SlotOp[]) => RunSlotAnswer[] | Promise<RunSlotAnswer[]>;

/** The queue of run-slot changes of one store instance. */
export class SlotBatcher {
  readonly #apply: ApplySlotOps;
  /** Changes waiting for the next batch. */
  #queued: SlotEntry[] = [];
  /** True from the moment a batch is due (queued microtask) until its transaction settled. */
  #pending = false;

  constructor(apply: ApplySlotOps) {
    this.#apply = apply;
  }

  /**
   * Queues a change; the changes made in one tick run in call order in one batch. While a batch is applied, later
   * changes gather into the next batch, which runs after it: call order is kept.
   */
  enqueue(op: SlotOp): Promise<RunSlotAnswer> {
    return new Promise<RunSlotAnswer>((resolve, reject) => {
      this.#queued.push({ op, resolve, reject });
      if (this.#pending) return;
      this.#pending = true;
      queueMicrotask(() => this.#flush());
    });
  }

  /** Applies the queued changes; runs the next batch when this one has settled. */
  #flush(): void {
    const batch = this.#queued.splice(0);
    let outcome: RunSlotAnswer[] | Promise<RunSlotAnswer[]>;
    try {
      outcome = this.#apply(batch.map((entry) => entry.op));
    } catch (error) {
      this.#settle(batch, error, null);
      return;
    }
    if (!(outcome instanceof Promise)) {
      this.#settle(batch, null, outcome);
      return;
    }
    outcome.then(
      (results) => this.#settle(batch, null, results),
      (error: unknown) => this.#settle(batch, error, null),
    );
  }

  /** Answers a batch's callers, then starts the batch that gathered meanwhile, if any. */
  #settle(batch: readonly SlotEntry[], error: unknown, results: readonly RunSlotAnswer[] | null): void {
    for (const [index, entry] of batch.entries()) {
      if (results === null) entry.reject(error);
      else entry.resolve(results[index] as RunSlotAnswer);
    }
    if (this.#queued.length > 0) queueMicrotask(() => this.#flush());
    else this.#pending = false;
  }
}
