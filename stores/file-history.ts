/**
 * Internal to `FileStore` (stores/file.ts), not a public API: the run history in the task document (API.md "Run
 * history"). The document's `runs` is an array of records, oldest first, one line each as compact JSON; a
 * record's place in it is the order it was appended in. Each entry keeps its JSON text, written back as it was
 * read, and the fields the store orders, trims and prunes by. An entry that cannot be read back is kept as it is,
 * skipped by `getRuns` (logged by the store), and removed by `pruneRuns` if it names no task; so is one nested
 * deeper than `JSON.stringify` can write (see `parsedText`).
 */
import { SerializationError } from '../src/errors.js';
import { compareNewestFirst, matchesRunQuery, type RunQuery, type StoredRunRecord } from '../src/history.js';
import { isPlainObject } from '../src/validate.js';
import type { DocumentState } from './file-document.js';
import { readRunRecord, storedText } from './support/run-records.js';

/**
 * One element of the document's `runs`: its JSON text, and its run id, task id and end; these are null for an
 * element that lacks them (which no query, trim or task can reach). `error` is why an element is not to be read
 * back whatever its fields (it is nested too deeply), or null.
 */
export type RunEntry =
  | { text: string; runId: string; taskId: string; endedAt: number; error: SerializationError | null }
  | { text: string; runId: null; taskId: null; endedAt: null; error: SerializationError | null };

/** Reports a stored record `getRuns` skips: its run id (or its place, if it has none) and why. */
export type SkipRun = (key: string, error: unknown) => void;

/**
 * The JSON text of a value `JSON.parse` returned, as `JSON.stringify` writes it, and null or why the value is not
 * to be used: `JSON.parse` reads nesting of any depth, but `JSON.stringify` (and most code walking a value)
 * recurses, and throws a `RangeError` for a value nested deeper than the stack allows. The text of such a value
 * is written without recursion, so that a document entry holding it is kept as it is, as an unreadable one.
 */
export function parsedText(value: unknown): { text: string; error: SerializationError | null } {
  try {
    return { text: JSON.stringify(value), error: null };
  } catch (error) {
    const message = `nested too deeply for JSON.stringify (${(error as Error).message})`;
    return { text: flatText(value), error: new SerializationError(message, { cause: error }) };
  }
}

/** `JSON.stringify(value)` for a value `JSON.parse` returned, without recursion (an explicit stack). */
function flatText(value: unknown): string {
  const parts: string[] = [];
  // Popped last first: punctuation to write as is, or a value (boxed) to write.
  const pending: Array<string | { value: unknown }> = [{ value }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (typeof next === 'string') {
      parts.push(next);
      continue;
    }
    const item = next.value;
    if (Array.isArray(item)) {
      pending.push(']');
      for (let index = item.length - 1; index >= 0; index--) {
        pending.push({ value: item[index] });
        if (index > 0) pending.push(',');
      }
      pending.push('[');
    } else if (isPlainObject(item)) {
      const keys = Object.keys(item);
      pending.push('}');
      for (let index = keys.length - 1; index >= 0; index--) {
        const key = keys[index] as string;
        pending.push({ value: item[key] }, `${JSON.stringify(key)}:`);
        if (index > 0) pending.push(',');
      }
      pending.push('{');
    } else {
      parts.push(JSON.stringify(item) ?? 'null');
    }
  }
  return parts.join('');
}

/**
 * The entry of an element of a document's `runs`, as parsed from the file. An element nested too deeply for
 * `JSON.stringify` is kept, unreadable (`parsedText`): `getRuns` skips it, and `pruneRuns` removes it if it names
 * no task.
 */
export function parseRunEntry(value: unknown): RunEntry {
  const { text, error } = parsedText(value);
  if (
    isPlainObject(value) &&
    typeof value.runId === 'string' &&
    typeof value.taskId === 'string' &&
    typeof value.endedAt === 'number' &&
    Number.isFinite(value.endedAt)
  ) {
    return { text, runId: value.runId, taskId: value.taskId, endedAt: value.endedAt, error };
  }
  return { text, runId: null, taskId: null, endedAt: null, error };
}

