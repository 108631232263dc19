import pg from 'pg';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { SerializationError, ValueError } from '../../src/errors.js';
import type { RunNowRequest, StoredRunRecord } from '../../src/history.js';
import { serializeTaskBody } from '../../src/serialization.js';
import type { StoreContext } from '../../src/store.js';
import { POSTGRES_SCHEMA_VERSION, PostgresStore, type PostgresStoreOptions } from '../../stores/postgres.js';
import { channelName, migrate } from '../../stores/postgres-schema.js';
import { makeRecord, recordingContext, T0 } from '../stores/harness.js';
import { keepingLogger } from '../support/loggers.js';
import { dropSchema, freshSchema, PG_URL, withClient } from '../support/postgres.js';

const schemas: string[] = [];
const stores: PostgresStore[] = [];
const clients: pg.Client[] = [];

afterEach(async () => {
  vi.restoreAllMocks();
  for (const store of stores.splice(0)) await store.close().catch(() => {});
  for (const client of clients.splice(0)) await client.end().catch(() => {});
  for (const schema of schemas.splice(0)) await dropSchema(schema);
});

/** A schema of this test's own, dropped after it. */
function newSchema(): string {
  const schema = freshSchema('kthist');
  schemas.push(schema);
  return schema;
}

/** A store on the test server, not started (closed after the test). No safety poll during a test. */
function open(schema: string, options: Partial<PostgresStoreOptions> = {}): PostgresStore {
  const store = new PostgresStore({
    connectionString: PG_URL,
    schema,
    maxConnections: 2,
    pollInterval: 'PT1H',
    ...options,
  });
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

/** A connection of the test's own (closed after the test). */
async function connection(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: PG_URL });
  clients.push(client);
  await client.connect();
  return client;
}

/** A store context whose logger keeps the messages it logs (warn and above). */
function loggingContext(): { context: StoreContext; messages: string[] } {
  const { logger, messages } = keepingLogger();
  return { context: { ...recordingContext().context, logger }, messages };
}

let sequence = 0;

/** A run record of `taskId` that ended at `endedAt`. */
function run(taskId: string, endedAt: number, overrides: Partial<StoredRunRecord> = {}): StoredRunRecord {
  sequence++;
  return {
    runId: `h1:${sequence}`,
    taskId,
    taskName: taskId,
    scheduledRunTime: endedAt - 10,
    startedAt: endedAt - 5,
    endedAt,
    durationMs: 5,
    outcome: 'success',
    attempts: 1,
    args: [sequence],
    schedulerId: 'h1',
    ...overrides,
  };
}

/** A request made now for `taskId`. */
function request(requestId: string, taskId = 'a'): RunNowRequest {
  return { requestId, taskId, requestedAt: Date.now() };
}

type QueryArgument = string | { text: string; values?: unknown[] };

/**
 * Runs `work` and returns what it resolved with and the statements sent meanwhile, each one a round trip: every
 * statement of a store (of its pool, its transactions, its listening connection) goes through `pg.Client#query`.
 */
async function counted<T>(
  work: () => Promise<T>,
): Promise<{ result: T; statements: Array<{ text: string; values: unknown[] }> }> {
  const spy = vi.spyOn(pg.Client.prototype, 'query');
  try {
    const result = await work();
    const statements = spy.mock.calls.map((call) => {
      const first = call[0] as QueryArgument;
      return typeof first === 'string'
        ? { text: first, values: (call[1] as unknown[] | undefined) ?? [] }
        : { text: first.text, values: first.values ?? [] };
    });
    return { result, statements };
  } finally {
    spy.mockRestore();
  }
}

/** The run ids of a task's rows, in `seq` order (oldest appended first), straight from the table. */
async function storedRunIds(schema: string, taskId: string): Promise<string[]> {
  const { rows } = await withClient((client) =>
    client.query<{ run_id: string }>(`SELECT run_id FROM "${schema}".runs WHERE task_id = $1 ORDER BY seq`, [
      taskId,
    ]),
  );
  return rows.map((row) => row.run_id);
}

