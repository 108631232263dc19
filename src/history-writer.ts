/**
 * Writes run history off the dispatch path: a run's end (or a missed or skipped run) becomes a record in a
 * per-store buffer, and the buffer goes to its store in one `appendRuns` call a moment later. A store that
 * fails keeps its records buffered (bounded) and is tried again with backoff; records of removed tasks are
 * pruned at most once an hour per store.
 */
import {
  REMOVED_TASK_RECORDS_MAX,
  REMOVED_TASK_RETENTION_MS,
  type RunOutcome,
  recordError,
  recordResult,
  type StoredRunRecord,
} from './history.js';
import type { Reports } from './reports.js';
import type { TaskRecord, TaskStore } from './store.js';

/** A buffer is written this long after its first record... */
const FLUSH_DELAY_MS = 200;
/** ...or as soon as the dispatch in progress yields, once it holds this many. */
const FLUSH_SIZE = 1000;
/** Records kept per store while its writes fail; older ones are dropped (and the drop logged). */
const MAX_BUFFERED = 10_000;
/** The longest wait before a failed store is tried again. */
const MAX_RETRY_DELAY_MS = 30_000;
/** How often each store's records of removed tasks are pruned. */
const PRUNE_EVERY_MS = 3_600_000;

/** How a run ended, as `executeRun` tells it. */
export interface RunEnd {
  outcome: Extract<RunOutcome, 'success' | 'error' | 'timeout' | 'aborted'>;
  /** Attempts made. */
  attempts: number;
  /** The result, for `success`. */
  result?: unknown;
  /** The last attempt's error, for the others. */
  error?: unknown;
}

/** A run that started, as the run tracker tells it. */
export interface StartedRun {
  runId: string;
  record: TaskRecord;
  scheduledRunTime: Date;
  /** Epoch ms. */
  startedAt: number;
  replayOf?: string;
}

/** What the writer needs from its scheduler. */
export interface HistoryWriterContext {
  schedulerId: string;
  /** Records kept per task. */
  perTask: number;
  reports: Reports;
  /** The store of an alias, if it is still there. */
  store(alias: string): TaskStore | undefined;
}

/** A store's buffered records and its retry state. */
interface Buffer {
  records: StoredRunRecord[];
  timer: NodeJS.Timeout | undefined;
  /** Settles when the write in progress (if any) is done. */
  writing: Promise<void> | undefined;
  failures: number;
  lastPrune: number;
}

/** Buffers run records per store and writes them in batches. */
export class HistoryWriter {
  readonly #context: HistoryWriterContext;
  readonly #buffers = new Map<string, Buffer>();

  constructor(context: HistoryWriterContext) {
    this.#context = context;
  }

  /** Records a run that started and ended. */
  recordRun(alias: string, run: StartedRun, end: RunEnd): void {
    const endedAt = Date.now();
    const record: StoredRunRecord = {
      runId: run.runId,
      taskId: run.record.id,
      taskName: run.record.name,
      scheduledRunTime: run.scheduledRunTime.getTime(),
      startedAt: run.startedAt,
      endedAt,
      durationMs: endedAt - run.startedAt,
      outcome: end.outcome,
      attempts: end.attempts,
      args: run.record.args,
      schedulerId: this.#context.schedulerId,
    };
    if (end.outcome === 'success') Object.assign(record, recordResult(end.result));
    else record.error = recordError(end.error);
    if (run.replayOf !== undefined) record.replayOf = run.replayOf;
    this.#add(alias, record);
  }

  /** Records runs that never started: `missed` (with how many fire times) or `skipped` at `maxInstances`. */
  recordNotRun(
    alias: string,
    runId: string,
    record: TaskRecord,
    scheduledRunTime: Date,
    outcome: 'missed' | 'skipped',
    missedCount?: number,
    replayOf?: string,
  ): void {
    const stored: StoredRunRecord = {
      runId,
      taskId: record.id,
      taskName: record.name,
      scheduledRunTime: scheduledRunTime.getTime(),
      startedAt: null,
      endedAt: Date.now(),
      durationMs: null,
      outcome,
      attempts: 0,
      args: record.args,
      schedulerId: this.#context.schedulerId,
    };
    if (missedCount !== undefined) stored.missedCount = missedCount;
    if (replayOf !== undefined) stored.replayOf = replayOf;
    this.#add(alias, stored);
  }

