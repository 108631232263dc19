/**
 * Internal to `PostgresStore` (stores/postgres.ts), not a public API: the store's SQL objects, all in one schema of
 * their own (default `kairos`). Their migrations, the check that a schema is kairos' own and of a version this
 * release knows, run under an advisory lock so that schedulers starting at once never race; the name of the
 * notification channel; and the expression of "now" in the database.
 *
 * Objects (a DBA can review them here and in the README):
 * - `<schema>.schema_version`: one row, the schema version;
 * - `<schema>.tasks`: one row per task, `next_run_time` (epoch ms) indexed, the task as JSON text in `data`, the
 *   task lease (owner, expiry, the run time it was taken for, whether it is a hold), and the last run time
 *   released (changes never schedule at or before it, whatever the clock of the machine making them);
 * - `<schema>.run_slots`: one row per run in progress (maxInstances across schedulers), with its expiry;
 * - `<schema>.run_slot_ops(jsonb, bigint)`: applies a batch of run-slot claims and releases in call order, in
 *   one round trip, under advisory transaction locks on the claimed tasks (128 buckets) so that concurrent claims
 *   never exceed `maxInstances`;
 * - `<schema>.runs` (version 2): the run history, one row per run record, numbered in appending order (`seq`),
 *   with the record as JSON text in `data` and the columns queries filter and order by (`task_id`, `ended_at`,
 *   `outcome`); indexed by task and by end time;
 * - `<schema>.append_runs(text[], text[], bigint[], text[], text[], bigint)` (version 2): appends a batch of run
 *   records in one round trip and trims each task it names to its newest records, under advisory transaction
 *   locks on the named tasks (128 buckets, as for run slots) so that concurrent appends never escape the trim;
 * - `<schema>.run_requests` (version 2): run-now requests of the `kairos` command, waiting for a scheduler;
 * - `<schema>.tag_limits` (version 3): the tag concurrency limits, one row per tag with a limit;
 * - `<schema>.run_slot_tags` (version 3): one row per tag of each live run slot (every tag of its task, limited
 *   or not, so that a limit set later counts the runs in progress), with the slot's expiry; indexed by tag; and
 *   `run_slots.tagged`, true for a slot that has such rows;
 * - `<schema>.tasks_after` (version 3): a partial index of the tasks whose data holds `"type":"after"` (the
 *   candidates for after-triggers; a text match, so a corrupt row never fails it);
 * - `<schema>.run_slot_ops_v3(jsonb, bigint, text, text)` (version 3): what this release calls instead of
 *   `run_slot_ops`, which stays as it was for processes of the previous release sharing a migrated schema (their
 *   slots have no tag rows): the same batch, with tag limits checked under advisory locks on the claimed tags
 *   too, and a notification when a freed slot counted toward a tag with a limit.
 */
import type pg from 'pg';
import { SerializationError, ValueError } from '../src/errors.js';
import { describeValue } from '../src/validate.js';

/** The schema version this release creates; older ones are migrated at `start()`. */
export const POSTGRES_SCHEMA_VERSION = 3;

/** The default schema. */
export const DEFAULT_SCHEMA = 'kairos';

/** A schema name kairos accepts: a plain lower-case identifier that leaves room for the channel name. */
const SCHEMA_NAME = /^(?!pg_)[a-z_][a-z0-9_]{0,47}$/;

/**
 * Checks a schema name.
 * @throws ValueError naming the value.
 */
export function checkSchemaName(schema: unknown): string {
  if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema))
    throw new ValueError(
      `PostgresStore: schema must be a lower-case SQL identifier of at most 48 characters (letters, digits, _), not starting with pg_, got ${describeValue(schema)}`,
    );
  return schema;
}

/** The channel a store's changes are notified on: named for its schema. */
export function channelName(schema: string): string {
  return `${schema}.changes`;
}

/** The database's clock, in epoch ms (read at each statement, not at the start of its transaction). */
export const DB_NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::float8';

