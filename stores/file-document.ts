/**
 * Internal to `FileStore` (stores/file.ts), not a public API: the task document, in memory (`DocumentState`, and
 * the queries the store answers from it) and as text (parse, with migrations and checks of its envelope;
 * render, one task, lease, run slot, run record or run request per line). The run history's part of it is in
 * file-history.ts.
 */
import { SerializationError } from '../src/errors.js';
import type { RunNowRequest } from '../src/history.js';
import { deserializeTask, serializeTask } from '../src/serialization.js';
import { compareTaskRecords, type TaskRecord } from '../src/store.js';
import { describeValue, isPlainObject } from '../src/validate.js';
import { parsedText, parseRunEntry, type RunEntry } from './file-history.js';
import { unreadableRecordError } from './support/broken-records.js';
import { readRunRequest } from './support/run-records.js';

/** The `format` field that marks a kairos task document. */
export const FILE_STORE_FORMAT = 'kairos-file-store';
/**
 * The document format version this release writes; older versions are migrated at `start()`. Version 2 added
 * `revision`, the run history (`runs`) and the run-now requests (`runRequests`); version 3 the tag concurrency
 * limits (`tagLimits`) and the tags of run slots. (A process of an earlier release, which would drop them when it
 * writes, refuses a version 3 file.)
 */
export const FILE_STORE_VERSION = 3;

/** A task lease: who holds the task, until when, and the next run time it was acquired with. */
export interface Lease {
  owner: string;
  expiresAt: number;
  /** The task's next run time when acquired; a release changes it only if it still is this one. */
  runTime: number | null;
  /** True for a parked task (`holdUntil`): a change to the task ends the hold. */
  held: boolean;
}

/** A run slot: one run in progress. */
export interface RunSlot {
  taskId: string;
  owner: string;
  expiresAt: number;
  /** Its task's tags (absent when none): the slot counts toward each one's concurrency limit. */
  tags?: string[];
}

/** One entry of the `tasks` section: its JSON text and the record it holds, or why it cannot be read. */
export type TaskEntry =
  | { text: string; record: TaskRecord; error: null }
  | { text: string; record: null; error: SerializationError };

/** The document in memory. */
export interface DocumentState {
  /**
   * Counts the writes other processes' watches hear of: every write but a quiet one (run history, run slots, a
   * request taken or cancelled) adds one. Written near the top of the document, where a watch reads it.
   */
  revision: number;
  tasks: Map<string, TaskEntry>;
  leases: Map<string, Lease>;
  runSlots: Map<string, RunSlot>;
  /** The run history, oldest first (file-history.ts). */
  runs: RunEntry[];
  /** Run-now requests waiting for a scheduler, by request id, in the order they were made. */
  runRequests: Map<string, RunNowRequest>;
  /** Tag concurrency limits, by tag. */
  tagLimits: Map<string, number>;
}

/** A document with nothing in it. */
export function emptyState(): DocumentState {
  return {
    revision: 0,
    tasks: new Map(),
    leases: new Map(),
    runSlots: new Map(),
    runs: [],
    runRequests: new Map(),
    tagLimits: new Map(),
  };
}

/** A valid entry for a record; a record that cannot be stored is a `SerializationError` before anything changes. */
export function validEntry(record: TaskRecord): TaskEntry {
  return { text: JSON.stringify(serializeTask(record)), record, error: null };
}

export function readableRecords(state: DocumentState): TaskRecord[] {
  const records: TaskRecord[] = [];
  for (const entry of state.tasks.values()) if (entry.record !== null) records.push(entry.record);
  return records;
}

/** Up to `limit` readable tasks due at `now` and not under a live lease, earliest first. */
export function dueRecords(state: DocumentState, now: number, limit: number): TaskRecord[] {
  const due = readableRecords(state).filter((record) => {
    if (record.nextRunTime === null || record.nextRunTime > now) return false;
    const lease = state.leases.get(record.id);
    return lease === undefined || lease.expiresAt <= now;
  });
  return due.sort(compareTaskRecords).slice(0, limit);
}

/** True when `slot` counts toward a tag that has a concurrency limit: freeing it is news for waiting runs. */
export function freesLimitedTag(limits: ReadonlyMap<string, number>, slot: RunSlot): boolean {
  return slot.tags?.some((tag) => limits.has(tag)) === true;
}

/** When a task could next be acquired: its next run time, or later if a lease holds it until then. */
export function wakeupOf(record: TaskRecord, lease: Lease | undefined): number | null {
  if (record.nextRunTime === null) return null;
  return lease === undefined ? record.nextRunTime : Math.max(record.nextRunTime, lease.expiresAt);
}

