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
/**
 * The longest `flush` waits for a store's write: a store whose write hangs must not hang `getRuns`, `replayRun`,
 * `removeStore` or a shutdown without a timeout. A write in progress for longer than this is not waited for at all.
 */
const FLUSH_WAIT_MS = 5000;
/**
 * How often each store's records of removed tasks are pruned; and sooner, once a store took as many records as it
 * keeps of removed tasks, so that a flood of one-shot tasks cannot pile up an hour of records before the prune.
 */
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
  /** Epoch ms the write in progress began. */
  writeStartedAt: number;
  failures: number;
  lastPrune: number;
  /** Records the store took since it was last pruned. */
  sincePrune: number;
  /** Records dropped since the store last took a write: warned of once, when the first go, and summed up when it recovers. */
  dropped: number;
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

  /**
   * Writes every buffered record now (retrying nothing: a store that fails keeps its records for later). Waits
   * at most `FLUSH_WAIT_MS` for a store; never rejects.
   */
  async flush(): Promise<void> {
    await Promise.all([...this.#buffers.keys()].map((alias) => this.flushStore(alias)));
  }

  /**
   * Writes one store's buffered records now. Waits at most `FLUSH_WAIT_MS` (and not at all behind a write that
   * has already been in progress that long: the store hangs); the records stay buffered then. Never rejects.
   */
  async flushStore(alias: string): Promise<void> {
    const buffer = this.#buffers.get(alias);
    if (buffer === undefined) return;
    const deadline = Date.now() + FLUSH_WAIT_MS;
    while (buffer.writing !== undefined) {
      if (buffer.writeStartedAt + FLUSH_WAIT_MS <= Date.now()) return;
      if (!(await settlesBy(buffer.writing, deadline))) return;
    }
    if (buffer.records.length > 0) await settlesBy(this.#write(alias, buffer), deadline);
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
      buffer = {
        records: [],
        timer: undefined,
        writing: undefined,
        writeStartedAt: 0,
        failures: 0,
        lastPrune: 0,
        sincePrune: 0,
        dropped: 0,
      };
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
    buffer.writeStartedAt = Date.now();
    // A store that throws instead of rejecting is a failed write all the same, never an uncaught exception.
    const written = new Promise<void>((resolve) =>
      resolve(store.appendRuns(batch, this.#context.perTask)),
    ).then(
      () => {
        buffer.failures = 0;
        buffer.sincePrune += batch.length;
        if (buffer.dropped > 0) {
          this.#context.reports.log(
            'warn',
            { store: alias, dropped: buffer.dropped },
            `store '${alias}': writing run history works again; ${buffer.dropped} run history records were dropped while it failed`,
          );
          buffer.dropped = 0;
        }
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

  /**
   * Drops the oldest records beyond `MAX_BUFFERED`. Warns once when records start being dropped, not once per
   * record: a store down during a flood of runs would otherwise log a line per run.
   */
  #dropOldest(alias: string, buffer: Buffer): void {
    const dropped = buffer.records.length - MAX_BUFFERED;
    buffer.records.splice(0, dropped);
    if (buffer.dropped === 0) {
      this.#context.reports.log(
        'warn',
        { store: alias, kept: MAX_BUFFERED },
        `store '${alias}': run history records are being dropped while the store fails (the newest ${MAX_BUFFERED} are kept)`,
      );
    }
    buffer.dropped += dropped;
  }

  #maybePrune(alias: string, store: TaskStore, buffer: Buffer): void {
    const now = Date.now();
    if (now - buffer.lastPrune < PRUNE_EVERY_MS && buffer.sincePrune < REMOVED_TASK_RECORDS_MAX) return;
    buffer.lastPrune = now;
    buffer.sincePrune = 0;
    new Promise<number>((resolve) =>
      resolve(store.pruneRuns(now - REMOVED_TASK_RETENTION_MS, REMOVED_TASK_RECORDS_MAX)),
    ).catch((error: unknown) =>
      this.#context.reports.log('error', { err: error, store: alias }, 'pruning run history failed'),
    );
  }
}

/** True once `work` (which never rejects) settled, false if `deadline` (epoch ms) came first. */
function settlesBy(work: Promise<void>, deadline: number): Promise<boolean> {
  const delayMs = deadline - Date.now();
  if (delayMs <= 0) return Promise.resolve(false);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), delayMs);
    timer.unref();
  });
  return Promise.race([work.then(() => true), late]).finally(() => clearTimeout(timer));
}
