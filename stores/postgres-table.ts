/**
 * Internal to `PostgresStore` (stores/postgres.ts), not a public API: what the store reads and writes in its schema.
 * The dispatch path costs one round trip per step and never one per task: leasing a wake-up's due tasks is one
 * `UPDATE … FOR UPDATE SKIP LOCKED … RETURNING`, releasing them one statement, a tick's run-slot changes one call
 * of `run_slot_ops_v3`. Each change of a task notifies the schema's channel with this instance's token, in the same
 * statement or transaction, so other schedulers re-arm at once (a notification is delivered at commit).
 *
 * A row that cannot be read back is reported once and remembered by id and content (the database's md5 of its
 * data, so the check never depends on how this process encodes text); the due and wake-up queries leave it out
 * until its data changes, and nothing is written to its data or next run time.
 */
import type pg from 'pg';
import { ConflictingIdError, KairosError, SerializationError, TaskLookupError } from '../src/errors.js';
import { deserializeTaskBody, parseTaskText, serializeTaskBody } from '../src/serialization.js';
import {
  type AfterTriggerEntry,
  compareTaskRecords,
  type RunSlotAnswer,
  type StoreContext,
  type TaskChange,
  type TaskRecord,
  type TaskRelease,
} from '../src/store.js';
import { AFTER_CANDIDATE, type Queryable } from './postgres-schema.js';
import { afterTriggerEntry } from './support/after-triggers.js';
import { BrokenRecords } from './support/broken-records.js';
import type { SlotOp } from './support/slot-batch.js';

/** A task row as the queries return it (`next_run_time` as a float8, so the driver gives a number). */
interface TaskRow {
  id: string;
  next_run_time: number | null;
  data: string;
  /** md5 of `data`, computed by the database: the content a broken row is remembered by. */
  data_hash: string;
}

/** A task row with its lease. */
interface LeasedTaskRow extends TaskRow {
  lease_owner: string | null;
  lease_run_time: number | null;
  lease_held: boolean;
  /** The latest run time a release of the task said was dispatched. */
  last_run_time: number | null;
}

/**
 * The latest scheduled time of a task that was dispatched or is being dispatched: a change must not set the next
 * run time at or before it. Besides the time of a live lease, the store keeps the last time released, because the
 * schedulers sharing it run on several machines: a change computed from a clock a few seconds behind would
 * otherwise schedule a time that another machine ran already.
 */
function latestDispatched(row: LeasedTaskRow): number | null {
  const leased = row.lease_owner !== null && !row.lease_held ? row.lease_run_time : null;
  if (leased === null) return row.last_run_time;
  return row.last_run_time === null ? leased : Math.max(leased, row.last_run_time);
}

/** Where a store's rows are, and how its changes are notified. */
export interface TableSetup {
  pool: pg.Pool;
  schema: string;
  context: StoreContext;
  /** The notification channel and this instance's token (the payload of its notifications). */
  channel: string;
  token: string;
  /** How long a statement may take before it fails, in ms. */
  queryTimeoutMs: number;
}

const END_LEASE = 'lease_owner = NULL, lease_expires_at = NULL, lease_run_time = NULL, lease_held = false';
/** A new version of a task ends a hold on it (it changed, so it is worth trying again); a lease stays. */
const END_HOLD =
  'lease_owner = CASE WHEN lease_held THEN NULL ELSE lease_owner END, ' +
  'lease_expires_at = CASE WHEN lease_held THEN NULL ELSE lease_expires_at END, ' +
  'lease_run_time = CASE WHEN lease_held THEN NULL ELSE lease_run_time END, lease_held = false';
const COLUMNS = 'id, next_run_time::float8 AS next_run_time, data, md5(data) AS data_hash';