/** Parses a document text and checks its envelope (format, version). */
function parseEnvelope(text: string, path: string): { version: number; json: Record<string, unknown> } {
  if (text.trim() === '')
    throw new SerializationError(
      `FileStore: the task file '${path}' is empty (truncated?); it is left untouched`,
    );
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new SerializationError(
      `FileStore: the task file '${path}' is not valid JSON (${(error as Error).message}; truncated or corrupt?); it is left untouched`,
      { cause: error },
    );
  }
  if (!isPlainObject(json) || json.format !== FILE_STORE_FORMAT) {
    throw new SerializationError(
      `FileStore: '${path}' is not a kairos task file (it lacks "format": "${FILE_STORE_FORMAT}"); it is left untouched`,
    );
  }
  const version = json.version;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    throw new SerializationError(
      `FileStore: '${path}' has an invalid format version ${describeValue(version)}; it is left untouched`,
    );
  }
  if (version > FILE_STORE_VERSION) {
    throw new SerializationError(
      `FileStore: '${path}' has format version ${version}, written by a newer kairos (this one reads up to ${FILE_STORE_VERSION}); it is left untouched`,
    );
  }
  return { version, json };
}

/**
 * Upgrades an older document in place, one version at a time. `MIGRATIONS[n]` turns version n into n + 1; the
 * first format is version 1.
 */
const MIGRATIONS: Record<number, (json: Record<string, unknown>) => void> = {
  1: (json) => {
    json.revision = 0;
    json.runs = [];
    json.runRequests = {};
  },
  2: (json) => {
    json.tagLimits = {};
  },
};

/** A run-now request of the document that cannot be read back, left out of its state: its id, text and why. */
export interface DroppedRequest {
  id: string;
  text: string;
  error: SerializationError;
}

/**
 * Parses a document, migrating an older version; entries whose text is unchanged are reused from `previous`. A
 * run request that cannot be read back is left out of the state (so the next write removes it) and listed in
 * `dropped`, for the store to log.
 */
export function parseDocument(
  text: string,
  path: string,
  previous: DocumentState | null,
): { state: DocumentState; version: number; dropped: DroppedRequest[] } {
  const { version, json } = parseEnvelope(text, path);
  for (let from = version; from < FILE_STORE_VERSION; from++) MIGRATIONS[from]?.(json);
  const tasks = section(json, 'tasks', path);
  const state = emptyState();
  for (const [id, value] of Object.entries(tasks))
    state.tasks.set(id, parseEntry(id, value, previous?.tasks.get(id)));
  for (const [id, value] of Object.entries(section(json, 'leases', path)))
    state.leases.set(id, parseLease(id, value, path));
  for (const [id, value] of Object.entries(section(json, 'runSlots', path)))
    state.runSlots.set(id, parseSlot(id, value, path));
  state.revision = parseRevision(json.revision, path);
  state.runs = runsSection(json, path).map(parseRunEntry);
  const dropped: DroppedRequest[] = [];
  for (const [id, value] of Object.entries(section(json, 'runRequests', path))) {
    const request = parseRequest(id, value);
    if ('error' in request) dropped.push(request);
    else state.runRequests.set(id, request);
  }
  for (const [tag, limit] of Object.entries(section(json, 'tagLimits', path))) {
    if (!Number.isSafeInteger(limit) || (limit as number) < 0)
      throw new SerializationError(
        `FileStore: '${path}': the concurrency limit of tag ${describeValue(tag)} is ${describeValue(limit)}, not a non-negative integer; the file is left untouched`,
      );
    state.tagLimits.set(tag, limit as number);
  }
  return { state, version, dropped };
}

function parseRevision(value: unknown, path: string): number {
  if (Number.isSafeInteger(value) && (value as number) >= 0) return value as number;
  throw new SerializationError(
    `FileStore: '${path}': "revision" must be a non-negative integer, got ${describeValue(value)}; the file is left untouched`,
  );
}

/** The `runs` array; its elements are checked only when read (file-history.ts). */
function runsSection(json: Record<string, unknown>, path: string): unknown[] {
  const value = json.runs;
  if (!Array.isArray(value))
    throw new SerializationError(`FileStore: '${path}': "runs" must be an array; the file is left untouched`);
  return value;
}

function section(json: Record<string, unknown>, name: string, path: string): Record<string, unknown> {
  const value = json[name] ?? {};
  if (!isPlainObject(value))
    throw new SerializationError(
      `FileStore: '${path}': "${name}" must be an object; the file is left untouched`,
    );
  return value;
}

/**
 * One task entry; an unreadable one keeps its JSON as is, with the reason. One nested too deeply for
 * `JSON.stringify` is unreadable, whatever it holds (`parsedText`).
 */