  /** Writes every buffered record now (retrying nothing: a store that fails keeps its records for later). */
  async flush(): Promise<void> {
    await Promise.all([...this.#buffers.keys()].map((alias) => this.flushStore(alias)));
  }

  /** Writes one store's buffered records now. */
  async flushStore(alias: string): Promise<void> {
    const buffer = this.#buffers.get(alias);
    if (buffer === undefined) return;
    while (buffer.writing !== undefined) await buffer.writing;
    if (buffer.records.length > 0) await this.#write(alias, buffer);
  }

  /** Stops every timer and forgets one store's records (the store was removed) or all. */
  discard(alias?: string): void {
    for (const [key, buffer] of this.#buffers) {
      if (alias !== undefined && key !== alias) continue;
      clearTimeout(buffer.timer);
      this.#buffers.delete(key);
    }
  }

  #add(alias: string, record: StoredRunRecord): void {
    let buffer = this.#buffers.get(alias);
    if (buffer === undefined) {
      buffer = { records: [], timer: undefined, writing: undefined, failures: 0, lastPrune: 0 };
      this.#buffers.set(alias, buffer);
    }
    buffer.records.push(record);
    if (buffer.records.length > MAX_BUFFERED) this.#dropOldest(alias, buffer);
    if (buffer.writing !== undefined) return;
    if (buffer.records.length === FLUSH_SIZE && buffer.failures === 0) {
      // Soon, but not now: a burst of runs being started must not wait for a store write.
      clearTimeout(buffer.timer);
      this.#arm(alias, buffer, 0);
    } else if (buffer.timer === undefined) {
      this.#arm(alias, buffer, FLUSH_DELAY_MS);
    }
  }

  #arm(alias: string, buffer: Buffer, delayMs: number): void {
    buffer.timer = setTimeout(() => {
      buffer.timer = undefined;
      if (buffer.writing === undefined && buffer.records.length > 0) void this.#write(alias, buffer);
    }, delayMs);
    // History never keeps a process alive by itself; shutdown flushes what is left.
    buffer.timer.unref();
  }

  /** Writes the buffer's records in one call; never rejects. */
  #write(alias: string, buffer: Buffer): Promise<void> {
    const store = this.#context.store(alias);
    if (store === undefined) {
      buffer.records = [];
      return Promise.resolve();
    }
    const batch = buffer.records;
    buffer.records = [];
    clearTimeout(buffer.timer);
    buffer.timer = undefined;
    // A store that throws instead of rejecting is a failed write all the same, never an uncaught exception.
    const written = new Promise<void>((resolve) =>
      resolve(store.appendRuns(batch, this.#context.perTask)),
    ).then(
      () => {
        buffer.failures = 0;
        this.#maybePrune(alias, store, buffer);
      },
      (error: unknown) => {
        buffer.failures++;
        this.#context.reports.log(
          'error',
          { err: error, store: alias, records: batch.length },
          `store '${alias}': writing run history failed; retrying with backoff`,
        );
        buffer.records = batch.concat(buffer.records);
        if (buffer.records.length > MAX_BUFFERED) this.#dropOldest(alias, buffer);
      },
    );
    buffer.writing = written.finally(() => {
      buffer.writing = undefined;
      if (buffer.records.length === 0 || buffer.timer !== undefined) return;
      const delay =
        buffer.failures === 0
          ? FLUSH_DELAY_MS
          : Math.min(MAX_RETRY_DELAY_MS, FLUSH_DELAY_MS * 2 ** buffer.failures);
      if (this.#buffers.get(alias) === buffer) this.#arm(alias, buffer, delay);
    });
    return buffer.writing;
  }

  #dropOldest(alias: string, buffer: Buffer): void {
    const dropped = buffer.records.length - MAX_BUFFERED;
    buffer.records.splice(0, dropped);
    this.#context.reports.log(
      'warn',
      { store: alias, dropped },
      `store '${alias}': ${dropped} run history records dropped while the store fails`,
    );
  }

  #maybePrune(alias: string, store: TaskStore, buffer: Buffer): void {
    const now = Date.now();
    if (now - buffer.lastPrune < PRUNE_EVERY_MS) return;
    buffer.lastPrune = now;
    new Promise<number>((resolve) =>
      resolve(store.pruneRuns(now - REMOVED_TASK_RETENTION_MS, REMOVED_TASK_RECORDS_MAX)),
    ).catch((error: unknown) =>
      this.#context.reports.log('error', { err: error, store: alias }, 'pruning run history failed'),
    );
  }
}