/**
 * The `run_slot_ops(ops, now_ms)` function: applies a batch of run-slot claims and releases in call order, claims
 * of one task excluding each other through one of 128 advisory locks (`hashtext(task id) & 127`).
 */
function runSlotOps(s: string): string {
  return `
    CREATE OR REPLACE FUNCTION "${s}".run_slot_ops(ops jsonb, now_ms bigint) RETURNS boolean[]
    LANGUAGE plpgsql AS $fn$
    DECLARE
      op jsonb;
      bucket integer;
      live bigint;
      results boolean[] := '{}';
    BEGIN
      -- Claims for one task exclude each other: each task maps to one of 128 advisory locks, taken in a fixed
      -- order (no deadlock between two batches) and held to commit. At most 128 locks a transaction, whatever the
      -- batch size, so a burst never fills the server's lock table (max_locks_per_transaction).
      FOR bucket IN SELECT DISTINCT hashtext(o->'claim'->>'taskId') & 127 FROM jsonb_array_elements(ops) AS o
                    WHERE o ? 'claim' ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(hashtext('${s}.run_slots'), bucket);
      END LOOP;
      FOR op IN SELECT value FROM jsonb_array_elements(ops) LOOP
        IF op ? 'claim' THEN
          DELETE FROM "${s}".run_slots
            WHERE task_id = op->'claim'->>'taskId' AND expires_at <= now_ms;
          SELECT count(*) INTO live FROM "${s}".run_slots WHERE task_id = op->'claim'->>'taskId';
          IF live >= (op->'claim'->>'maxInstances')::numeric THEN
            results := results || false;
          ELSE
            INSERT INTO "${s}".run_slots (run_id, task_id, owner, expires_at) VALUES (
              op->'claim'->>'runId', op->'claim'->>'taskId', op->'claim'->>'owner',
              (op->'claim'->>'expiresAt')::bigint);
            results := results || true;
          END IF;
        ELSE
          DELETE FROM "${s}".run_slots WHERE run_id = op->>'runId';
          results := results || FOUND;
        END IF;
      END LOOP;
      RETURN results;
    END
    $fn$;`;
}

/**
 * The predicate of the `tasks_after` index (the rows that may hold an after-trigger: task bodies are written by
 * `JSON.stringify`, without spaces): a query must say exactly this for the planner to use the index.
 */
export const AFTER_CANDIDATE = `data LIKE '%"type":"after"%'`;

/**
 * The `run_slot_ops_v3(ops, now_ms, channel, token)` function: `run_slot_ops` with tags. A claim answers true
 * (taken), false (the task has `maxInstances` live slots) or the first of its tags at its limit (a string), as a
 * jsonb array; a release answers whether there was a slot. Claims exclude each other through the 128 advisory
 * locks of their tasks (as in `run_slot_ops`, same keys) and 128 of their tags (`hashtext(tag) & 127`, in a key
 * space of their own), all taken in one order, (space, bucket) ascending, so two batches never deadlock, this
 * function's or `run_slot_ops`' (whose locks are a subset, taken in that order). A claim without tags costs what
 * it costs in `run_slot_ops`. A batch that freed a slot counting toward a tag with a limit notifies `channel`
 * once, with `token`.
 */
