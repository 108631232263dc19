/**
 * Internal to `PostgresStore` (stores/postgres.ts), not a public API: the run history, in `<schema>.runs` (see
 * postgres-schema.ts). Each operation is one round trip: a batch of records is appended, and each task it names
 * trimmed, by one call of `append_runs`; a query and a prune are one statement each. Nothing here notifies: a
 * history write changes no task, and waking the other schedulers for it would be wasted work.
 *
 * A row whose data cannot be read back is left out of what `get` returns, and logged once; it is never rewritten,
 * and trimming and pruning delete it like any other row.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { matchesRunQuery, type RunQuery, type StoredRunRecord } from '../src/history.js';
import { type TableSetup, timedQuery } from './postgres-table.js';
import { isStorableKey } from './postgres-text.js';
import { readRunRecord, storedText, UnreadableRuns } from './support/run-records.js';

/** The columns of a batch of records, as `append_runs` takes them. */
interface RunColumns {
  runIds: string[];
  taskIds: string[];
  endedAts: number[];
  outcomes: string[];
  datas: string[];
}

/** A count or limit as a SQL value: a non-negative integer, or null (no bound) for anything not finite. */
function bound(count: number): number | null {
  return Number.isFinite(count) ? Math.max(0, Math.floor(count)) : null;
}

/** The run records of one open store. */
export class RunTable {
  readonly #pool: pg.Pool;
  readonly #logger: Logger;
  readonly #schema: string;
  readonly #runs: string;
  readonly #tasks: string;
  readonly #queryTimeoutMs: number;
  /** The rows found unreadable, so each is logged once. */
  readonly #unreadable = new UnreadableRuns('PostgresStore');

  constructor(setup: TableSetup) {
    this.#pool = setup.pool;
    this.#logger = setup.context.logger;
    this.#schema = setup.schema;
    this.#runs = `"${setup.schema}".runs`;
    this.#tasks = `"${setup.schema}".tasks`;
    this.#queryTimeoutMs = setup.queryTimeoutMs;
  }

  /**
   * Appends `records` in order and keeps each named task's newest `perTask` rows: one round trip, whatever the
   * batch size. A run id stored already is left out. A record PostgreSQL cannot take (an id with a NUL, a value
   * that is no JSON) is left out with a log line, so that it never costs the rest of the batch.
   */
  async append(records: readonly StoredRunRecord[], perTask: number): Promise<void> {
    const columns = this.#columns(records);
    if (columns.runIds.length === 0) return;
    await timedQuery(this.#pool, this.#queryTimeoutMs, {
      name: `${this.#schema}.append_runs`,
      text: `SELECT "${this.#schema}".append_runs($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bigint)`,
      values: [
        columns.runIds,
        columns.taskIds,
        columns.endedAts,
        columns.outcomes,
        columns.datas,
        bound(perTask),
      ],
    });
  }

  /**
   * The readable records that pass `query`, newest first (`ended_at` descending, then `seq`), at most
   * `query.limit`: one statement, on the task index for a task's records, else on the end-time index.
   */
  async get(query: RunQuery): Promise<StoredRunRecord[]> {
    const conditions: string[] = [];
    const values: unknown[] = [];
    const where = (condition: (parameter: string) => string, value: unknown) => {
      values.push(value);
      conditions.push(condition(`$${values.length}`));
    };
    if (query.taskId !== undefined) where((p) => `task_id = ${p}`, query.taskId);
    if (query.runId !== undefined) where((p) => `run_id = ${p}`, query.runId);
    if (query.outcomes !== undefined) where((p) => `outcome = ANY(${p}::text[])`, query.outcomes);
    // `ended_at` is the end time in whole ms (see `#columns`); `matchesRunQuery` below judges the exact one.
    if (query.since !== undefined) where((p) => `ended_at >= floor(${p}::float8)::bigint`, query.since);
    values.push(bound(query.limit));
    const { rows } = await timedQuery<{ run_id: string; data: string }>(
      this.#pool,
      this.#queryTimeoutMs,
      `SELECT run_id, data FROM ${this.#runs}
       ${conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`}
       ORDER BY ended_at DESC, seq DESC LIMIT $${values.length}`,
      values,
    );
    const records: StoredRunRecord[] = [];
    for (const row of rows) {
      const record = this.#read(row.run_id, row.data);
      if (record !== null && matchesRunQuery(record, query)) records.push(record);
    }
    return records;
  }

  /**
   * Deletes the rows of tasks no longer in the tasks table that ended before `endedBefore`, and those beyond the
   * newest `keep` of them; resolves with how many. One statement; the rows are locked in `seq` order before they
   * are deleted, as `append_runs` trims, so that the two never deadlock.
   */
  async prune(endedBefore: number, keep: number): Promise<number> {
    const { rows } = await timedQuery<{ deleted: number }>(
      this.#pool,
      this.#queryTimeoutMs,
      `WITH orphans AS (
         SELECT r.seq, r.ended_at, row_number() OVER (ORDER BY r.ended_at DESC, r.seq DESC) AS newer
         FROM ${this.#runs} AS r WHERE NOT EXISTS (SELECT 1 FROM ${this.#tasks} AS t WHERE t.id = r.task_id)),
       deleted AS (
         DELETE FROM ${this.#runs} WHERE seq IN (
           SELECT seq FROM ${this.#runs} WHERE seq IN (
             SELECT seq FROM orphans WHERE ended_at < $1::float8 OR newer > $2::bigint)
           ORDER BY seq FOR UPDATE)
         RETURNING 1)
       SELECT count(*)::int AS deleted FROM deleted`,
      [endedBefore, bound(keep)],
    );
    return rows[0]?.deleted ?? 0;
  }

  /** The columns of the records PostgreSQL can take, in order; the others are logged and left out. */
  #columns(records: readonly StoredRunRecord[]): RunColumns {
    const columns: RunColumns = { runIds: [], taskIds: [], endedAts: [], outcomes: [], datas: [] };
    for (const record of records) {
      let data: string | undefined;
      try {
        data = storedText(record);
      } catch {
        data = undefined;
      }
      if (
        data === undefined ||
        !isStorableKey(record.runId) ||
        !isStorableKey(record.taskId) ||
        !Number.isFinite(record.endedAt)
      ) {
        this.#logger.warn(
          { schema: this.#schema, runId: record.runId, taskId: record.taskId },
          'PostgresStore: a run record cannot be stored (an id PostgreSQL cannot take, or a value that is no JSON); it is left out of the history',
        );
        continue;
      }
      columns.runIds.push(record.runId);
      columns.taskIds.push(record.taskId);
      columns.endedAts.push(Math.floor(record.endedAt));
      columns.outcomes.push(record.outcome);
      columns.datas.push(data);
    }
    return columns;
  }

  /** The record a row holds, or null if it cannot be read back (logged once per row). */
  #read(runId: string, data: string): StoredRunRecord | null {
    try {
      return readRunRecord(JSON.parse(data));
    } catch (error) {
      this.#unreadable.skip(runId, error, this.#logger);
      return null;
    }
  }
}
