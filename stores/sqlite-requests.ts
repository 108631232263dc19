/**
 * Internal to `SQLiteStore` (stores/sqlite.ts), not a public API: the run-now requests in `kairos_run_requests`
 * (`RunNowRequests`), one row each, the request as JSON in `data`. A request inserted counts in the database's
 * revision (a trigger), so other processes' watches hear of it; taking or cancelling one does not.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { RUN_REQUEST_MAX_AGE_MS, type RunNowRequest } from '../src/history.js';
import type { StoreContext } from '../src/store.js';
import type { Database } from './sqlite-schema.js';
import { readRunRequest } from './support/run-records.js';

/** A request row as `take` returns it, with its rowid (the order requests were made in). */
interface RequestRow {
  place: number;
  request_id: string;
  requested_at: number;
  data: unknown;
}

/** The run-now requests of one open database (made at each `start()`); its statements are prepared once. */
export class RunRequestTable {
  /** Removes every request and returns those made at or after `now - RUN_REQUEST_MAX_AGE_MS`; one transaction. */
  readonly take: (now: number) => RunNowRequest[];
  readonly #insert: BetterSqlite3.Statement<[string, number, string]>;
  readonly #any: BetterSqlite3.Statement<[], number>;
  readonly #has: BetterSqlite3.Statement<[string], number>;
  readonly #delete: BetterSqlite3.Statement<[string]>;
  readonly #context: StoreContext;

  constructor(db: Database, context: StoreContext) {
    this.#context = context;
    this.#insert = db.prepare(
      `INSERT INTO kairos_run_requests (request_id, requested_at, data) VALUES (?, ?, ?)
       ON CONFLICT (request_id) DO NOTHING`,
    );
    this.#any = db.prepare<[], number>('SELECT EXISTS (SELECT 1 FROM kairos_run_requests)').pluck();
    this.#has = db
      .prepare<[string], number>('SELECT EXISTS (SELECT 1 FROM kairos_run_requests WHERE request_id = ?)')
      .pluck();
    this.#delete = db.prepare('DELETE FROM kairos_run_requests WHERE request_id = ?');
    const takeAll = db.prepare<[], RequestRow>(
      'DELETE FROM kairos_run_requests RETURNING rowid AS place, request_id, requested_at, data',
    );
    this.take = db.transaction((now: number): RunNowRequest[] => {
      const cutoff = now - RUN_REQUEST_MAX_AGE_MS;
      const rows = takeAll.all().filter((row) => row.requested_at >= cutoff);
      rows.sort((a, b) => a.requested_at - b.requested_at || a.place - b.place);
      return rows.flatMap((row) => this.#read(row));
    }).immediate;
  }

  /** Stores a request serialised already (`data`); a request id stored already is left as it is. */
  insert(request: RunNowRequest, data: string): void {
    this.#insert.run(request.requestId, request.requestedAt, data);
  }

  /** True if any request waits: `take` is then worth a write transaction. */
  any(): boolean {
    return this.#any.get() === 1;
  }

  /** True while the request waits. */
  has(requestId: string): boolean {
    return this.#has.get(requestId) === 1;
  }

  /** Removes a request; true if it was there. */
  cancel(requestId: string): boolean {
    return this.#delete.run(requestId).changes > 0;
  }

  /** The request a row holds, as a list of one; none (logged) if it cannot be read back: it is dropped. */
  #read(row: RequestRow): RunNowRequest[] {
    try {
      if (typeof row.data !== 'string') throw new TypeError(`its data is ${typeof row.data}, not text`);
      return [readRunRequest(JSON.parse(row.data))];
    } catch (error) {
      this.#context.logger.warn(
        { err: error, requestId: row.request_id },
        `SQLiteStore: run request '${row.request_id}' cannot be read back (${(error as Error).message}); it is dropped`,
      );
      return [];
    }
  }
}