function runSlotOpsV3(s: string): string {
  return `
    CREATE OR REPLACE FUNCTION "${s}".run_slot_ops_v3(ops jsonb, now_ms bigint, channel text, token text)
    RETURNS jsonb
    LANGUAGE plpgsql AS $fn$
    DECLARE
      op jsonb;
      claim jsonb;
      space integer;
      bucket integer;
      live bigint;
      full_tag text;
      claim_tags text[];
      limited boolean;
      was_tagged boolean;
      notify boolean := false;
      -- A jsonb[] grows in place; a jsonb array would be copied at each answer (quadratic in the batch).
      results jsonb[] := '{}';
    BEGIN
      FOR space, bucket IN
        SELECT DISTINCT k.space, k.bucket FROM (
          SELECT hashtext('${s}.run_slots') AS space, hashtext(o->'claim'->>'taskId') & 127 AS bucket
            FROM jsonb_array_elements(ops) AS o WHERE o ? 'claim'
          UNION ALL
          SELECT hashtext('${s}.run_slot_tags'), hashtext(t) & 127
            FROM jsonb_array_elements(ops) AS o,
                 jsonb_array_elements_text(CASE WHEN jsonb_typeof(o->'claim'->'tags') = 'array'
                                                THEN o->'claim'->'tags' ELSE '[]' END) AS t
            WHERE o ? 'claim') AS k
        ORDER BY 1, 2 LOOP
        PERFORM pg_advisory_xact_lock(space, bucket);
      END LOOP;
      FOR op IN SELECT value FROM jsonb_array_elements(ops) LOOP
        IF op ? 'claim' THEN
          claim := op->'claim';
          DELETE FROM "${s}".run_slots WHERE task_id = claim->>'taskId' AND expires_at <= now_ms;
          SELECT count(*) INTO live FROM "${s}".run_slots WHERE task_id = claim->>'taskId';
          IF live >= (claim->>'maxInstances')::numeric THEN
            results := results || 'false'::jsonb;
            CONTINUE;
          END IF;
          IF jsonb_typeof(claim->'tags') = 'array' AND jsonb_array_length(claim->'tags') > 0 THEN
            claim_tags := ARRAY(SELECT jsonb_array_elements_text(claim->'tags'));
            -- One statement: prunes the expired rows of the claim's tags (tag = ANY(array): an index scan on
            -- (tag, expires_at), whatever plan the session cached) and finds the first of its tags, in the task's
            -- order, whose live slots reach its limit (reading at most max_running rows of a tag). Both see the
            -- same snapshot; the check counts live rows only, which the prune leaves alone.
            WITH pruned AS (
              DELETE FROM "${s}".run_slot_tags WHERE tag = ANY(claim_tags) AND expires_at <= now_ms)
            SELECT t.tag INTO full_tag
              FROM unnest(claim_tags) WITH ORDINALITY AS t(tag, n)
              JOIN "${s}".tag_limits AS l ON l.tag = t.tag
              WHERE (SELECT count(*) FROM (
                       SELECT 1 FROM "${s}".run_slot_tags AS r
                       WHERE r.tag = t.tag AND r.expires_at > now_ms LIMIT l.max_running) AS running)
                    >= l.max_running
              ORDER BY t.n LIMIT 1;
            IF full_tag IS NOT NULL THEN
              results := results || to_jsonb(full_tag);
              CONTINUE;
            END IF;
            WITH slot AS (
              INSERT INTO "${s}".run_slots (run_id, task_id, owner, expires_at, tagged) VALUES (
                claim->>'runId', claim->>'taskId', claim->>'owner', (claim->>'expiresAt')::bigint, true)
              RETURNING run_id, expires_at)
            INSERT INTO "${s}".run_slot_tags (run_id, tag, expires_at)
              SELECT slot.run_id, t, slot.expires_at FROM slot, unnest(claim_tags) AS t
              ON CONFLICT DO NOTHING;
          ELSE
            INSERT INTO "${s}".run_slots (run_id, task_id, owner, expires_at) VALUES (
              claim->>'runId', claim->>'taskId', claim->>'owner', (claim->>'expiresAt')::bigint);
          END IF;
          results := results || 'true'::jsonb;
        ELSE
          -- Only a slot claimed with tags has tag rows: freeing any other costs what it cost before tags.
          DELETE FROM "${s}".run_slots WHERE run_id = op->>'runId' RETURNING tagged INTO was_tagged;
          results := results || to_jsonb(FOUND);
          IF was_tagged THEN
            WITH freed AS (DELETE FROM "${s}".run_slot_tags WHERE run_id = op->>'runId' RETURNING tag)
              SELECT EXISTS (SELECT 1 FROM freed JOIN "${s}".tag_limits AS l ON l.tag = freed.tag) INTO limited;
            notify := notify OR limited;
          END IF;
        END IF;
      END LOOP;
      IF notify THEN
        PERFORM pg_notify(channel, token);
      END IF;
      RETURN to_jsonb(results);
    END
    $fn$;`;
}