/** The tasks and run slots of one open store. */
export class TaskTable {
  readonly #pool: pg.Pool;
  readonly #context: StoreContext;
  readonly #schema: string;
  readonly #tasks: string;
  readonly #slots: string;
  readonly #slotTags: string;
  readonly #tagLimits: string;
  /** `$n` parameters for the channel and the token, appended to a statement's own. */
  readonly #notifyValues: [string, string];
  /** How long a statement may take before it fails (client side: a silently dead connection is noticed). */
  readonly #queryTimeoutMs: number;
  /** Rows known to be unreadable, by id, with the md5 of the data they were found unreadable in. */
  readonly #broken = new BrokenRecords();
  /** md5s of the known broken rows' data, by id, for the queries that leave them out. */
  readonly #brokenKeys = new Map<string, string>();

  constructor(setup: TableSetup) {
    this.#pool = setup.pool;
    this.#context = setup.context;
    this.#schema = setup.schema;
    this.#tasks = `"${setup.schema}".tasks`;
    this.#slots = `"${setup.schema}".run_slots`;
    this.#slotTags = `"${setup.schema}".run_slot_tags`;
    this.#tagLimits = `"${setup.schema}".tag_limits`;
    this.#notifyValues = [setup.channel, setup.token];
    this.#queryTimeoutMs = setup.queryTimeoutMs;
  }

