// PostgresStore specifics, against the real test server: options, schema creation under concurrency and refused
// schemas, an unreachable server, a pool of the user's own, unreadable rows, the watch (notifications, safety
// poll, reconnect, close) and close() ending leases. The store contract itself: test/stores/conformance.test.ts.
import { createServer, type Socket } from 'node:net';
import pg from 'pg';
import { pino } from 'pino';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { KairosError, SerializationError, ValueError } from '../../src/errors.js';
import { serializeTaskBody } from '../../src/serialization.js';
import type { StoreContext } from '../../src/store.js';
import { POSTGRES_SCHEMA_VERSION, PostgresStore, type PostgresStoreOptions } from '../../stores/postgres.js';
import { makeRecord, recordingContext, T0 } from '../stores/harness.js';
import { dropSchema, freshSchema, PG_URL, withClient } from '../support/postgres.js';

const schemas: string[] = [];
const stores: PostgresStore[] = [];
const pools: pg.Pool[] = [];

/** A schema of this test's own, dropped after it. */
function newSchema(): string {
  const schema = freshSchema('ktpg');
  schemas.push(schema);
  return schema;
}

/** A store on the test server (closed after the test). */
function open(schema: string, options: Partial<PostgresStoreOptions> = {}): PostgresStore {
  const store = new PostgresStore({ connectionString: PG_URL, schema, maxConnections: 2, ...options });
  stores.push(store);
  return store;
}

async function started(
  schema: string,
  options: Partial<PostgresStoreOptions> = {},
  context: StoreContext = recordingContext().context,
): Promise<PostgresStore> {
  const store = open(schema, options);
  await store.start(context);
  return store;
}

/** A unique application_name, and the test server's connection string that sets it. */
function tagged(): { name: string; url: string } {
  const name = freshSchema('ktapp');
  return { name, url: `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}application_name=${name}` };
}

/** The server's connections with this application_name: their pids and last queries. */
async function connectionsOf(applicationName: string): Promise<Array<{ pid: number; query: string }>> {
  const { rows } = await withClient((client) =>
    client.query<{ pid: number; query: string }>(
      'SELECT pid, query FROM pg_stat_activity WHERE application_name = $1',
      [applicationName],
    ),
  );
  return rows;
}

/** Everything in a schema: whether it exists, its relations, columns, functions and every row of its tables. */
async function dumpSchema(schema: string): Promise<unknown> {
  return withClient(async (client) => {
    const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    const relations = await client.query<{ relname: string; relkind: string }>(
      `SELECT c.relname, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 ORDER BY 1`,
      [schema],
    );
    const columns = await client.query(
      `SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns
       WHERE table_schema = $1 ORDER BY 1, 2`,
      [schema],
    );
    const functions = await client.query(
      `SELECT p.proname, md5(p.prosrc) AS source FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname = $1 ORDER BY 1`,
      [schema],
    );
    const rows: Record<string, string[]> = {};
    for (const { relname, relkind } of relations.rows) {
      if (relkind !== 'r') continue;
      const table = await client.query<{ row: string }>(
        `SELECT to_jsonb(t)::text AS row FROM "${schema}"."${relname}" AS t ORDER BY 1`,
      );
      rows[relname] = table.rows.map(({ row }) => row);
    }
    return {
      exists: exists.rowCount === 1,
      relations: relations.rows,
      columns: columns.rows,
      functions: functions.rows,
      rows,
    };
  });
}

/** The raw row of a task, every column. */
async function rawRow(schema: string, id: string): Promise<string | undefined> {
  const { rows } = await withClient((client) =>
    client.query<{ row: string }>(
      `SELECT to_jsonb(t)::text AS row FROM "${schema}".tasks AS t WHERE id = $1`,
      [id],
    ),
  );
  return rows[0]?.row;
}

/** The types of the resources keeping the event loop alive, counted. */
function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

/** The resources (sockets, timers…) alive now that were not before: those a test left behind. */
function resourcesAdded(before: Record<string, number>): Record<string, number> {
  const added: Record<string, number> = {};
  for (const [type, count] of Object.entries(activeResources()))
    if (count > (before[type] ?? 0)) added[type] = count - (before[type] ?? 0);
  return added;
}

