/**
 * Run history (API.md "Run history"): what a run record holds, how stores keep it bounded, and how a run's end
 * becomes a record (result and error truncated so that a record stays small whatever a task returns).
 */

/** How a run ended. `missed` and `skipped` runs never started. */
export type RunOutcome = 'success' | 'error' | 'timeout' | 'aborted' | 'missed' | 'skipped';

/** Every outcome, in the order the CLI and the docs list them. */
export const RUN_OUTCOMES: readonly RunOutcome[] = [
  'success',
  'error',
  'timeout',
  'aborted',
  'missed',
  'skipped',
];

/** Outcomes of runs that started and failed (`kairos runs --failed`). */
export const FAILED_OUTCOMES: readonly RunOutcome[] = ['error', 'timeout', 'aborted'];

/** An error as a run record keeps it. */
export interface RunError {
  name: string;
  /** At most `MESSAGE_LIMIT` characters. */
  message: string;
  /** At most `STACK_LIMIT` characters; empty when the thrown value had none. */
  stack: string;
}

/** One run as a store keeps it: instants as epoch ms. */
export interface StoredRunRecord {
  /** Unique across every scheduler sharing the store (`<schedulerId>:<n>`, or a run request's id). */
  runId: string;
  taskId: string;
  taskName: string;
  /** Epoch ms of the fire time the run was for (for a run-now or a replay, the moment it was asked for). */
  scheduledRunTime: number;
  /** Epoch ms; null for `missed` and `skipped` records, which never started. */
  startedAt: number | null;
  /** Epoch ms the run ended, or the moment a `missed`/`skipped` run was judged. Records are ordered by it. */
  endedAt: number;
  /** `endedAt - startedAt`, or null for records that never started. */
  durationMs: number | null;
  outcome: RunOutcome;
  /** For `missed`: how many fire times this record stands for (one record per task per wake-up). */
  missedCount?: number;
  /** Attempts made (1 + retries); 0 for records that never started. */
  attempts: number;
  /**
   * The args as run; in a persistent store, `[]` when their JSON is longer than `ARGS_LIMIT` (`argsTruncated`
   * then says so, and the run cannot be replayed).
   */
  args: unknown[];
  /** True when the args were too large to keep. */
  argsTruncated?: true;
  /** The result, when it is JSON: as is up to `RESULT_LIMIT` characters of JSON, else its JSON text cut there. */
  result?: unknown;
  /** True when `result` is the cut JSON text of a larger result. */
  resultTruncated?: true;
  error?: RunError;
  /** The task's tags when it ran (absent when it had none). */
  tags?: string[];
  /** The scheduler that ran (or missed, or skipped) it. */
  schedulerId: string;
  /** For a replay: the run id it replays. */
  replayOf?: string;
}

/** A query of a store's run history. */
export interface RunQuery {
  /** Only this task's runs. */
  taskId?: string;
  /** Only this run. */
  runId?: string;
  /** Only runs with one of these outcomes. */
  outcomes?: readonly RunOutcome[];
  /** Only runs with `endedAt >= since` (epoch ms). */
  since?: number;
  /** At most this many, newest first. */
  limit: number;
}

/** A request, written by the `kairos` command, that a running scheduler run a task now (or replay a run). */
export interface RunNowRequest {
  /** Unique; becomes the run id of the run made for it. */
  requestId: string;
  taskId: string;
  /** Epoch ms the request was made; requests older than `RUN_REQUEST_MAX_AGE_MS` are dropped, never run. */
  requestedAt: number;
  /** For a replay: the args to run with. Absent: the task's own args. */
  args?: unknown[];
  /** For a replay: the run id it replays. */
  replayOf?: string;
}

/** Records of tasks no longer in the store are kept this long after they ended (7 days)... */
export const REMOVED_TASK_RETENTION_MS = 7 * 86_400_000;
/** ...and at most this many of them in a store (the newest). */
export const REMOVED_TASK_RECORDS_MAX = 10_000;
/** A run request no scheduler took within this long is dropped (the command gave up long before). */
export const RUN_REQUEST_MAX_AGE_MS = 30_000;

/** Characters of JSON args a persistent store keeps in a record (16 KB). */
export const ARGS_LIMIT = 16_384;
/** Characters of a result's JSON kept in a record. */
export const RESULT_LIMIT = 1024;
/** Characters of an error message kept in a record. */
export const MESSAGE_LIMIT = 1024;
/** Characters of an error stack kept in a record. */
export const STACK_LIMIT = 4096;

/** A result as a record keeps it: omitted unless JSON; a JSON copy when small; else its cut JSON text. */
export function recordResult(result: unknown): Pick<StoredRunRecord, 'result' | 'resultTruncated'> {
  if (result === undefined || typeof result === 'function' || typeof result === 'symbol') return {};
  if (result === null || typeof result === 'boolean' || typeof result === 'number') {
    return Number.isFinite(result) || typeof result !== 'number' ? { result } : {};
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(result);
  } catch {
    return {};
  }
  if (text === undefined) return {};
  if (text.length <= RESULT_LIMIT) return { result: typeof result === 'string' ? result : JSON.parse(text) };
  return { result: `${text.slice(0, RESULT_LIMIT)}…`, resultTruncated: true };
}

