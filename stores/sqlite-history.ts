/**
 * Internal to `SQLiteStore` (stores/sqlite.ts), not a public API: the run history in `kairos_runs` (API.md "Run
 * history"). One row per record: `seq` is the order records were appended in, `data` the record as JSON, and
 * the columns the queries filter, order, trim and prune by. Every query goes through an index, named in it, so
 * none can scan the table but the prune of removed tasks' records. A row whose data cannot be read back is left
 * out of `query` and logged once; it stays in the table until it is trimmed or pruned like any other.
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { RunQuery, StoredRunRecord } from '../src/history.js';
import type { StoreContext } from '../src/store.js';
import type { Database } from './sqlite-schema.js';
import { readRunRecord, UnreadableRuns } from './support/run-records.js';

/** A record to insert, with its data serialised already (outside the transaction). */
export interface RunRow {
  record: StoredRunRecord;
  data: string;
}

/** A run row as the queries return it. */
interface StoredRunRow {
  run_id: string;
  data: unknown;
}

/** The parameters every query binds: the filters of a `RunQuery` (its limit aside). */
interface RunFilter {
  taskId: string | null;
  runId: string | null;
  /** The outcomes as a JSON array, or null for all. */
  outcomes: string | null;
  since: number;
}

/** The filters on outcome and end every query applies. */
const FILTERS =
  'ended_at >= :since AND (:outcomes IS NULL OR outcome IN (SELECT value FROM json_each(:outcomes)))';
const NEWEST_FIRST = 'ORDER BY ended_at DESC, seq DESC';
/** True for a row of a task not in `kairos_tasks`; `alias` names the row's table. */
const orphan = (alias: string) =>
  `NOT EXISTS (SELECT 1 FROM kairos_tasks AS task WHERE task.id = ${alias}.task_id)`;

/** The run history of one open database (made at each `start()`); its statements are prepared once. */
export class RunHistory {
  /** Appends records and trims the tasks they name (see `TaskStore.appendRuns`); one transaction. */
  readonly append: (rows: readonly RunRow[], perTask: number) => void;
  readonly #insert: BetterSqlite3.Statement<[string, string, number, string, string]>;
  readonly #trim: BetterSqlite3.Statement<{ taskId: string; perTask: number }>;
  readonly #byTask: BetterSqlite3.Statement<RunFilter, StoredRunRow>;
  readonly #byRun: BetterSqlite3.Statement<RunFilter, StoredRunRow>;
  readonly #all: BetterSqlite3.Statement<RunFilter, StoredRunRow>;
  readonly #prune: BetterSqlite3.Statement<[number, number]>;
  readonly #context: StoreContext;
  readonly #unreadable = new UnreadableRuns('SQLiteStore');

  constructor(db: Database, context: StoreContext) {
    this.#context = context;
    this.#insert = db.prepare(
      `INSERT INTO kairos_runs (run_id, task_id, ended_at, outcome, data) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (run_id) DO NOTHING`,
    );
    // Deletes the task's rows from its (perTask + 1)-th newest on; nothing when it has perTask or fewer.
    this.#trim = db.prepare(
      `DELETE FROM kairos_runs WHERE task_id = :taskId AND seq <= (
         SELECT seq FROM kairos_runs INDEXED BY kairos_runs_task WHERE task_id = :taskId
         ORDER BY seq DESC LIMIT 1 OFFSET :perTask)`,
    );
    const columns = 'SELECT run_id, data FROM kairos_runs';
    this.#byTask = db.prepare(
      `${columns} INDEXED BY kairos_runs_task WHERE task_id = :taskId AND ${FILTERS} ${NEWEST_FIRST}`,
    );
    this.#byRun = db.prepare(
      `${columns} WHERE run_id = :runId AND (:taskId IS NULL OR task_id = :taskId) AND ${FILTERS}`,
    );
    this.#all = db.prepare(`${columns} INDEXED BY kairos_runs_ended WHERE ${FILTERS} ${NEWEST_FIRST}`);
    // Reads every record (no index tells whose task is gone), kairos_tasks only through its primary key.
    this.#prune = db.prepare(
      `DELETE FROM kairos_runs AS run WHERE ${orphan('run')} AND (run.ended_at < ? OR run.seq NOT IN (
         SELECT kept.seq FROM kairos_runs AS kept INDEXED BY kairos_runs_ended WHERE ${orphan('kept')}
         ORDER BY kept.ended_at DESC, kept.seq DESC LIMIT ?))`,
    );
    this.append = db.transaction((rows: readonly RunRow[], perTask: number): void => {
      const named = new Set<string>();
      for (const { record, data } of rows) {
        this.#insert.run(record.runId, record.taskId, record.endedAt, record.outcome, data);
        named.add(record.taskId);
      }
      for (const taskId of named) this.#trim.run({ taskId, perTask });
    }).immediate;
  }

  /**
   * The records that pass `query`, newest first, at most `query.limit`: rows are read in order through an index
   * until that many could be read back. A row that cannot be read back is left out and logged once.
   */
  query(query: RunQuery): StoredRunRecord[] {
    const filter: RunFilter = {
      taskId: query.taskId ?? null,
      runId: query.runId ?? null,
      outcomes: query.outcomes === undefined ? null : JSON.stringify(query.outcomes),
      since: query.since ?? Number.MIN_SAFE_INTEGER,
    };
    const statement = filter.runId !== null ? this.#byRun : filter.taskId !== null ? this.#byTask : this.#all;
    const records: StoredRunRecord[] = [];
    if (query.limit <= 0) return records;
    for (const row of statement.iterate(filter)) {
      const record = this.#read(row);
      if (record === null) continue;
      records.push(record);
      if (records.length >= query.limit) break;
    }
    return records;
  }

  /**
   * Deletes the records of tasks not in `kairos_tasks` that ended before `endedBefore`, and those beyond the
   * newest `keep` of them; one statement. Returns how many it deleted.
   */
  prune(endedBefore: number, keep: number): number {
    return this.#prune.run(endedBefore, keep).changes;
  }

  /** The record a row holds, or null (logged once) if it cannot be read back. */
  #read(row: StoredRunRow): StoredRunRecord | null {
    try {
      if (typeof row.data !== 'string') throw new TypeError(`its data is ${typeof row.data}, not text`);
      return readRunRecord(JSON.parse(row.data));
    } catch (error) {
      this.#unreadable.skip(row.run_id, error, this.#context.logger);
      return null;
    }
  }
}