/** A pino logger writing JSON lines to memory, and its entries parsed. */
function memoryLogger(level: pino.Level): {
  logger: pino.Logger;
  entries: () => Array<{ level: number; msg: string }>;
} {
  const lines: string[] = [];
  const logger = pino({ level }, { write: (line: string) => void lines.push(line) });
  return {
    logger,
    entries: () =>
      lines
        .join('')
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as { level: number; msg: string }),
  };
}

const WARN = 40;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

afterEach(async () => {
  vi.restoreAllMocks();
  for (const store of stores.splice(0)) await store.close().catch(() => {});
  for (const pool of pools.splice(0)) await pool.end().catch(() => {});
  for (const schema of schemas.splice(0)) await dropSchema(schema);
});

describe.skipIf(inject('postgresUnreachable') !== null)('PostgresStore', () => {
  describe('options, checked in the constructor', () => {
    /** Expects `options` to be refused with a ValueError whose message matches every pattern. */
    function refused(options: unknown, ...patterns: Array<string | RegExp>): void {
      let error: unknown;
      try {
        new PostgresStore(options as PostgresStoreOptions);
      } catch (caught) {
        error = caught;
      }
      const shown = typeof options === 'object' && options !== null ? Object.keys(options) : options;
      expect(error, `options ${String(shown)}`).toBeInstanceOf(ValueError);
      for (const pattern of patterns) expect((error as Error).message).toMatch(pattern);
    }

    it('a non-object, or an unknown key (named)', () => {
      refused(null, /PostgresStore: options must be an object/, /got null/);
      refused('postgres://x', /options must be an object/, /got "postgres:\/\/x"/);
      refused(42, /got 42/);
      refused([PG_URL], /options must be an object/);
      refused({ connectionString: PG_URL, poolSize: 3 }, "unknown option 'poolSize'");
      refused({ connectionString: PG_URL, Schema: 'k' }, "unknown option 'Schema'");
    });

    // Bug (reported): the message comes from the file stores' shared guard and suggests `{ path }`, an option
    // PostgresStore does not have.
    it('the non-object message shows the options PostgresStore has, not { path }', () => {
      let message = '';
      try {
        new PostgresStore(null as unknown as PostgresStoreOptions);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/^PostgresStore: options must be an object/);
      expect(message).not.toContain('path');
    });

    it('neither or both of connectionString and pool; an empty connectionString; a pool that is no pool', () => {
      const pool = new pg.Pool({ connectionString: PG_URL });
      pools.push(pool);
      refused({}, /either connectionString or pool/);
      refused({ schema: 'kairos' }, /either connectionString or pool/);
      refused({ connectionString: PG_URL, pool }, /either connectionString or pool/, /not both/);
      refused({ connectionString: '' }, /connectionString must be a non-empty string, got ""/);
      refused({ connectionString: '   ' }, /connectionString/, /got " {3}"/);
      refused({ connectionString: 42 }, /connectionString/, /got 42/);
      refused({ pool: {} }, /pool must be a pg.Pool, got \{\}/);
      refused({ pool: { query() {} } }, /pool must be a pg.Pool/);
      refused({ pool: PG_URL }, /pool must be a pg.Pool/, PG_URL);
      expect(new PostgresStore({ pool }).schema).toBe('kairos');
    });

    // Bug (reported): a pg.Client passes the duck-typed pool check (connect, query, on); start() then migrates
    // the schema through it and fails with "client.release is not a function", leaving the schema created.
    it('a pg.Client given as pool is refused', () => {
      refused({ pool: new pg.Client({ connectionString: PG_URL }) }, /pool must be a pg.Pool/);
    });

    it('maxConnections: not with a pool; an integer from 1', () => {
      const pool = new pg.Pool({ connectionString: PG_URL });
      pools.push(pool);
      refused({ pool, maxConnections: 4 }, /maxConnections/);
      for (const [bad, shown] of [
        [0, 'got 0'],
        [1.5, 'got 1.5'],
        ['x', 'got "x"'],
        [-1, 'got -1'],
        [Number.NaN, 'got NaN'],
      ] as const)
        refused(
          { connectionString: PG_URL, maxConnections: bad },
          /maxConnections must be an integer/,
          shown,
        );
      expect(() => new PostgresStore({ connectionString: PG_URL, maxConnections: 1 })).not.toThrow();
    });

    it('schema: a lower-case identifier of at most 48 characters', () => {
      for (const [bad, shown] of [
        ['Kairos', 'got "Kairos"'],
        ['a-b', 'got "a-b"'],
        ['a'.repeat(49), `got "${'a'.repeat(49)}"`],
        ['', 'got ""'],
        [5, 'got 5'],
        ['1abc', 'got "1abc"'],
        ['a"b', 'got "a\\"b"'],
      ] as const)
        refused(
          { connectionString: PG_URL, schema: bad },
          /schema must be a lower-case SQL identifier/,
          shown,
        );
      expect(new PostgresStore({ connectionString: PG_URL, schema: 'a'.repeat(48) }).schema).toBe(
        'a'.repeat(48),
      );
      expect(new PostgresStore({ connectionString: PG_URL, schema: '_k9' }).schema).toBe('_k9');
    });

    it('durations: pollInterval of at least 1 s, nothing negative or malformed', () => {
      refused(
        { connectionString: PG_URL, pollInterval: 999 },
        /pollInterval must be at least 1000 ms/,
        /got 999/,
      );
      refused({ connectionString: PG_URL, pollInterval: 'PT0.5S' }, /pollInterval/, /got "PT0.5S"/);
      refused({ connectionString: PG_URL, pollInterval: 0 }, /pollInterval/, /got 0/);
      refused({ connectionString: PG_URL, pollInterval: -1 }, /pollInterval/, /-1/);
      refused({ connectionString: PG_URL, pollInterval: '1s' }, /pollInterval/, /"1s"/);
      refused({ connectionString: PG_URL, connectTimeout: -5 }, /connectTimeout/, /-5/);
      refused({ connectionString: PG_URL, connectTimeout: { seconds: -2 } }, /connectTimeout/, /-2/);
      refused({ connectionString: PG_URL, connectTimeout: 'soon' }, /connectTimeout/, /"soon"/);
      expect(new PostgresStore({ connectionString: PG_URL, pollInterval: 1000 }).pollIntervalMs).toBe(1000);
      expect(
        new PostgresStore({ connectionString: PG_URL, pollInterval: { minutes: 2 } }).pollIntervalMs,
      ).toBe(120_000);
      expect(new PostgresStore({ connectionString: PG_URL }).pollIntervalMs).toBe(30_000);
    });
  });

  describe('schema', () => {
    it('ten instances starting at once on a fresh schema all succeed; the schema is created once', async () => {
      const schema = newSchema();
      const fleet = Array.from({ length: 10 }, () => open(schema, { maxConnections: 1 }));
      const results = await Promise.allSettled(fleet.map((store) => store.start(recordingContext().context)));
      const failures = results.flatMap((result) =>
        result.status === 'rejected' ? [(result.reason as Error).message] : [],
      );
      expect(failures).toEqual([]);

      const objects = await withClient(async (client) => ({
        versions: (await client.query(`SELECT version FROM "${schema}".schema_version`)).rows,
        tables: (
          await client.query(
            `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`,
            [schema],
          )
        ).rows.map((row) => row.table_name),
        functions: (
          await client.query(
            `SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 ORDER BY p.proname`,
            [schema],
          )
        ).rows.map((row) => row.proname),
      }));
      expect(objects).toEqual({
        versions: [{ version: POSTGRES_SCHEMA_VERSION }],
        tables: [
          'run_requests',
          'run_slot_tags',
          'run_slots',
          'runs',
          'schema_version',
          'tag_limits',
          'tasks',
        ],
        functions: ['append_runs', 'run_slot_ops', 'run_slot_ops_v3'],
      });

      // Every instance works on it.
      await fleet[0]?.addTask(makeRecord({ id: 'shared' }));
      for (const store of fleet) expect((await store.getTask('shared'))?.id).toBe('shared');
    });

    it('a schema of a newer kairos is refused with a SerializationError naming it and its version, untouched', async () => {
      const schema = newSchema();
      const first = await started(schema);
      await first.addTask(makeRecord({ id: 'kept' }));
      await first.close();
      await withClient((client) => client.query(`UPDATE "${schema}".schema_version SET version = 99`));
      const before = await dumpSchema(schema);

      const app = tagged();
      const store = open(schema, { connectionString: app.url });
      const error = await store.start(recordingContext().context).then(
        () => null,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(SerializationError);
      expect((error as Error).message).toContain(`'${schema}'`);
      expect((error as Error).message).toMatch(/version 99/);
      expect(await dumpSchema(schema)).toEqual(before);
      // Not started, and no connection left open.
      await expect(store.getTasks()).rejects.toThrow(/not started/);
      await expect.poll(() => connectionsOf(app.name), { timeout: 2000 }).toEqual([]);
    });

    it("a schema holding another application's tables is refused with a SerializationError naming it, untouched", async () => {
      const schema = newSchema();
      await withClient(async (client) => {
        await client.query(`CREATE SCHEMA "${schema}"`);
        await client.query(`CREATE TABLE "${schema}".customers (id integer PRIMARY KEY, name text)`);
        await client.query(`INSERT INTO "${schema}".customers VALUES (1, 'Ada'), (2, 'Grace')`);
      });
      const before = await dumpSchema(schema);
      const error = await open(schema)
        .start(recordingContext().context)
        .then(
          () => null,
          (caught: unknown) => caught,
        );
      expect(error).toBeInstanceOf(SerializationError);
      expect((error as Error).message).toContain(`schema '${schema}'`);
      expect((error as Error).message).toMatch(/another application/);
      expect(await dumpSchema(schema)).toEqual(before);
    });
  });

  describe('an unreachable server', () => {
    it('connection refused: start() rejects at once with a KairosError naming the schema, leaving no handle', async () => {
      const schema = newSchema();
      const before = activeResources();
      const store = open(schema, {
        connectionString: 'postgres://postgres@127.0.0.1:5999/test',
        connectTimeout: 'PT2S',
      });
      const startedAt = Date.now();
      const error = await store.start(recordingContext().context).then(
        () => null,
        (caught: unknown) => caught,
      );
      expect(Date.now() - startedAt).toBeLessThan(2000);
      expect(error).toBeInstanceOf(KairosError);
      expect((error as Error).message).toContain(`schema '${schema}'`);
      expect((error as Error).message).toMatch(/ECONNREFUSED/);
      await sleep(50);
      expect(resourcesAdded(before)).toEqual({});
    });

    it('a server that never answers: start() rejects after connectTimeout, hangs up, leaves no handle', async () => {
      const schema = newSchema();
      const before = activeResources();
      const accepted: Socket[] = [];
      const server = createServer((socket) => {
        accepted.push(socket);
        socket.resume(); // read what the driver sends, so that its hang-up is seen
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as { port: number };
      try {
        const store = open(schema, {
          connectionString: `postgres://postgres@127.0.0.1:${port}/test`,
          connectTimeout: 'PT2S',
        });
        const startedAt = Date.now();
        const error = await store.start(recordingContext().context).then(
          () => null,
          (caught: unknown) => caught,
        );
        const elapsed = Date.now() - startedAt;
        expect(elapsed).toBeGreaterThanOrEqual(1900);
        expect(elapsed).toBeLessThan(6000); // the default connect timeout is 10 s
        expect(error).toBeInstanceOf(KairosError);
        expect((error as Error).message).toContain(`schema '${schema}'`);
        expect((error as Error).message).toMatch(/timeout/);
        // The store hung up every connection it opened.
        expect(accepted.length).toBeGreaterThan(0);
        await expect.poll(() => accepted.every((socket) => socket.destroyed), { timeout: 1000 }).toBe(true);
      } finally {
        for (const socket of accepted) socket.destroy();
        await new Promise((resolve) => server.close(resolve));
      }
      await sleep(50);
      expect(resourcesAdded(before)).toEqual({});
    });
  });

  describe("a pool of the user's own", () => {
    it('is used, never ended by close(), and loses the error listener the store added', async () => {
      const schema = newSchema();
      const pool = new pg.Pool({ connectionString: PG_URL, max: 3 });
      pools.push(pool);
      const listenersBefore = pool.listenerCount('error');
      const store = new PostgresStore({ pool, schema, pollInterval: 'PT1H' });
      stores.push(store);
      await store.start(recordingContext().context);
      expect(pool.listenerCount('error')).toBe(listenersBefore + 1);
      expect(pool.totalCount).toBeGreaterThan(0);

      await store.addTask(makeRecord({ id: 'a' }));
      expect(
        (await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: 10 })).map((r) => r.id),
      ).toEqual(['a']);
      const { rows } = await pool.query(`SELECT id, lease_owner FROM "${schema}".tasks`);
      expect(rows).toEqual([{ id: 'a', lease_owner: 'A' }]);

      // Its watch listens on a connection made from the pool's options.
      let calls = 0;
      store.watch(() => void calls++);
      const other = await started(schema);
      await other.addTask(makeRecord({ id: 'b' }));
      await expect.poll(() => calls, { timeout: 2000 }).toBe(1);

      await store.close();
      expect(pool.listenerCount('error')).toBe(listenersBefore);
      expect(pool.ended).toBe(false);
      expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      // close() ended the lease taken through it.
      expect(
        (await other.acquireDueTasks({ owner: 'B', now: T0, leaseMs: 1000, limit: 10 })).map((r) => r.id),
      ).toEqual(['a', 'b']);
    });
  });

  describe('a row with valid JSON and an unknown trigger type', () => {
    it('is reported once, never due, listed or a wake-up, kept untouched, and due again once fixed', async () => {
      const schema = newSchema();
      const { context, reports } = recordingContext();
      const store = await started(schema, {}, context);
      await store.addTask(makeRecord({ id: 'odd', nextRunTime: T0 - 1000 }));
      await store.addTask(makeRecord({ id: 'next', nextRunTime: T0 - 500 }));
      await store.addTask(makeRecord({ id: 'later', nextRunTime: T0 + 5000 }));
      const original = await withClient(async (client) => {
        const { rows } = await client.query<{ data: string }>(
          `SELECT data FROM "${schema}".tasks WHERE id = 'odd'`,
        );
        const data = (rows[0] as { data: string }).data;
        const body = JSON.parse(data) as { trigger: unknown };
        expect(body.trigger).toMatchObject({ type: 'interval' });
        body.trigger = { type: 'no-such-trigger' };
        await client.query(`UPDATE "${schema}".tasks SET data = $1 WHERE id = 'odd'`, [JSON.stringify(body)]);
        return data;
      });
      const raw = await rawRow(schema, 'odd');

      // The first query meets it: it is given back and the next due task is leased in its place.
      const first = await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: 1 });
      expect(first.map((record) => record.id)).toEqual(['next']);
      expect(reports.map(([id]) => id)).toEqual(['odd']);
      expect(reports[0]?.[1]).toBeInstanceOf(SerializationError);
      expect(reports[0]?.[1].message).toContain("'odd'");
      expect(reports[0]?.[1].message).toContain('no-such-trigger');
      expect(await rawRow(schema, 'odd')).toBe(raw);

      // 'next' is leased until T0 + 1000, 'later' is due at T0 + 5000: 'odd' (T0 - 1000) is no wake-up.
      expect(await store.earliestWakeup('A')).toBe(T0 + 1000);
      expect(await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: 10 })).toEqual([]);
      expect(
        (await store.acquireDueTasks({ owner: 'B', now: T0 + 6000, leaseMs: 1000, limit: 10 })).map(
          (r) => r.id,
        ),
      ).toEqual(['next', 'later']);
      expect((await store.getTasks()).map((record) => record.id)).toEqual(['next', 'later']);
      expect(await store.getTask('odd')).toBeUndefined();
      expect(await store.earliestWakeup('A')).toBe(T0 + 7000);
      expect(reports).toHaveLength(1);
      expect(await rawRow(schema, 'odd')).toBe(raw);

      // Fixed by hand, it is due again (and a wake-up), and not reported.
      await withClient((client) =>
        client.query(`UPDATE "${schema}".tasks SET data = $1 WHERE id = 'odd'`, [original]),
      );
      expect(await store.earliestWakeup('A')).toBe(T0 - 1000);
      expect(
        (await store.acquireDueTasks({ owner: 'A', now: T0 + 6000, leaseMs: 1000, limit: 10 })).map(
          (r) => r.id,
        ),
      ).toEqual(['odd']);
      expect(reports).toHaveLength(1);
    });
  });

  describe('watch', () => {
    it("another instance's change wakes the watcher once, by notification (pollInterval 1 h)", async () => {
      const schema = newSchema();
      const store = await started(schema, { pollInterval: 'PT1H' });
      const other = await started(schema, { pollInterval: 'PT1H' });
      let calls = 0;
      store.watch(() => void calls++);
      const changedAt = Date.now();
      await other.addTask(makeRecord({ id: 'a' }));
      await expect.poll(() => calls, { timeout: 2000, interval: 10 }).toBe(1);
      expect(Date.now() - changedAt).toBeLessThan(2000);
      await sleep(300);
      expect(calls).toBe(1);
    });

    it('a row written by plain SQL is noticed by the safety poll (1 s), not without it (1 h)', async () => {
      const schema = newSchema();
      const polled = await started(schema, { pollInterval: 'PT1S' });
      const unpolled = await started(schema, { pollInterval: 'PT1H' });
      const seen: string[][] = [];
      let unpolledCalls = 0;
      polled.watch(() => {
        polled.getTasks().then(
          (records) => seen.push(records.map((record) => record.id)),
          () => {},
        );
      });
      unpolled.watch(() => void unpolledCalls++);
      const watchedAt = Date.now();
      const body = JSON.stringify(serializeTaskBody(makeRecord({ id: 'by-sql' })));
      await withClient((client) =>
        client.query(`INSERT INTO "${schema}".tasks (id, next_run_time, data) VALUES ($1, $2, $3)`, [
          'by-sql',
          T0,
          body,
        ]),
      );
      await expect.poll(() => seen.length, { timeout: 3000, interval: 20 }).toBeGreaterThan(0);
      expect(Date.now() - watchedAt).toBeLessThan(3000);
      expect(seen[0]).toEqual(['by-sql']);
      const waited = Date.now() - watchedAt;
      if (waited < 1500) await sleep(1500 - waited);
      expect(unpolledCalls).toBe(0);
    });

    it('reconnects after its LISTEN connection is terminated: one warning, one wake-up, listening again', async () => {
      const schema = newSchema();
      const app = tagged();
      const { logger, entries } = memoryLogger('warn');
      const context = { ...recordingContext().context, logger };
      const store = await started(schema, { connectionString: app.url, pollInterval: 'PT1H' }, context);
      const other = await started(schema, { pollInterval: 'PT1H' });
      let calls = 0;
      store.watch(() => void calls++);

      const listening = (await connectionsOf(app.name)).filter(({ query }) => query.startsWith('LISTEN'));
      expect(listening).toHaveLength(1);
      const terminated = await withClient((client) =>
        client.query(
          `SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity
           WHERE application_name = $1 AND query LIKE 'LISTEN%'`,
          [app.name],
        ),
      );
      expect(terminated.rows).toEqual([{ done: true }]);

      // Reconnected (100 ms later): the watcher is woken once, for the notifications missed meanwhile.
      await expect.poll(() => calls, { timeout: 3000, interval: 10 }).toBe(1);
      const listenerPids = async () =>
        (await connectionsOf(app.name))
          .filter(({ query }) => query.startsWith('LISTEN'))
          .map(({ pid }) => pid);
      // (the terminated backend may take a moment to leave pg_stat_activity)
      await expect.poll(listenerPids, { timeout: 2000 }).toHaveLength(1);
      expect(await listenerPids()).not.toEqual([listening[0]?.pid]);
      await sleep(200);
      expect(calls).toBe(1);
      const warnings = entries().filter((entry) => entry.level >= WARN);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.msg).toMatch(/notification connection was lost/);

      // It listens again: another instance's change wakes it.
      await other.addTask(makeRecord({ id: 'after' }));
      await expect.poll(() => calls, { timeout: 2000, interval: 10 }).toBe(2);
      expect(entries().filter((entry) => entry.level >= WARN)).toHaveLength(1);
    });

    it('after close(): no watcher is called, the pending reconnect is cancelled, no connection is left', async () => {
      const schema = newSchema();
      const app = tagged();
      const { logger, entries } = memoryLogger('info');
      const context = { ...recordingContext().context, logger };
      const other = await started(schema, { pollInterval: 'PT1H' });
      const store = await started(schema, { connectionString: app.url, pollInterval: 'PT1S' }, context);
      let calls = 0;
      store.watch(() => void calls++);

      // Lose the LISTEN connection, and close while the reconnect waits: its first delay (100 ms) is held for a
      // minute here, so that close() surely comes during it.
      const realSetTimeout = globalThis.setTimeout;
      const reconnects: NodeJS.Timeout[] = [];
      const setTimer = vi.spyOn(globalThis, 'setTimeout').mockImplementation(((
        callback: () => void,
        delay?: number,
      ) => {
        if (delay !== 100) return realSetTimeout(callback, delay);
        const handle = realSetTimeout(callback, 60_000);
        reconnects.push(handle);
        return handle;
      }) as unknown as typeof setTimeout);
      const clearTimer = vi.spyOn(globalThis, 'clearTimeout');
      try {
        await withClient((client) =>
          client.query(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`,
            [app.name],
          ),
        );
        await expect
          .poll(() => entries().filter((entry) => entry.level >= WARN).length, { timeout: 2000, interval: 5 })
          .toBe(1);
        setTimer.mockRestore();
        expect(reconnects).toHaveLength(1);
        await store.close();
        expect(clearTimer).toHaveBeenCalledWith(reconnects[0]);
      } finally {
        vi.restoreAllMocks();
        for (const handle of reconnects) clearTimeout(handle);
      }

      await other.addTask(makeRecord({ id: 'after-close' }));
      await sleep(1300); // past the reconnect delay and the poll interval
      expect(calls).toBe(0);
      await expect.poll(() => connectionsOf(app.name), { timeout: 2000 }).toEqual([]);
      expect(entries().map((entry) => entry.msg)).not.toContain('PostgresStore: listening for changes again');
    });
  });

  describe('close()', () => {
    it("ends this instance's task leases and frees its run slots at once", async () => {
      const schema = newSchema();
      const a = await started(schema);
      const b = await started(schema);
      await a.addTask(makeRecord({ id: 't1', nextRunTime: T0 }));
      await a.addTask(makeRecord({ id: 't2', nextRunTime: T0 + 10 }));
      const far = Date.now() + 3_600_000;
      const leased = await a.acquireDueTasks({ owner: 'A', now: T0 + 10, leaseMs: 3_600_000, limit: 10 });
      expect(leased.map((record) => record.id)).toEqual(['t1', 't2']);
      const claim = (store: PostgresStore, owner: string, taskId: string) =>
        store.claimRunSlot({ taskId, runId: `${owner}-${taskId}`, owner, expiresAt: far, maxInstances: 1 });
      expect(await Promise.all([claim(a, 'A', 't1'), claim(a, 'A', 't2')])).toEqual([true, true]);

      // While A's instance is open, B gets neither.
      expect(await b.acquireDueTasks({ owner: 'B', now: T0 + 10, leaseMs: 1000, limit: 10 })).toEqual([]);
      expect(await claim(b, 'B', 't1')).toBe(false);

      await a.close();
      const taken = await b.acquireDueTasks({ owner: 'B', now: T0 + 10, leaseMs: 1000, limit: 10 });
      expect(taken.map((record) => record.id)).toEqual(['t1', 't2']);
      expect(await Promise.all([claim(b, 'B', 't1'), claim(b, 'B', 't2')])).toEqual([true, true]);
      const slots = await withClient((client) =>
        client.query(`SELECT run_id, owner FROM "${schema}".run_slots ORDER BY run_id`),
      );
      expect(slots.rows).toEqual([
        { run_id: 'B-t1', owner: 'B' },
        { run_id: 'B-t2', owner: 'B' },
      ]);
    });
  });
});