  /** Inserts a task; an existing id is a `ConflictingIdError`. Notifies. */
  async insert(record: TaskRecord): Promise<void> {
    const data = JSON.stringify(serializeTaskBody(record));
    const { rowCount } = await this.#query(
      this.#pool,
      `WITH added AS (
         INSERT INTO ${this.#tasks} (id, next_run_time, data) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING RETURNING id)
       SELECT pg_notify($4, $5) FROM added`,
      [record.id, record.nextRunTime, data, ...this.#notifyValues],
    );
    if (rowCount === 0) throw new ConflictingIdError(record.id, this.#context.alias);
  }

  /** The readable task with this id, if any. */
  async get(id: string): Promise<TaskRecord | undefined> {
    const { rows } = await this.#query<TaskRow>(
      this.#pool,
      `SELECT ${COLUMNS} FROM ${this.#tasks} WHERE id = $1`,
      [id],
    );
    const row = rows[0];
    return row === undefined ? undefined : (this.#readRow(row) ?? undefined);
  }

  /** Every readable task, sorted; reads every row. */
  async all(): Promise<TaskRecord[]> {
    const { rows } = await this.#query<TaskRow>(this.#pool, `SELECT ${COLUMNS} FROM ${this.#tasks}`);
    const records: TaskRecord[] = [];
    for (const row of rows) {
      const record = this.#readRow(row);
      if (record !== null) records.push(record);
    }
    return records.sort(compareTaskRecords);
  }

  /** Reads, changes and writes one task in a transaction, the row locked (`FOR UPDATE`) meanwhile. Notifies. */
  async update(id: string, change: TaskChange): Promise<TaskRecord> {
    return this.#transaction(async (client) => {
      const { rows } = await this.#query<LeasedTaskRow>(
        client,
        `SELECT ${COLUMNS}, lease_owner, lease_run_time::float8 AS lease_run_time, lease_held,
                last_run_time::float8 AS last_run_time
         FROM ${this.#tasks} WHERE id = $1 FOR UPDATE`,
        [id],
      );
      const row = rows[0];
      if (row === undefined) throw new TaskLookupError(id, this.#context.alias);
      const current = this.#readKept(row);
      const updated = change(current, { leasedRunTime: latestDispatched(row) });
      if (updated === current) return current;
      const data = JSON.stringify(serializeTaskBody(updated));
      await this.#query(
        client,
        `WITH changed AS (UPDATE ${this.#tasks} SET next_run_time = $1, data = $2, ${END_HOLD} WHERE id = $3 RETURNING id)
         SELECT pg_notify($4, $5) FROM changed`,
        [updated.nextRunTime, data, id, ...this.#notifyValues],
      );
      return updated;
    });
  }

  /** Removes a readable task and returns it; a row that cannot be read back is kept (`SerializationError`). */
  async remove(id: string): Promise<TaskRecord> {
    return this.#transaction(async (client) => {
      const { rows } = await this.#query<TaskRow>(
        client,
        `SELECT ${COLUMNS} FROM ${this.#tasks} WHERE id = $1 FOR UPDATE`,
        [id],
      );
      const row = rows[0];
      if (row === undefined) throw new TaskLookupError(id, this.#context.alias);
      const record = this.#readKept(row);
      await this.#query(
        client,
        `WITH removed AS (DELETE FROM ${this.#tasks} WHERE id = $1 RETURNING id) SELECT pg_notify($2, $3) FROM removed`,
        [id, ...this.#notifyValues],
      );
      return record;
    });
  }

  /** Removes every readable task and returns their ids; unreadable rows are kept. Reads every row. */
  async removeAll(): Promise<string[]> {
    return this.#transaction(async (client) => {
      const { rows } = await this.#query<TaskRow>(
        client,
        `SELECT ${COLUMNS} FROM ${this.#tasks} ORDER BY id FOR UPDATE`,
      );
      const removed = rows.filter((row) => this.#readRow(row) !== null).map((row) => row.id);
      if (removed.length > 0)
        await this.#query(
          client,
          `WITH removed AS (DELETE FROM ${this.#tasks} WHERE id = ANY($1::text[]) RETURNING id)
           SELECT pg_notify($2, $3) WHERE EXISTS (SELECT 1 FROM removed)`,
          [removed, ...this.#notifyValues],
        );
      return removed;
    });
  }

  /**
   * The earliest instant a due query could return something: the first unleased next run time, or the first
   * expiry of a lease on a scheduled task. Two index reads of one row each, in one statement.
   */
  async earliestWakeup(): Promise<number | null> {
    const { filter, values } = this.#brokenFilter(1);
    const { rows } = await this.#query<{ at: number | null }>(this.#pool, {
      name: filter === '' ? `${this.#schema}.earliest` : undefined,
      text: `SELECT least(
           (SELECT next_run_time FROM ${this.#tasks}
            WHERE next_run_time IS NOT NULL AND lease_owner IS NULL ${filter} ORDER BY next_run_time, id LIMIT 1),
           (SELECT greatest(next_run_time, lease_expires_at) AS at FROM ${this.#tasks}
            WHERE lease_owner IS NOT NULL AND next_run_time IS NOT NULL ${filter} ORDER BY at LIMIT 1)
         )::float8 AS at`,
      values,
    });
    return rows[0]?.at ?? null;
  }

  /**
   * Leases `owner` up to `limit` due tasks (earliest first), skipping rows another transaction has locked: one
   * statement. Rows found unreadable are given back (their lease only) and the query asked again for as many.
   */
  async acquire(owner: string, now: number, expiresAt: number, limit: number): Promise<TaskRecord[]> {
    const records: TaskRecord[] = [];
    for (;;) {
      const { filter, values } = this.#brokenFilter(5);
      const asked = limit - records.length;
      const { rows } = await this.#query<TaskRow>(this.#pool, {
        name: filter === '' ? `${this.#schema}.acquire` : undefined,
        text: `WITH due AS (
             SELECT id FROM ${this.#tasks}
             WHERE next_run_time <= $1 AND (lease_owner IS NULL OR lease_expires_at <= $1) ${filter}
             ORDER BY next_run_time, id LIMIT $4 FOR UPDATE SKIP LOCKED)
           UPDATE ${this.#tasks} AS t
           SET lease_owner = $2, lease_expires_at = $3, lease_run_time = t.next_run_time, lease_held = false
           FROM due WHERE t.id = due.id
           RETURNING t.id, t.next_run_time::float8 AS next_run_time, t.data, md5(t.data) AS data_hash`,
        values: [now, owner, expiresAt, asked, ...values],
      });
      const unreadable: string[] = [];
      for (const row of rows) {
        const record = this.#readRow(row);
        if (record === null) unreadable.push(row.id);
        else records.push(record);
      }
      if (unreadable.length === 0) break;
      await this.#giveBack(owner, unreadable);
      if (records.length >= limit || rows.length < asked) break;
    }
    return records.sort(compareTaskRecords);
  }

  /**
   * Ends `owner`'s leases on rows found unreadable at `acquire` (their data and next run time stay as they are),
   * locking them in id order, as `removeAll` does, so the two never deadlock. A failure is logged, not thrown: the
   * tasks leased with them are returned all the same, and these leases expire by themselves.
   */
  async #giveBack(owner: string, ids: readonly string[]): Promise<void> {
    try {
      await this.#query(
        this.#pool,
        `UPDATE ${this.#tasks} SET ${END_LEASE} WHERE id IN (
           SELECT id FROM ${this.#tasks} WHERE id = ANY($1::text[]) AND lease_owner = $2 ORDER BY id FOR UPDATE)`,
        [ids, owner],
      );
    } catch (error) {
      this.#context.logger.warn(
        { err: error, ids },
        'PostgresStore: giving back the leases of unreadable rows failed',
      );
    }
  }

  /**
   * Ends `owner`'s leases in one statement (see `TaskStore.releaseTasks`); a release sets the next run time only
   * if it is still the one the task was acquired with. Notifies if `notify` (a task due before the lease's
   * expiry, which other schedulers armed their timers for).
   */
  async release(owner: string, releases: readonly TaskRelease[], notify: boolean): Promise<string[]> {
    const ids: string[] = [];
    const kinds: string[] = [];
    const times: Array<number | null> = [];
    for (const item of releases) {
      ids.push(item.id);
      if ('holdUntil' in item) {
        kinds.push('hold');
        times.push(item.holdUntil);
      } else if (item.nextRunTime === 'remove') {
        kinds.push('remove');
        times.push(null);
      } else {
        kinds.push('set');
        times.push(item.nextRunTime);
      }
    }
    const { rows } = await this.#query<{ id: string | null }>(this.#pool, {
      name: `${this.#schema}.release`,
      text: `WITH r AS (SELECT * FROM unnest($2::text[], $3::text[], $4::bigint[]) AS r(id, kind, t)),
         removed AS (
           DELETE FROM ${this.#tasks} AS t USING r
           WHERE t.id = r.id AND r.kind = 'remove' AND t.lease_owner = $1
             AND t.next_run_time IS NOT DISTINCT FROM t.lease_run_time
           RETURNING t.id),
         updated AS (
           UPDATE ${this.#tasks} AS t SET
             next_run_time = CASE WHEN r.kind = 'set' AND t.next_run_time IS NOT DISTINCT FROM t.lease_run_time
                                  THEN r.t ELSE t.next_run_time END,
             lease_owner = CASE WHEN r.kind = 'hold' THEN t.lease_owner END,
             lease_expires_at = CASE WHEN r.kind = 'hold' THEN r.t END,
             lease_run_time = CASE WHEN r.kind = 'hold' THEN t.lease_run_time END,
             lease_held = (r.kind = 'hold'),
             last_run_time = CASE WHEN r.kind = 'hold' THEN t.last_run_time
                                  ELSE greatest(t.last_run_time, t.lease_run_time) END
           FROM r
           WHERE t.id = r.id AND t.lease_owner = $1
             AND (r.kind <> 'remove' OR t.next_run_time IS DISTINCT FROM t.lease_run_time)
           RETURNING t.id),
         notified AS (SELECT pg_notify($6, $7) WHERE $5::boolean)
       SELECT id FROM removed UNION ALL SELECT id FROM updated UNION ALL SELECT NULL FROM notified`,
      values: [owner, ids, kinds, times, notify, ...this.#notifyValues],
    });
    const held = new Set<string>();
    for (const row of rows) if (row.id !== null) held.add(row.id);
    return ids.filter((id) => held.has(id));
  }

  /**
   * Ends every task lease and frees every run slot (and its tag rows) these owners hold; notifies if there were
   * any (a freed slot may have counted toward a tag with a limit, which other schedulers wait for).
   */
  async endLeasesOf(owners: readonly string[]): Promise<void> {
    await this.#query(
      this.#pool,
      `WITH ended AS (UPDATE ${this.#tasks} SET ${END_LEASE} WHERE lease_owner = ANY($1::text[]) RETURNING id),
         freed AS (DELETE FROM ${this.#slots} WHERE owner = ANY($1::text[]) RETURNING run_id),
         untagged AS (DELETE FROM ${this.#slotTags} AS t USING freed WHERE t.run_id = freed.run_id RETURNING t.tag)
       SELECT pg_notify($2, $3)
       WHERE EXISTS (SELECT 1 FROM ended) OR EXISTS (SELECT 1 FROM freed) OR EXISTS (SELECT 1 FROM untagged)`,
      [owners, ...this.#notifyValues],
    );
  }

  /**
   * Claims and frees run slots in call order, in one round trip (see `run_slot_ops_v3` in postgres-schema.ts): a
   * claim's answer is true, false (maxInstances reached) or the tag at its limit. Notifies (in the same call)
   * when a freed slot counted toward a tag with a limit.
   */
  async slotOps(ops: readonly SlotOp[], now: number): Promise<RunSlotAnswer[]> {
    const { rows } = await this.#query<{ results: RunSlotAnswer[] }>(this.#pool, {
      name: `${this.#schema}.slots_v3`,
      text: `SELECT "${this.#schema}".run_slot_ops_v3($1::jsonb, $2, $3, $4) AS results`,
      values: [JSON.stringify(ops), now, ...this.#notifyValues],
    });
    return (rows[0] as { results: RunSlotAnswer[] }).results;
  }

  /** Extends `owner`'s slots for these runs, and their tag rows; one statement. */
  async renew(owner: string, runIds: readonly string[], expiresAt: number): Promise<void> {
    await this.#query(
      this.#pool,
      `WITH renewed AS (
         UPDATE ${this.#slots} SET expires_at = $1 WHERE owner = $2 AND run_id = ANY($3::text[])
         RETURNING run_id, tagged)
       UPDATE ${this.#slotTags} AS t SET expires_at = $1 FROM renewed WHERE renewed.tagged AND t.run_id = renewed.run_id`,
      [expiresAt, owner, runIds],
    );
  }

  /** Every tag's concurrency limit; one statement. */
  async limits(): Promise<Record<string, number>> {
    const { rows } = await this.#query<{ tag: string; max_running: number }>(
      this.#pool,
      `SELECT tag, max_running FROM ${this.#tagLimits} ORDER BY tag`,
    );
    return Object.fromEntries(rows.map((row) => [row.tag, row.max_running]));
  }

  /**
   * Sets (or, with null, removes) a tag's limit; notifies if that changed it, in the same statement (the other
   * schedulers' runs waiting for the tag may start now, or must now wait).
   */
  async setLimit(tag: string, limit: number | null): Promise<void> {
    if (limit === null)
      await this.#query(
        this.#pool,
        `WITH removed AS (DELETE FROM ${this.#tagLimits} WHERE tag = $1 RETURNING tag)
         SELECT pg_notify($2, $3) FROM removed`,
        [tag, ...this.#notifyValues],
      );
    else
      await this.#query(
        this.#pool,
        `WITH changed AS (
           INSERT INTO ${this.#tagLimits} AS l (tag, max_running) VALUES ($1, $2)
           ON CONFLICT (tag) DO UPDATE SET max_running = EXCLUDED.max_running
             WHERE l.max_running <> EXCLUDED.max_running
           RETURNING tag)
         SELECT pg_notify($3, $4) FROM changed`,
        [tag, limit, ...this.#notifyValues],
      );
  }

  /**
   * The tasks whose stored trigger is an after-trigger: one read of the `tasks_after` partial index (the rows whose
   * data holds `"type":"after"`), each candidate's JSON then looked at here. A candidate that does not parse, or
   * whose text matched elsewhere (in its args), is left out; a row that cannot be read back otherwise is not
   * reported here (the due queries do that).
   */
  async afterTriggers(): Promise<AfterTriggerEntry[]> {
    const { rows } = await this.#query<{ id: string; data: string }>(this.#pool, {
      name: `${this.#schema}.after`,
      text: `SELECT id, data FROM ${this.#tasks} WHERE ${AFTER_CANDIDATE} ORDER BY id`,
    });
    const entries: AfterTriggerEntry[] = [];
    for (const row of rows) {
      const entry = afterTriggerEntry(row.id, row.data);
      if (entry !== null) entries.push(entry);
    }
    return entries;
  }

  /** The record a row holds, or null if it cannot be read back (reported once, remembered, never written). */
  #readRow(row: TaskRow): TaskRecord | null {
    const record = this.#broken.read(
      row.id,
      row.data_hash,
      () => deserializeTaskBody(parseTaskText(row.data, row.id), row.id, row.next_run_time),
      this.#context,
    );
    if (record === null) this.#brokenKeys.set(row.id, row.data_hash);
    else this.#brokenKeys.delete(row.id);
    return record;
  }

  /** The record a row holds, for a change to it; a row that cannot be read back is a `SerializationError`. */
  #readKept(row: TaskRow): TaskRecord {
    const record = this.#readRow(row);
    if (record === null)
      throw new SerializationError(
        `task '${row.id}' in schema '${this.#schema}' cannot be read back; it is kept untouched`,
      );
    return record;
  }

  /**
   * The condition that leaves out the known broken rows (empty when there are none), with its parameter, which
   * is `$first` of the statement: a row is left out while the md5 of its data is the one it was broken in.
   */
  #brokenFilter(first: number): { filter: string; values: string[][] } {
    if (this.#brokenKeys.size === 0) return { filter: '', values: [] };
    const keys = [...this.#brokenKeys].map(([id, hash]) => `${id}:${hash}`);
    return { filter: `AND NOT (id || ':' || md5(data)) = ANY($${first}::text[])`, values: [keys] };
  }

  /** Runs one statement with the store's query timeout (see `timedQuery`). */
  #query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    on: Queryable,
    statement: string | pg.QueryConfig,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    return timedQuery<R>(on, this.#queryTimeoutMs, statement, values);
  }

  /** Runs `work` in a transaction on one client of the pool; rolls back if it throws. */
  async #transaction<T>(work: (client: Queryable) => Promise<T>): Promise<T> {
    return withPoolClient(this.#pool, async (client) => {
      await this.#query(client, 'BEGIN ISOLATION LEVEL READ COMMITTED');
      try {
        const result = await work(client);
        await this.#query(client, 'COMMIT');
        return result;
      } catch (error) {
        await this.#query(client, 'ROLLBACK').catch(() => {});
        throw error;
      }
    });
  }
}