/**
 * An error (or any thrown value) as a record keeps it. Never throws: a thrown value whose `name`, `message` or
 * `stack` getter throws, or that cannot be turned into text at all, still makes a record (with a placeholder).
 */
export function recordError(error: unknown): RunError {
  if (isError(error)) {
    const message = readText(() => error.message, '[unreadable message]');
    return {
      name: cut(
        readText(() => error.name, 'Error'),
        200,
      ),
      message: cut(message, MESSAGE_LIMIT),
      stack: cut(
        readText(() => {
          const { stack } = error;
          return typeof stack === 'string' ? stack : '';
        }, ''),
        STACK_LIMIT,
      ),
    };
  }
  const message = readText(
    () => {
      if (typeof error === 'string') return error;
      try {
        const json = JSON.stringify(error);
        if (json !== undefined) return json;
      } catch {
        // Not JSON (cyclic, a BigInt, a throwing toJSON): its text, below.
      }
      return String(error);
    },
    `[unprintable ${typeof error}]`,
  );
  return { name: typeof error, message: cut(message, MESSAGE_LIMIT), stack: '' };
}

/** `instanceof Error`, false for a value that cannot even say (a Proxy whose prototype trap throws). */
function isError(value: unknown): value is Error {
  try {
    return value instanceof Error;
  } catch {
    return false;
  }
}

/** `read()` as text, or `fallback` if reading or converting it throws. */
function readText(read: () => unknown, fallback: string): string {
  try {
    const value = read();
    return typeof value === 'string' ? value : String(value);
  } catch {
    return fallback;
  }
}

function cut(text: string, limit: number): string {
  return text.length <= limit ? text : `${text.slice(0, limit)}…`;
}

/**
 * Orders records newest first: by `endedAt` descending; `sequence` (the order records were appended in) breaks
 * ties, later first. Stores that keep records in appending order pass the index.
 */
export function compareNewestFirst(
  a: { endedAt: number; sequence: number },
  b: { endedAt: number; sequence: number },
): number {
  return b.endedAt - a.endedAt || b.sequence - a.sequence;
}

/** True if a record passes a query's filters (the limit aside). */
export function matchesRunQuery(record: StoredRunRecord, query: RunQuery): boolean {
  if (query.taskId !== undefined && record.taskId !== query.taskId) return false;
  if (query.runId !== undefined && record.runId !== query.runId) return false;
  if (query.outcomes !== undefined && !query.outcomes.includes(record.outcome)) return false;
  if (query.since !== undefined && record.endedAt < query.since) return false;
  return true;
}

/** One run as `scheduler.getRuns()` returns it (API.md "Run history"): instants as `Date`. */
export interface RunRecord extends Omit<StoredRunRecord, 'scheduledRunTime' | 'startedAt' | 'endedAt'> {
  scheduledRunTime: Date;
  /** Null for `missed` and `skipped` records, which never started. */
  startedAt: Date | null;
  endedAt: Date;
  /** The alias of the store that holds the record. */
  store: string;
}

/**
 * A stored record as `getRuns` returns it: a copy down to its data, so that a caller changing it changes neither the
 * store's history nor (a MemoryStore keeping a task's own args) the args the task runs with next.
 */
export function toRunRecord(stored: StoredRunRecord, store: string): RunRecord {
  const record: RunRecord = {
    ...stored,
    args: copyData(stored.args) as unknown[],
    scheduledRunTime: new Date(stored.scheduledRunTime),
    startedAt: stored.startedAt === null ? null : new Date(stored.startedAt),
    endedAt: new Date(stored.endedAt),
    store,
  };
  if (stored.result !== undefined) record.result = copyData(stored.result);
  if (stored.error !== undefined) record.error = { ...stored.error };
  return record;
}

/**
 * A copy of plain data: arrays, plain objects and dates are copied (cycles kept); anything else (functions, class
 * instances a MemoryStore may hold in args) is kept as is, and so is a value that cannot be read (a throwing
 * getter, a revoked Proxy).
 */
function copyData(value: unknown, seen = new Map<object, unknown>()): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const known = seen.get(value);
  if (known !== undefined) return known;
  try {
    if (Array.isArray(value)) {
      const copy: unknown[] = [];
      seen.set(value, copy);
      for (const item of value) copy.push(copyData(item, seen));
      return copy;
    }
    if (value instanceof Date) return new Date(value.getTime());
    const prototype = Object.getPrototypeOf(value);
    if (prototype !== Object.prototype && prototype !== null) return value;
    const copy: Record<string, unknown> = Object.create(prototype);
    seen.set(value, copy);
    for (const key of Object.keys(value)) {
      // Defined, not assigned: a key named `__proto__` stays a key.
      Object.defineProperty(copy, key, {
        value: copyData((value as Record<string, unknown>)[key], seen),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return copy;
  } catch {
    seen.set(value, value);
    return value;
  }
}