/**
 * `MIGRATIONS[n](schema)` upgrades schema version n to n + 1 (0: no kairos objects yet). A later release appends
 * one entry and bumps `POSTGRES_SCHEMA_VERSION`; `start()` runs the missing ones in one transaction.
 */
const MIGRATIONS: ReadonlyArray<(schema: string) => string> = [
  (s) => `
    CREATE TABLE "${s}".schema_version (version integer NOT NULL);
    INSERT INTO "${s}".schema_version (version) VALUES (0);
    CREATE TABLE "${s}".tasks (
      id text PRIMARY KEY,
      next_run_time bigint,
      data text NOT NULL,
      lease_owner text,
      lease_expires_at bigint,
      lease_run_time bigint,
      lease_held boolean NOT NULL DEFAULT false,
      last_run_time bigint
    );
    CREATE INDEX tasks_next_run_time ON "${s}".tasks (next_run_time, id) WHERE next_run_time IS NOT NULL;
    CREATE INDEX tasks_leased ON "${s}".tasks (lease_expires_at) WHERE lease_owner IS NOT NULL;
    CREATE TABLE "${s}".run_slots (
      run_id text PRIMARY KEY,
      task_id text NOT NULL,
      owner text NOT NULL,
      expires_at bigint NOT NULL
    );
    CREATE INDEX run_slots_task ON "${s}".run_slots (task_id, expires_at);
    CREATE INDEX run_slots_owner ON "${s}".run_slots (owner);
    ${runSlotOps(s)}`,
  (s) => `
    -- Version 1 bucketed claims with abs(hashtext(id)) % 128, which fails for the id hashing to -2^31.
    ${runSlotOps(s)}
    CREATE TABLE "${s}".runs (
      seq bigserial PRIMARY KEY,
      run_id text NOT NULL UNIQUE,
      task_id text NOT NULL,
      ended_at bigint NOT NULL,
      outcome text NOT NULL,
      data text NOT NULL
    );
    CREATE INDEX runs_task ON "${s}".runs (task_id, seq);
    CREATE INDEX runs_ended ON "${s}".runs (ended_at, seq);
    CREATE TABLE "${s}".run_requests (
      request_id text PRIMARY KEY,
      requested_at bigint NOT NULL,
      data text NOT NULL
    );
    CREATE FUNCTION "${s}".append_runs(
      run_ids text[], task_ids text[], ended_ats bigint[], outcomes text[], datas text[], per_task bigint
    ) RETURNS void
    LANGUAGE plpgsql AS $fn$
    DECLARE
      bucket integer;
    BEGIN
      -- Appends for one task exclude each other until commit, so that the trim below sees every row of the task
      -- (one of another transaction not yet committed would escape it): each task maps to one of 128 advisory
      -- locks, taken in a fixed order (no deadlock between two batches), at most 128 a batch. (The bucket is the
      -- hash & 127, not abs(hash) % 128: abs() of the smallest integer a hash can be is out of range.)
      FOR bucket IN SELECT DISTINCT hashtext(t) & 127 FROM unnest(task_ids) AS t ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(hashtext('${s}.runs'), bucket);
      END LOOP;
      -- In the order given, so that seq numbers the records in appending order; a run id stored already (or
      -- twice in the batch) is kept once.
      INSERT INTO "${s}".runs (run_id, task_id, ended_at, outcome, data)
        SELECT r.run_id, r.task_id, r.ended_at, r.outcome, r.data
        FROM unnest(run_ids, task_ids, ended_ats, outcomes, datas)
             WITH ORDINALITY AS r(run_id, task_id, ended_at, outcome, data, n)
        ORDER BY r.n
        ON CONFLICT (run_id) DO NOTHING;
      -- A statement of its own, so that it sees the rows just inserted. The rows are locked in seq order before
      -- they are deleted, as pruning does, so that a trim and a prune never deadlock.
      DELETE FROM "${s}".runs WHERE seq IN (
        SELECT seq FROM "${s}".runs WHERE seq IN (
          SELECT ranked.seq FROM (
            SELECT seq, row_number() OVER (PARTITION BY task_id ORDER BY seq DESC) AS newer
            FROM "${s}".runs WHERE task_id = ANY(task_ids)) AS ranked
          WHERE ranked.newer > per_task)
        ORDER BY seq FOR UPDATE);
    END
    $fn$;`,
  (s) => `
    -- Tag concurrency limits. run_slot_ops (version 2) stays as it is: processes of the previous release sharing
    -- this schema keep calling it, and their slots have no tag rows.
    CREATE TABLE "${s}".tag_limits (
      tag text PRIMARY KEY,
      max_running integer NOT NULL
    );
    CREATE TABLE "${s}".run_slot_tags (
      run_id text NOT NULL,
      tag text NOT NULL,
      expires_at bigint NOT NULL,
      PRIMARY KEY (run_id, tag)
    );
    CREATE INDEX run_slot_tags_tag ON "${s}".run_slot_tags (tag, expires_at);
    -- Whether a slot has tag rows, so that freeing one without looks no further. Slots of the previous release
    -- (run_slot_ops) have none: the default. (A constant default: no rewrite of the table.)
    ALTER TABLE "${s}".run_slots ADD COLUMN tagged boolean NOT NULL DEFAULT false;
    -- A text match, never a cast: a row whose data is not JSON must not fail the migration. Queried with exactly
    -- this predicate (postgres-table.ts, AFTER_CANDIDATE).
    CREATE INDEX tasks_after ON "${s}".tasks (id) WHERE ${AFTER_CANDIDATE};
    ${runSlotOpsV3(s)}`,
];