/**
 * Runs one statement with a query timeout of `timeoutMs` (`query_timeout`, checked by the driver: a connection
 * that died silently, without a reset, fails the statement instead of hanging it). The store's tables
 * (tasks, run history, run requests) are read and written through here.
 */
export function timedQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(
  on: Queryable,
  timeoutMs: number,
  statement: string | pg.QueryConfig,
  values?: unknown[],
): Promise<pg.QueryResult<R>> {
  const config = typeof statement === 'string' ? { text: statement, values } : statement;
  const timed: pg.QueryConfig & { query_timeout: number } = { ...config, query_timeout: timeoutMs };
  return on.query<R>(timed);
}

/**
 * Runs `work` on one client checked out of the pool, and gives it back; destroyed if `work` failed other than with
 * a kairos error (a task not found, a record that cannot be read: thrown after a rollback), since its connection
 * may be broken or left inside a transaction. While checked out, a client has no `error` listener of the pool's:
 * a connection lost between two queries would then be thrown as an uncaught `error` event and end the process,
 * so one is attached meanwhile (the next query fails, and says why).
 */
export async function withPoolClient<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  const ignore = () => {};
  client.on('error', ignore);
  let failed = false;
  try {
    return await work(client);
  } catch (error) {
    failed = !(error instanceof KairosError);
    throw error;
  } finally {
    client.off('error', ignore);
    client.release(failed);
  }
}
