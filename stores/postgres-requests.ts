/**
 * Internal to `PostgresStore` (stores/postgres.ts), not a public API: run-now requests, in `<schema>.run_requests`
 * (see postgres-schema.ts), each operation one statement. A request is notified on the schema's channel with a
 * payload that is no store instance's token, so every store's watch wakes for it, the requesting instance's own
 * included (the `kairos` command's store is not a scheduler's, and a scheduler may share an instance with it).
 * Taking requests deletes them in the same statement that returns them, so each one reaches one scheduler only.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { RUN_REQUEST_MAX_AGE_MS, type RunNowRequest } from '../src/history.js';
import { type TableSetup, timedQuery } from './postgres-table.js';
import { isStorableKey } from './postgres-text.js';
import { readRunRequest, storedText } from './support/run-records.js';

/** The payload of a request's notification: never a store instance's token (those are UUIDs). */
export const RUN_REQUEST_PAYLOAD = 'run-request';

/** Orders requests oldest first, ties by id. */
function compareRequests(a: RunNowRequest, b: RunNowRequest): number {
  return (
    a.requestedAt - b.requestedAt || (a.requestId < b.requestId ? -1 : a.requestId > b.requestId ? 1 : 0)
  );
}

/** The run requests of one open store. */
export class RunRequestTable {
  readonly #pool: pg.Pool;
  readonly #logger: Logger;
  readonly #schema: string;
  readonly #requests: string;
  readonly #channel: string;
  readonly #queryTimeoutMs: number;

  constructor(setup: TableSetup) {
    this.#pool = setup.pool;
    this.#logger = setup.context.logger;
    this.#schema = setup.schema;
    this.#requests = `"${setup.schema}".run_requests`;
    this.#channel = setup.channel;
    this.#queryTimeoutMs = setup.queryTimeoutMs;
  }

  /**
   * Stores a request and notifies every watcher, in one statement. A request id stored already is left as it is
   * (a retried request is stored once) and not notified again. The caller checks that the id can be stored; a
   * request that is not JSON (a BigInt in its args) is a `SerializationError`, and nothing is stored.
   */
  async request(request: RunNowRequest): Promise<void> {
    await timedQuery(
      this.#pool,
      this.#queryTimeoutMs,
      `WITH added AS (
         INSERT INTO ${this.#requests} (request_id, requested_at, data) VALUES ($1, $2, $3)
         ON CONFLICT (request_id) DO NOTHING RETURNING 1)
       SELECT pg_notify($4, $5) FROM added`,
      [
        request.requestId,
        Math.floor(request.requestedAt),
        storedText(request),
        this.#channel,
        RUN_REQUEST_PAYLOAD,
      ],
    );
  }

  /**
   * Deletes every request and returns those made at or after `now - RUN_REQUEST_MAX_AGE_MS`, oldest first: one
   * statement, so that of two schedulers taking at once each request reaches one (the second one's delete waits
   * for the first's and then finds the rows gone). Unreadable rows are deleted with the others, and logged.
   */
  async take(now: number): Promise<RunNowRequest[]> {
    const { rows } = await timedQuery<{ request_id: string; data: string }>(
      this.#pool,
      this.#queryTimeoutMs,
      {
        name: `${this.#schema}.take_requests`,
        text: `DELETE FROM ${this.#requests} RETURNING request_id, data`,
      },
    );
    const oldest = now - RUN_REQUEST_MAX_AGE_MS;
    const taken: RunNowRequest[] = [];
    for (const row of rows) {
      const request = this.#read(row.request_id, row.data);
      if (request === null) continue;
      if (request.requestedAt >= oldest) taken.push(request);
      else
        this.#logger.debug(
          { schema: this.#schema, requestId: request.requestId, taskId: request.taskId },
          'PostgresStore: a run request no scheduler took in time was dropped',
        );
    }
    return taken.sort(compareRequests);
  }

  /** True while the request is stored (no scheduler took it, nobody cancelled it). */
  async has(requestId: string): Promise<boolean> {
    if (!isStorableKey(requestId)) return false;
    const { rows } = await timedQuery<{ found: boolean }>(
      this.#pool,
      this.#queryTimeoutMs,
      `SELECT EXISTS (SELECT 1 FROM ${this.#requests} WHERE request_id = $1) AS found`,
      [requestId],
    );
    return rows[0]?.found === true;
  }

  /** Deletes the request; true if it was there. */
  async cancel(requestId: string): Promise<boolean> {
    if (!isStorableKey(requestId)) return false;
    const { rowCount } = await timedQuery(
      this.#pool,
      this.#queryTimeoutMs,
      `DELETE FROM ${this.#requests} WHERE request_id = $1`,
      [requestId],
    );
    return (rowCount ?? 0) > 0;
  }

  /** The request a row holds, or null if it cannot be read back (logged). */
  #read(requestId: string, data: string): RunNowRequest | null {
    try {
      return readRunRequest(JSON.parse(data));
    } catch (error) {
      this.#logger.warn(
        { err: error, schema: this.#schema, requestId },
        'PostgresStore: a stored run request cannot be read back; it is dropped',
      );
      return null;
    }
  }
}
