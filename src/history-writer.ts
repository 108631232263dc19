/**
 * Writes run history off the dispatch path: a run's end (or a missed or skipped run) becomes a record in a
 * per-store buffer, and the buffer goes to its store in one `appendRuns` call a moment later. A store that
 * fails keeps its records buffered (bounded) and is tried again with backoff; records of removed tasks are
 * pruned at most once an hour per store.
 */
import {
  ARGS_LIMIT,
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
/** Records kept per store while its writes fail or hang; older ones are dropped (and the drop logged). */
const MAX_BUFFERED = 10_000;
/**
 * At most this many records go to a store in one write, the next ones a moment later: a synchronous store
 * (SQLite) then never blocks the event loop for long, even after a burst of runs.
 */
const WRITE_CHUNK = 1000;
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

/** How a run that started can end. */
export type StartedRunOutcome = Extract<RunOutcome, 'success' | 'error' | 'timeout' | 'aborted'>;

/**
 * A run that started, as the run tracker hands it to its executor (`RunRequest` has these fields: no object is
 * made per run for history's sake).
 */
export interface StartedRun {
  /** The alias of the task's store. */
  store: string;
  record: TaskRecord;
  scheduledRunTime: Date;
  runId: string;
  /** Epoch ms. */
  startedAt: number;
  replayOf: string | undefined;
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
  /** Whether each args array seen fits in a record (`#capArgs`). */
  readonly #argsFit = new WeakMap<unknown[], boolean>();

  constructor(context: HistoryWriterContext) {
    this.#context = context;
  }

  /** Records a run that started and ended: with its result (`success`) or its last attempt's error. */
  recordRun(run: StartedRun, outcome: StartedRunOutcome, attempts: number, resultOrError: unknown): void {
    const endedAt = Date.now();
    const record: StoredRunRecord = {
      runId: run.runId,
      taskId: run.record.id,
      taskName: run.record.name,
      scheduledRunTime: run.scheduledRunTime.getTime(),
      startedAt: run.startedAt,
      endedAt,
      durationMs: endedAt - run.startedAt,
      outcome,
      attempts,
      args: run.record.args,
      schedulerId: this.#context.schedulerId,
    };
    if (run.record.args.length > 0) this.#capArgs(run.store, record);
    if (run.record.tags.length > 0) record.tags = run.record.tags;
    if (outcome !== 'success') record.error = recordError(resultOrError);
    else if (resultOrError !== undefined) Object.assign(record, recordResult(resultOrError));
    if (run.replayOf !== undefined) record.replayOf = run.replayOf;
    this.#add(run.store, record);
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
    if (record.args.length > 0) this.#capArgs(alias, stored);
    if (record.tags.length > 0) stored.tags = record.tags;
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
    for (;;) {
      if (buffer.writing !== undefined) {
        if (buffer.writeStartedAt + FLUSH_WAIT_MS <= Date.now()) return;
        if (!(await settlesBy(buffer.writing, deadline))) return;
        continue;
      }
      if (buffer.records.length === 0) return;
      const failures = buffer.failures;
      if (!(await settlesBy(this.#write(alias, buffer), deadline))) return;
      // A write that failed leaves the records buffered, for the retry with backoff.
      if (buffer.failures > failures) return;
    }
  }

  /** Stops every timer and forgets one store's records (the store was removed) or all. */
  discard(alias?: string): void {
    for (const [key, buffer] of this.#buffers) {
      if (alias !== undefined && key !== alias) continue;
      clearTimeout(buffer.timer);
      this.#buffers.delete(key);
    }
  }

  /**
   * In a persistent store, args whose JSON is longer than `ARGS_LIMIT` are left out of the record (which says so):
   * twenty records of a task with megabytes of args would otherwise be megabytes rewritten on every history
   * write. Measured once per args array (tasks are values: their args do not change in place).
   */
  #capArgs(alias: string, record: StoredRunRecord): void {
    if (this.#context.store(alias)?.persistent !== true) return;
    let fits = this.#argsFit.get(record.args);
    if (fits === undefined) {
      fits = (JSON.stringify(record.args)?.length ?? 0) <= ARGS_LIMIT;
      this.#argsFit.set(record.args, fits);
    }
    if (fits) return;
    record.args = [];
    record.argsTruncated = true;
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
    if (buffer.records.length > MAX_BUFFERED && this.#failing(buffer)) this.#dropOldest(alias, buffer);
    if (buffer.writing !== undefined) return;
    if (buffer.records.length === FLUSH_SIZE && buffer.failures === 0) {
      // Soon, but not now: a burst of runs being started must not wait for a store write.
      clearTimeout(buffer.timer);
      this.#arm(alias, buffer, 0);
    } else if (buffer.timer === undefined) {
      this.#arm(alias, buffer, FLUSH_DELAY_MS);
    }
  }

  /**
   * True while the store's writes fail or hang: records are then dropped beyond `MAX_BUFFERED`. A healthy store
   * keeps every record, however many a burst of runs makes before the event loop lets the buffer be written.
   */
  #failing(buffer: Buffer): boolean {
    return (
      buffer.failures > 0 ||
      (buffer.writing !== undefined && Date.now() - buffer.writeStartedAt > FLUSH_WAIT_MS)
    );
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
    const batch =
      buffer.records.length <= WRITE_CHUNK ? buffer.records : buffer.records.slice(0, WRITE_CHUNK);
    buffer.records = batch === buffer.records ? [] : buffer.records.slice(WRITE_CHUNK);
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
        buffer.failures > 0
          ? Math.min(MAX_RETRY_DELAY_MS, FLUSH_DELAY_MS * 2 ** buffer.failures)
          : buffer.records.length >= WRITE_CHUNK
            ? 0
            : FLUSH_DELAY_MS;
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