/** Builds, in `schema`, the objects the previous release made (schema version 1), with a task in it. */
async function previousRelease(schema: string): Promise<void> {
  await withClient(async (client) => {
    await migrate(client, schema, 1);
    // The previous release's run_slot_ops bucketed claims with abs(hashtext(id)) % 128 (out of range for the id
    // hashing to -2^31): version 2 replaces it, which the layout comparison below checks.
    const { rows } = await client.query<{ definition: string }>(
      `SELECT pg_get_functiondef(p.oid) AS definition FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname = $1 AND p.proname = 'run_slot_ops'`,
      [schema],
    );
    const current = "hashtext(o->'claim'->>'taskId') & 127";
    const definition = rows[0]?.definition ?? '';
    expect(definition).toContain(current);
    await client.query(definition.replace(current, "abs(hashtext(o->'claim'->>'taskId')) % 128"));
    await client.query(`INSERT INTO "${schema}".tasks (id, next_run_time, data) VALUES ($1, $2, $3)`, [
      'kept',
      T0,
      JSON.stringify(serializeTaskBody(makeRecord({ id: 'kept' }))),
    ]);
  });
}

/** The schema's version, tables, columns, indexes and functions, with the schema's name taken out of them. */
async function layout(schema: string): Promise<unknown> {
  return withClient(async (client) => {
    const anonymous = (text: string) => text.split(schema).join('<schema>');
    const version = await client.query(`SELECT version FROM "${schema}".schema_version`);
    const columns = await client.query(
      `SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns
       WHERE table_schema = $1 ORDER BY 1, 2`,
      [schema],
    );
    const indexes = await client.query<{ indexname: string; indexdef: string }>(
      'SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY 1',
      [schema],
    );
    const functions = await client.query<{ proname: string; args: string; source: string }>(
      `SELECT p.proname, pg_get_function_arguments(p.oid) AS args, p.prosrc AS source
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 ORDER BY 1`,
      [schema],
    );
    return {
      versions: version.rows,
      columns: columns.rows.map((row) => ({ ...row, column_default: anonymous(String(row.column_default)) })),
      indexes: indexes.rows.map((row) => ({ name: row.indexname, definition: anonymous(row.indexdef) })),
      functions: functions.rows.map((row) => ({ ...row, source: anonymous(row.source) })),
    };
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(inject('postgresUnreachable') !== null)('PostgresStore: run history and run requests', () => {
  describe('the schema', () => {
    it('a schema made by the previous release is migrated in place at start(): same layout as a new one, tasks kept', async () => {
      const old = newSchema();
      await previousRelease(old);
      expect(await layout(old)).toMatchObject({ versions: [{ version: 1 }] });

      const store = await started(old);
      const fresh = newSchema();
      await started(fresh);
      expect(await layout(old)).toEqual(await layout(fresh));
      expect(await layout(old)).toMatchObject({ versions: [{ version: POSTGRES_SCHEMA_VERSION }] });

      expect((await store.getTask('kept'))?.id).toBe('kept');
      const records = [run('kept', T0), run('kept', T0 + 1)];
      await store.appendRuns(records, 20);
      expect(await store.getRuns({ limit: 10 })).toEqual([...records].reverse());
      await store.requestRun(request('r1', 'kept'));
      expect(await store.hasRunRequest('r1')).toBe(true);
    });

    it('ten instances starting at once on a schema of the previous release all succeed; it is migrated once', async () => {
      const schema = newSchema();
      await previousRelease(schema);
      const fleet = Array.from({ length: 10 }, () => open(schema, { maxConnections: 1 }));
      const results = await Promise.allSettled(fleet.map((store) => store.start(recordingContext().context)));
      expect(
        results.flatMap((result) => (result.status === 'rejected' ? [String(result.reason)] : [])),
      ).toEqual([]);
      const fresh = newSchema();
      await started(fresh);
      expect(await layout(schema)).toEqual(await layout(fresh));

      // Every instance works on it.
      await fleet[3]?.appendRuns([run('kept', T0)], 20);
      for (const store of fleet) {
        expect((await store.getTask('kept'))?.id).toBe('kept');
        expect(await store.getRuns({ limit: 10 })).toHaveLength(1);
      }
    });

    it('a schema of a newer release is still refused, untouched', async () => {
      const schema = newSchema();
      await withClient((client) => migrate(client, schema));
      await withClient((client) =>
        client.query(`UPDATE "${schema}".schema_version SET version = $1`, [POSTGRES_SCHEMA_VERSION + 1]),
      );
      const before = await layout(schema);
      await expect(open(schema).start(recordingContext().context)).rejects.toThrow(SerializationError);
      expect(await layout(schema)).toEqual(before);
    });
  });

  describe('round trips', () => {
    it('appendRuns sends one statement for a batch of 1,000 records, and stores them all in order', async () => {
      const schema = newSchema();
      const store = await started(schema);
      await store.getRuns({ limit: 1 }); // the pool is connected
      const batch = Array.from({ length: 1000 }, (_, i) => run(`t${i % 4}`, T0 + (i % 7)));
      const { statements } = await counted(() => store.appendRuns(batch, 1000));
      expect(statements).toHaveLength(1);
      expect(statements[0]?.text).toMatch(/append_runs/);

      for (const taskId of ['t0', 't1', 't2', 't3'])
        expect(await storedRunIds(schema, taskId)).toEqual(
          batch.filter((record) => record.taskId === taskId).map((record) => record.runId),
        );
      expect(await store.getRuns({ limit: 2000 })).toHaveLength(1000);
    });

    it('every other operation is one statement; an empty batch is none', async () => {
      const store = await started(newSchema());
      await store.getRuns({ limit: 1 });
      const trips = async (work: () => Promise<unknown>) => (await counted(work)).statements.length;
      expect(await trips(() => store.appendRuns([], 20))).toBe(0);
      expect(await trips(() => store.appendRuns([run('a', T0)], 20))).toBe(1);
      expect(
        await trips(() => store.getRuns({ taskId: 'a', outcomes: ['success'], since: T0, limit: 5 })),
      ).toBe(1);
      expect(await trips(() => store.pruneRuns(T0, 10))).toBe(1);
      expect(await trips(() => store.requestRun(request('r')))).toBe(1);
      expect(await trips(() => store.hasRunRequest('r'))).toBe(1);
      expect(await trips(() => store.cancelRunRequest('r'))).toBe(1);
      expect(await trips(() => store.takeRunRequests(Date.now()))).toBe(1);
    });
  });

  describe('as stored', () => {
    it('each task is trimmed to its newest perTask rows by appending order, whatever their end times', async () => {
      const schema = newSchema();
      const store = await started(schema);
      // End times out of appending order: trimming goes by appending order (seq), not by end time.
      const a = Array.from({ length: 12 }, (_, i) => run('a', T0 + ((i * 7) % 12)));
      const b = [run('b', T0), run('b', T0 + 1)];
      await store.appendRuns([...a.slice(0, 5), b[0] as StoredRunRecord], 4);
      expect(await storedRunIds(schema, 'a')).toEqual(a.slice(1, 5).map((record) => record.runId));
      await store.appendRuns([...a.slice(5), b[1] as StoredRunRecord], 4);
      expect(await storedRunIds(schema, 'a')).toEqual(a.slice(8).map((record) => record.runId));
      expect(await storedRunIds(schema, 'b')).toEqual(b.map((record) => record.runId));
      // Another task's append leaves `a` alone, even with a smaller perTask.
      await store.appendRuns([run('b', T0 + 2)], 1);
      expect(await storedRunIds(schema, 'a')).toHaveLength(4);
      expect(await storedRunIds(schema, 'b')).toHaveLength(1);
    });

    it('getRuns: newest first by end time, the same millisecond by appending order, across batches', async () => {
      const store = await started(newSchema());
      const first = [run('a', T0 + 5), run('b', T0 + 5), run('a', T0 + 9)];
      const second = [run('c', T0 + 5), run('a', T0 + 1)];
      await store.appendRuns(first, 20);
      await store.appendRuns(second, 20);
      const ids = (await store.getRuns({ limit: 10 })).map((record) => record.runId);
      expect(ids).toEqual(
        [first[2], second[0], first[1], first[0], second[1]].map((record) => record?.runId),
      );
      const ofA = (await store.getRuns({ taskId: 'a', limit: 2 })).map((record) => record.runId);
      expect(ofA).toEqual([first[2], first[0]].map((record) => record?.runId));
    });

    it('the queries use the indexes: by end time without a task, by task with one', async () => {
      const schema = newSchema();
      const store = await started(schema);
      await store.appendRuns(
        Array.from({ length: 200 }, (_, i) => run(`t${i % 20}`, T0 + i)),
        20,
      );
      const plan = async (query: Parameters<PostgresStore['getRuns']>[0]) => {
        const { statements } = await counted(() => store.getRuns(query));
        const statement = statements[0] as { text: string; values: unknown[] };
        return withClient(async (client) => {
          await client.query('SET enable_seqscan = off');
          const { rows } = await client.query<{ 'QUERY PLAN': unknown }>(
            `EXPLAIN (FORMAT JSON) ${statement.text}`,
            statement.values,
          );
          return JSON.stringify(rows[0]?.['QUERY PLAN']);
        });
      };
      const newest = await plan({ limit: 10 });
      expect(newest).toContain('"Index Name":"runs_ended"');
      expect(newest).not.toContain('"Node Type":"Sort"');
      expect(await plan({ since: T0 + 150, outcomes: ['error'], limit: 10 })).toContain(
        '"Index Name":"runs_ended"',
      );
      expect(await plan({ taskId: 't3', limit: 10 })).toContain('"Index Name":"runs_task"');
    });

    it("pruneRuns deletes removed tasks' rows before the cutoff and beyond the newest `keep`, in one statement", async () => {
      const schema = newSchema();
      const store = await started(schema);
      await store.addTask(makeRecord({ id: 'alive' }));
      const alive = Array.from({ length: 5 }, (_, i) => run('alive', T0 - 1_000_000 + i));
      const old = [run('gone', T0 - 500_000), run('also-gone', T0 - 400_000)];
      const recent = Array.from({ length: 6 }, (_, i) => run(i % 2 === 0 ? 'gone' : 'also-gone', T0 + i));
      await store.appendRuns([...alive, ...old, ...recent], 20);
      expect(await store.pruneRuns(T0 - 100_000, 4)).toBe(4);
      expect(await storedRunIds(schema, 'alive')).toHaveLength(5);
      const left = (await store.getRuns({ limit: 100 })).filter((record) => record.taskId !== 'alive');
      expect(left.map((record) => record.runId)).toEqual(
        recent
          .slice(2)
          .reverse()
          .map((record) => record.runId),
      );
      // A task that is back keeps its old records.
      await store.addTask(makeRecord({ id: 'gone' }));
      expect(await store.pruneRuns(T0 + 100, 0)).toBe(2);
      expect((await store.getRuns({ limit: 100 })).map((record) => record.taskId).sort()).toEqual([
        ...Array(5).fill('alive'),
        'gone',
        'gone',
      ]);
    });

    it('two stores appending to the same tasks at once, in opposite orders, never fail, and trim exactly', async () => {
      const schema = newSchema();
      const one = await started(schema, { maxConnections: 4 });
      const two = await started(schema, { maxConnections: 4 });
      const tasks = Array.from({ length: 8 }, (_, i) => `task${i}`);
      const appendAll = async (store: PostgresStore, order: string[]) => {
        for (let round = 0; round < 15; round++)
          await Promise.all(
            Array.from({ length: 4 }, () =>
              store.appendRuns(
                order.flatMap((taskId) => [run(taskId, T0 + round), run(taskId, T0 + round)]),
                3,
              ),
            ),
          );
      };
      await Promise.all([appendAll(one, tasks), appendAll(two, [...tasks].reverse())]);
      const { rows } = await withClient((client) =>
        client.query<{ task_id: string; n: number }>(
          `SELECT task_id, count(*)::int AS n FROM "${schema}".runs GROUP BY 1 ORDER BY 1`,
        ),
      );
      expect(rows).toEqual(tasks.map((taskId) => ({ task_id: taskId, n: 3 })));
    });
  });

  describe('run requests', () => {
    it('two instances taking at once while a third requests get each request exactly once', async () => {
      const schema = newSchema();
      const requester = await started(schema);
      const takers = [await started(schema), await started(schema)];
      const ids = Array.from({ length: 400 }, (_, i) => `req-${i}`);
      const taken: string[] = [];
      let requesting = true;
      const take = async (store: PostgresStore) => {
        while (requesting) {
          for (const got of await store.takeRunRequests(Date.now())) taken.push(got.requestId);
        }
        for (const got of await store.takeRunRequests(Date.now())) taken.push(got.requestId);
      };
      const taking = takers.map(take);
      for (let i = 0; i < ids.length; i += 20)
        await Promise.all(ids.slice(i, i + 20).map((requestId) => requester.requestRun(request(requestId))));
      requesting = false;
      await Promise.all(taking);
      for (const got of await requester.takeRunRequests(Date.now())) taken.push(got.requestId);
      expect(taken.length).toBe(ids.length);
      expect([...taken].sort()).toEqual([...ids].sort());
    });

    it('many takers at once on a full table: each request exactly once', async () => {
      const schema = newSchema();
      const takers = [await started(schema), await started(schema)];
      const ids = Array.from({ length: 300 }, (_, i) => `req-${i}`);
      for (let i = 0; i < ids.length; i += 50)
        await Promise.all(
          ids
            .slice(i, i + 50)
            .map((requestId) => (takers[0] as PostgresStore).requestRun(request(requestId))),
        );
      const rounds = await Promise.all(
        Array.from({ length: 8 }, (_, i) => (takers[i % 2] as PostgresStore).takeRunRequests(Date.now())),
      );
      const taken = rounds.flat().map((got) => got.requestId);
      expect(taken.length).toBe(ids.length);
      expect([...taken].sort()).toEqual([...ids].sort());
    });

    it('a request id or task id PostgreSQL cannot store is a ValueError, args that are no JSON a SerializationError; looking one up is false', async () => {
      const store = await started(newSchema());
      await expect(store.requestRun(request('a\u0000b'))).rejects.toThrow(ValueError);
      await expect(store.requestRun(request('ok', 'x'.repeat(2000)))).rejects.toThrow(/task id/);
      await expect(store.requestRun({ ...request('big'), args: [10n] })).rejects.toThrow(SerializationError);
      expect(await store.hasRunRequest('big')).toBe(false);
      expect(await store.hasRunRequest('a\u0000b')).toBe(false);
      expect(await store.cancelRunRequest('a\u0000b')).toBe(false);
      // The same request twice is stored once.
      await store.requestRun(request('twice'));
      await store.requestRun(request('twice'));
      expect((await store.takeRunRequests(Date.now())).map((got) => got.requestId)).toEqual(['twice']);
    });
  });

  describe('notifications', () => {
    it("an append notifies nobody; a request wakes every instance's watch, the requester's own too", async () => {
      const schema = newSchema();
      const scheduler = await started(schema);
      const cli = await started(schema);
      const listener = await connection();
      const payloads: string[] = [];
      listener.on('notification', (message) => payloads.push(message.payload ?? ''));
      await listener.query(`LISTEN "${channelName(schema)}"`);
      let schedulerWakes = 0;
      let cliWakes = 0;
      scheduler.watch(() => void schedulerWakes++);
      cli.watch(() => void cliWakes++);

      await cli.appendRuns([run('a', T0), run('b', T0)], 20);
      await scheduler.appendRuns([run('a', T0 + 1)], 20);
      await cli.pruneRuns(T0, 0);
      await sleep(400);
      expect(payloads).toEqual([]);
      expect({ schedulerWakes, cliWakes }).toEqual({ schedulerWakes: 0, cliWakes: 0 });

      await cli.requestRun(request('now'));
      await expect.poll(() => schedulerWakes, { timeout: 3000 }).toBe(1);
      await expect.poll(() => cliWakes, { timeout: 3000 }).toBe(1);
      // The test's own LISTEN connection hears the NOTIFY on its own schedule, perhaps after both stores' watches.
      await expect.poll(() => payloads.length, { timeout: 3000 }).toBe(1);

      // Taking, looking up and cancelling requests notify nobody either.
      await scheduler.requestRun(request('later'));
      await expect.poll(() => cliWakes, { timeout: 3000 }).toBe(2);
      await scheduler.hasRunRequest('later');
      await scheduler.cancelRunRequest('later');
      await scheduler.takeRunRequests(Date.now());
      await sleep(400);
      expect(payloads).toHaveLength(2);
      expect({ schedulerWakes, cliWakes }).toEqual({ schedulerWakes: 2, cliWakes: 2 });
    });
  });

  describe('unreadable and unstorable values', () => {
    it('an unreadable history row is left out of getRuns with one log line, and trimmed as any other', async () => {
      const schema = newSchema();
      const { context, messages } = loggingContext();
      const store = await started(schema, {}, context);
      const good = run('a', T0);
      await store.appendRuns([good], 20);
      await withClient((client) =>
        client.query(
          `INSERT INTO "${schema}".runs (run_id, task_id, ended_at, outcome, data) VALUES
             ('bad-json', 'a', $1, 'success', '{"runId": "bad-js'),
             ('bad-shape', 'a', $1, 'success', '{"runId": "bad-shape", "taskId": "a", "endedAt": "soon"}'),
             ('not-object', 'a', $1, 'success', '[1, 2]')`,
          [T0 + 1],
        ),
      );
      expect(await store.getRuns({ limit: 10 })).toEqual([good]);
      expect(await store.getRuns({ taskId: 'a', limit: 10 })).toEqual([good]);
      const unreadable = messages.filter((message) => message.includes('cannot be read back'));
      expect(unreadable).toHaveLength(3);

      const newer = [run('a', T0 + 2), run('a', T0 + 3)];
      await store.appendRuns(newer, 2);
      expect(await storedRunIds(schema, 'a')).toEqual(newer.map((record) => record.runId));
    });

    it('an unreadable request row is dropped by the take with a log line, and the others are taken', async () => {
      const schema = newSchema();
      const { context, messages } = loggingContext();
      const store = await started(schema, {}, context);
      await store.requestRun(request('good'));
      await withClient((client) =>
        client.query(
          `INSERT INTO "${schema}".run_requests (request_id, requested_at, data) VALUES ('bad', $1, 'nope')`,
          [Date.now()],
        ),
      );
      expect((await store.takeRunRequests(Date.now())).map((got) => got.requestId)).toEqual(['good']);
      expect(await store.hasRunRequest('bad')).toBe(false);
      expect(messages.filter((message) => message.includes('run request cannot be read back'))).toHaveLength(
        1,
      );
    });

    it('a record PostgreSQL cannot take is left out with a log line; the rest of its batch is stored', async () => {
      const schema = newSchema();
      const { context, messages } = loggingContext();
      const store = await started(schema, {}, context);
      const cyclic: unknown[] = [];
      cyclic.push(cyclic);
      const batch = [
        run('a', T0),
        run('a', T0 + 1, { runId: 'nul\u0000id' }),
        run('a', T0 + 2, { args: cyclic }),
        run('a', T0 + 3),
      ];
      await store.appendRuns(batch, 20);
      expect(await storedRunIds(schema, 'a')).toEqual([batch[0]?.runId, batch[3]?.runId]);
      expect(messages.filter((message) => message.includes('run record cannot be stored'))).toHaveLength(2);
    });
  });

  it('history statements honour queryTimeout: a table locked elsewhere fails them instead of hanging', async () => {
    const schema = newSchema();
    const store = await started(schema, { queryTimeout: 'PT1S' });
    await store.appendRuns([run('a', T0)], 20);
    const locker = await connection();
    await locker.query('BEGIN');
    await locker.query(`LOCK TABLE "${schema}".runs, "${schema}".run_requests IN ACCESS EXCLUSIVE MODE`);
    try {
      for (const operation of [
        () => store.appendRuns([run('a', T0 + 1)], 20),
        () => store.getRuns({ limit: 10 }),
        () => store.pruneRuns(T0 - 1, 1000),
        () => store.takeRunRequests(Date.now()),
      ]) {
        const began = Date.now();
        await expect(operation()).rejects.toThrow(/timeout/);
        expect(Date.now() - began).toBeLessThan(4000);
      }
    } finally {
      await locker.query('ROLLBACK');
    }
    // The store works on (the server carried out what the client gave up on once the lock was gone).
    await expect.poll(async () => (await store.getRuns({ limit: 10 })).length, { timeout: 3000 }).toBe(2);
  });
});
