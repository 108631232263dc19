/**
 * Internal to kairos' persistent stores, not a public API: reading back run records and run-now requests a store
 * kept as JSON (API.md "Run history"). A stored record is checked field by field, since it may have been written
 * by another release or by hand; one that cannot be read back is skipped by `getRuns` with a log line (once per
 * record), never an error: history must not stop a scheduler.
 */
import type { Logger } from 'pino';
import { SerializationError } from '../../src/errors.js';
import {
  RUN_OUTCOMES,
  type RunError,
  type RunNowRequest,
  type RunOutcome,
  type StoredRunRecord,
} from '../../src/history.js';
import { tagListProblem } from '../../src/tags.js';
import { describeValue, isPlainObject } from '../../src/validate.js';

/**
 * The run record a stored JSON value holds, as a fresh object with only the fields of `StoredRunRecord` (in their
 * declared order).
 * @throws SerializationError naming the first field that is missing or of the wrong type.
 */
export function readRunRecord(value: unknown): StoredRunRecord {
  if (!isPlainObject(value)) throw new SerializationError(`not an object: ${describeValue(value)}`);
  const record: StoredRunRecord = {
    runId: field(value, 'runId', isText),
    taskId: field(value, 'taskId', isText),
    taskName: field(value, 'taskName', isText),
    scheduledRunTime: field(value, 'scheduledRunTime', isInstant),
    startedAt: field(value, 'startedAt', isInstantOrNull),
    endedAt: field(value, 'endedAt', isInstant),
    durationMs: field(value, 'durationMs', isInstantOrNull),
    outcome: field(value, 'outcome', isOutcome),
    attempts: field(value, 'attempts', isCount),
    args: field(value, 'args', Array.isArray),
    schedulerId: field(value, 'schedulerId', isText),
  };
  if (value.argsTruncated !== undefined) record.argsTruncated = field(value, 'argsTruncated', isTrue);
  if (value.tags !== undefined) record.tags = field(value, 'tags', isTagList);
  if (value.missedCount !== undefined) record.missedCount = field(value, 'missedCount', isCount);
  if (value.result !== undefined) record.result = value.result;
  if (value.resultTruncated !== undefined) record.resultTruncated = field(value, 'resultTruncated', isTrue);
  if (value.error !== undefined) record.error = field(value, 'error', isRunError);
  if (value.replayOf !== undefined) record.replayOf = field(value, 'replayOf', isText);
  return record;
}

/**
 * The run-now request a stored JSON value holds, as a fresh object.
 * @throws SerializationError naming the first field that is missing or of the wrong type.
 */
export function readRunRequest(value: unknown): RunNowRequest {
  if (!isPlainObject(value)) throw new SerializationError(`not an object: ${describeValue(value)}`);
  const request: RunNowRequest = {
    requestId: field(value, 'requestId', isText),
    taskId: field(value, 'taskId', isText),
    requestedAt: field(value, 'requestedAt', isInstant),
  };
  if (value.args !== undefined) request.args = field(value, 'args', Array.isArray);
  if (value.replayOf !== undefined) request.replayOf = field(value, 'replayOf', isText);
  return request;
}

/**
 * The JSON text a store keeps for a record or a request; one that is not JSON (a BigInt in its args) is a
 * `SerializationError` naming it, before anything is written.
 */
export function storedText(value: StoredRunRecord | RunNowRequest): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    const what = 'runId' in value ? `run '${value.runId}'` : `run request '${value.requestId}'`;
    throw new SerializationError(`${what} cannot be stored: it is not JSON (${(error as Error).message})`, {
      cause: error,
    });
  }
}

/** The run records of one store instance that were found unreadable and logged, so each is logged once. */
export class UnreadableRuns {
  readonly #store: string;
  readonly #logged = new Set<string>();

  /** `store` names the store in the log lines (`'SQLiteStore'`). */
  constructor(store: string) {
    this.#store = store;
  }

  /**
   * Logs (at warn, once per `key`) that the stored run record `key` (its run id, or its place when it has none)
   * cannot be read back and is left out of the answer.
   */
  skip(key: string, error: unknown, logger: Logger | undefined): void {
    if (this.#logged.has(key)) return;
    this.#logged.add(key);
    logger?.warn(
      { err: error, run: key },
      `${this.#store}: run record '${key}' cannot be read back (${(error as Error).message}); it is left out of the run history`,
    );
  }
}

/** `value[name]` if `test` accepts it; else a `SerializationError` naming the field. */
function field<T>(value: Record<string, unknown>, name: string, test: (field: unknown) => field is T): T;
function field(value: Record<string, unknown>, name: string, test: (field: unknown) => boolean): unknown;
function field(value: Record<string, unknown>, name: string, test: (field: unknown) => boolean): unknown {
  const found = value[name];
  if (!test(found)) throw new SerializationError(`field '${name}' is ${describeValue(found)}`);
  return found;
}

function isText(value: unknown): value is string {
  return typeof value === 'string';
}

function isInstant(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isInstantOrNull(value: unknown): value is number | null {
  return value === null || isInstant(value);
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isTagList(value: unknown): value is string[] {
  return tagListProblem(value) === null;
}

function isTrue(value: unknown): value is true {
  return value === true;
}

function isOutcome(value: unknown): value is RunOutcome {
  return (RUN_OUTCOMES as readonly unknown[]).includes(value);
}

function isRunError(value: unknown): value is RunError {
  return isPlainObject(value) && isText(value.name) && isText(value.message) && isText(value.stack);
}