function parseEntry(id: string, value: unknown, previous: TaskEntry | undefined): TaskEntry {
  const { text, error: tooDeep } = parsedText(value);
  if (previous !== undefined && previous.text === text) return previous;
  try {
    if (tooDeep !== null) {
      throw new SerializationError(`task '${id}': the entry is ${tooDeep.message}`, { cause: tooDeep });
    }
    if (isPlainObject(value) && value.id !== id) {
      throw new SerializationError(`task '${id}': the entry names another id, ${describeValue(value.id)}`);
    }
    return { text, record: deserializeTask(value), error: null };
  } catch (error) {
    return { text, record: null, error: unreadableRecordError(id, error) };
  }
}

function parseLease(id: string, value: unknown, path: string): Lease {
  if (
    isPlainObject(value) &&
    typeof value.owner === 'string' &&
    Number.isFinite(value.expiresAt) &&
    (value.runTime === null || Number.isFinite(value.runTime)) &&
    typeof value.held === 'boolean'
  ) {
    return {
      owner: value.owner,
      expiresAt: value.expiresAt as number,
      runTime: value.runTime as number | null,
      held: value.held,
    };
  }
  throw new SerializationError(
    `FileStore: '${path}': the lease of task '${id}' is malformed; the file is left untouched`,
  );
}

function parseSlot(id: string, value: unknown, path: string): RunSlot {
  if (
    isPlainObject(value) &&
    typeof value.taskId === 'string' &&
    typeof value.owner === 'string' &&
    Number.isFinite(value.expiresAt)
  ) {
    const slot: RunSlot = { taskId: value.taskId, owner: value.owner, expiresAt: value.expiresAt as number };
    if (value.tags === undefined) return slot;
    if (Array.isArray(value.tags) && value.tags.every((tag) => typeof tag === 'string')) {
      slot.tags = value.tags as string[];
      return slot;
    }
  }
  throw new SerializationError(
    `FileStore: '${path}': run slot '${id}' is malformed; the file is left untouched`,
  );
}

/**
 * A run-now request as the document holds it: under its id, without it. One that cannot be read back (a field
 * missing or of the wrong type, nesting too deep to write back) is dropped: its id, text and why.
 */
function parseRequest(id: string, value: unknown): RunNowRequest | DroppedRequest {
  const { text, error: tooDeep } = parsedText(value);
  try {
    if (tooDeep !== null) throw tooDeep;
    return readRunRequest(isPlainObject(value) ? { ...value, requestId: id } : value);
  } catch (error) {
    const reason =
      error instanceof SerializationError
        ? error
        : new SerializationError((error as Error).message, { cause: error });
    return { id, text, error: reason };
  }
}

function renderRequest({ taskId, requestedAt, args, replayOf }: RunNowRequest): string {
  return JSON.stringify({ taskId, requestedAt, args, replayOf });
}

/**
 * The document text: one task, lease, run slot, run record or run request per line, so that diffs and manual
 * reading stay easy. `revision` comes right after the envelope, where a watch reads it (file-watch.ts).
 */
export function renderDocument(state: DocumentState): string {
  const tasks = [...state.tasks].map(([id, entry]): [string, string] => [id, entry.text]);
  const leases = [...state.leases].map(([id, lease]): [string, string] => [id, JSON.stringify(lease)]);
  const slots = [...state.runSlots].map(([id, slot]): [string, string] => [id, JSON.stringify(slot)]);
  const requests = [...state.runRequests].map(([id, request]): [string, string] => [
    id,
    renderRequest(request),
  ]);
  const limits = [...state.tagLimits].map(([tag, limit]): [string, string] => [tag, String(limit)]);
  return (
    `{\n  "format": ${JSON.stringify(FILE_STORE_FORMAT)},\n  "version": ${FILE_STORE_VERSION},\n` +
    `  "revision": ${state.revision},\n` +
    `  "tasks": ${renderSection(tasks)},\n  "leases": ${renderSection(leases)},\n  "runSlots": ${renderSection(slots)},\n` +
    `  "runs": ${renderList(state.runs.map((entry) => entry.text))},\n  "runRequests": ${renderSection(requests)},\n` +
    `  "tagLimits": ${renderSection(limits)}\n}\n`
  );
}

function renderSection(entries: Array<[string, string]>): string {
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([key, text]) => `    ${JSON.stringify(key)}: ${text}`).join(',\n')}\n  }`;
}

function renderList(texts: readonly string[]): string {
  if (texts.length === 0) return '[]';
  return `[\n${texts.map((text) => `    ${text}`).join(',\n')}\n  ]`;
}

/** The error for an operation on an entry that cannot be read back (it is kept, not touched). */
export function keptError(id: string, cause: SerializationError): SerializationError {
  return new SerializationError(`task '${id}' cannot be read back (${cause.message}); it is kept untouched`, {
    cause,
  });
}