/** A client of the pool, or the pool itself: what runs a query. */
export type Queryable = Pick<pg.PoolClient, 'query'>;

/**
 * Refuses a schema that holds objects of another application or a newer kairos; reads only, so a refused schema
 * is left as it was. Returns the schema version (0 when the schema is missing or empty).
 */
async function checkOwnership(client: Queryable, schema: string): Promise<number> {
  const { rows } = await client.query<{ relations: string; versioned: boolean }>(
    `SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1)::text AS relations,
            to_regclass(quote_ident($1) || '.schema_version') IS NOT NULL AS versioned`,
    [schema],
  );
  const { relations, versioned } = rows[0] as { relations: string; versioned: boolean };
  if (!versioned) {
    if (Number(relations) > 0)
      throw new SerializationError(
        `PostgresStore: schema '${schema}' holds tables of another application; kairos needs a schema of its own (option schema). It is left untouched`,
      );
    return 0;
  }
  const version = await client.query<{ version: number }>(`SELECT version FROM "${schema}".schema_version`);
  const found = version.rows[0]?.version;
  if (typeof found !== 'number' || version.rows.length !== 1)
    throw new SerializationError(
      `PostgresStore: schema '${schema}' has a schema_version table that is not kairos' (${version.rows.length} rows); it is left untouched`,
    );
  if (found > POSTGRES_SCHEMA_VERSION)
    throw new SerializationError(
      `PostgresStore: schema '${schema}' has version ${found}, written by a newer kairos (this one knows up to ${POSTGRES_SCHEMA_VERSION}); it is left untouched`,
    );
  return found;
}

/**
 * Creates the schema's objects or migrates older ones, in one transaction under an advisory lock on the schema's
 * name: of ten schedulers starting at once, one migrates and the others then find the schema current. `target`
 * (tests only: to build the schema an older release made) stops the migrations at that version.
 */
export async function migrate(
  client: Queryable,
  schema: string,
  target: number = POSTGRES_SCHEMA_VERSION,
): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query("SELECT pg_advisory_xact_lock(hashtext('kairos.migrate'), hashtext($1))", [schema]);
    const version = await checkOwnership(client, schema);
    if (version < target) {
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      for (let from = version; from < target; from++)
        await client.query((MIGRATIONS[from] as (schema: string) => string)(schema));
      await client.query(`UPDATE "${schema}".schema_version SET version = $1`, [target]);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}