/**
 * The entry of a record to append; a record that is not JSON (a BigInt in its args) is a `SerializationError`
 * before anything changes.
 */
export function recordEntry(record: StoredRunRecord): RunEntry {
  return {
    text: storedText(record),
    runId: record.runId,
    taskId: record.taskId,
    endedAt: record.endedAt,
    error: null,
  };
}

/**
 * Appends the entries whose run id is not stored yet, in order, then keeps the newest `perTask` entries of each
 * task the batch names. True if `state.runs` changed.
 */
export function appendRunEntries(
  state: DocumentState,
  entries: readonly RunEntry[],
  perTask: number,
): boolean {
  const stored = new Set<string>();
  for (const entry of state.runs) if (entry.runId !== null) stored.add(entry.runId);
  const named = new Set<string>();
  let appended = false;
  for (const entry of entries) {
    if (entry.runId === null) continue;
    named.add(entry.taskId);
    if (stored.has(entry.runId)) continue;
    stored.add(entry.runId);
    state.runs.push(entry);
    appended = true;
  }
  return trimRuns(state, named, perTask) || appended;
}

/** Drops all but the newest `perTask` entries (by appending order) of each task in `named`; true if any went. */
function trimRuns(state: DocumentState, named: ReadonlySet<string>, perTask: number): boolean {
  const counts = new Map<string, number>();
  const kept: RunEntry[] = [];
  for (let index = state.runs.length - 1; index >= 0; index--) {
    const entry = state.runs[index] as RunEntry;
    if (entry.taskId !== null && named.has(entry.taskId)) {
      const count = (counts.get(entry.taskId) ?? 0) + 1;
      counts.set(entry.taskId, count);
      if (count > perTask) continue;
    }
    kept.push(entry);
  }
  if (kept.length === state.runs.length) return false;
  state.runs = kept.reverse();
  return true;
}

/**
 * The records that pass `query`, newest first, at most `query.limit`. An entry that cannot be read back is left
 * out and told to `skip`.
 */
export function queryRuns(state: DocumentState, query: RunQuery, skip: SkipRun): StoredRunRecord[] {
  const found: Array<{ record: StoredRunRecord; sequence: number; endedAt: number }> = [];
  for (const [sequence, entry] of state.runs.entries()) {
    if (entry.runId !== null) {
      if (query.taskId !== undefined && entry.taskId !== query.taskId) continue;
      if (query.runId !== undefined && entry.runId !== query.runId) continue;
      if (query.since !== undefined && entry.endedAt < query.since) continue;
    } else if (query.taskId !== undefined || query.runId !== undefined) {
      continue;
    }
    let record: StoredRunRecord;
    try {
      if (entry.error !== null) throw entry.error;
      record = readRunRecord(JSON.parse(entry.text));
    } catch (error) {
      skip(entry.runId ?? `runs[${sequence}]`, error);
      continue;
    }
    if (matchesRunQuery(record, query)) found.push({ record, sequence, endedAt: record.endedAt });
  }
  return found
    .sort(compareNewestFirst)
    .slice(0, query.limit)
    .map((run) => run.record);
}

/**
 * Deletes the entries of tasks not in the document that ended before `endedBefore`, and those beyond the newest
 * `keep` of them; an entry that names no task is deleted too. Returns how many it deleted.
 */
export function pruneRunEntries(state: DocumentState, endedBefore: number, keep: number): number {
  const orphans: Array<{ entry: RunEntry; sequence: number; endedAt: number }> = [];
  for (const [sequence, entry] of state.runs.entries()) {
    if (entry.taskId !== null && state.tasks.has(entry.taskId)) continue;
    orphans.push({ entry, sequence, endedAt: entry.endedAt ?? Number.NEGATIVE_INFINITY });
  }
  orphans.sort(compareNewestFirst);
  const doomed = new Set<RunEntry>();
  for (const [place, orphan] of orphans.entries()) {
    if (place >= keep || orphan.endedAt < endedBefore) doomed.add(orphan.entry);
  }
  if (doomed.size > 0) state.runs = state.runs.filter((entry) => !doomed.has(entry));
  return doomed.size;
}
