// Tag concurrency limits and after-trigger listing in PostgresStore (schema version 3), against the real test
// server: limits counted across store instances (claims of two pools at once never exceed one), expiry, renewal,
// release, limits set while runs are in progress, the notifications other instances' watches hear, the migration
// from a version 2 schema (whose run_slot_ops keeps working for processes of the previous release), and the
// after-trigger index.
import pg from 'pg';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { serializeTaskBody } from '../../src/serialization.js';
import type { RunSlotAnswer } from '../../src/store.js';
import { AfterTrigger } from '../../src/triggers/after.js';
import { POSTGRES_SCHEMA_VERSION, PostgresStore, type PostgresStoreOptions } from '../../stores/postgres.js';
import { AFTER_CANDIDATE, migrate } from '../../stores/postgres-schema.js';
import { makeRecord, recordingContext, T0 } from '../stores/harness.js';
import { dropSchema, freshSchema, PG_URL, withClient } from '../support/postgres.js';

const schemas: string[] = [];
const stores: PostgresStore[] = [];

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const schema of schemas.splice(0)) await dropSchema(schema);
});

/** A schema of this test's own, dropped after it. */
function newSchema(): string {
  const schema = freshSchema('kttag');
  schemas.push(schema);
  return schema;
}

/** A started store on the test server (closed after the test). No safety poll during a test. */
async function started(schema: string, options: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> {
  const store = new PostgresStore({
    connectionString: PG_URL,
    schema,
    maxConnections: 2,
    pollInterval: 'PT1H',
    ...options,
  });
  stores.push(store);
  await store.start(recordingContext().context);
  return store;
}

interface ClaimOptions {
  maxInstances?: number;
  /** Epoch ms; default a minute from now. */
  expiresAt?: number;
  owner?: string;
}

/** Claims a slot for run `runId` of task `taskId` with these tags. */
function claim(
  store: PostgresStore,
  taskId: string,
  runId: string,
  tags: readonly string[] | undefined,
  { maxInstances = 100, expiresAt = Date.now() + 60_000, owner = 'o' }: ClaimOptions = {},
): Promise<RunSlotAnswer> {
  return store.claimRunSlot({
    taskId,
    runId,
    owner,
    expiresAt,
    maxInstances,
    ...(tags === undefined ? {} : { tags }),
  });
}

/** The tag rows of a schema: `runId:tag` sorted. */
async function tagRows(schema: string): Promise<string[]> {
  const { rows } = await withClient((client) =>
    client.query<{ row: string }>(
      `SELECT run_id || ':' || tag AS row FROM "${schema}".run_slot_tags ORDER BY run_id, tag`,
    ),
  );
  return rows.map(({ row }) => row);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type QueryArgument = string | { text: string; values?: unknown[] };

/** The texts of the statements sent while `work` runs (every store statement goes through `pg.Client#query`). */
async function statementsOf(work: () => Promise<unknown>): Promise<string[]> {
  const spy = vi.spyOn(pg.Client.prototype, 'query');
  try {
    await work();
    return spy.mock.calls.map((call) => {
      const first = call[0] as QueryArgument;
      return typeof first === 'string' ? first : first.text;
    });
  } finally {
    spy.mockRestore();
  }
}

/**
 * `count` task ids whose advisory-lock buckets (`hashtext(id) & 127`, as run_slot_ops_v3 takes them) lie in
 * `[from, to)`: two sets of claims on such disjoint tasks share no task lock, only the locks of their tags.
 */
async function tasksInBuckets(prefix: string, count: number, from: number, to: number): Promise<string[]> {
  const { rows } = await withClient((client) =>
    client.query<{ id: string }>(
      `SELECT id FROM (SELECT $1 || n AS id FROM generate_series(0, 5000) AS n) AS c
       WHERE (hashtext(id) & 127) >= $2 AND (hashtext(id) & 127) < $3 LIMIT $4`,
      [prefix, from, to, count],
    ),
  );
  expect(rows).toHaveLength(count);
  return rows.map(({ id }) => id);
}

describe.skipIf(inject('postgresUnreachable') !== null)('PostgresStore: tag concurrency limits', () => {
  it('claims beyond a limit answer the tag (the first of the task at its limit); limits are listed and removed', async () => {
    const store = await started(newSchema());
    expect(await store.getConcurrencyLimits()).toEqual({});
    await store.setConcurrencyLimit('etl', 2);
    await store.setConcurrencyLimit('gpu', 1);
    expect(await store.getConcurrencyLimits()).toEqual({ etl: 2, gpu: 1 });

    expect(await claim(store, 'a', 'a1', ['etl'])).toBe(true);
    expect(await claim(store, 'b', 'b1', ['etl', 'free'])).toBe(true);
    expect(await claim(store, 'c', 'c1', ['etl'])).toBe('etl');
    expect(await claim(store, 'c', 'c2', ['free', 'etl'])).toBe('etl');
    // Tags unlimited (or limited with room) pass.
    expect(await claim(store, 'd', 'd1', ['free', 'gpu'])).toBe(true);
    // Two tags at their limits: the first in the task's order.
    expect(await claim(store, 'e', 'e1', ['gpu', 'etl'])).toBe('gpu');
    expect(await claim(store, 'e', 'e2', ['etl', 'gpu'])).toBe('etl');
    // The same batch: claims are answered in call order, each counting those before it.
    await store.setConcurrencyLimit('batch', 2);
    expect(await Promise.all([1, 2, 3, 4].map((n) => claim(store, `f${n}`, `f${n}`, ['batch'])))).toEqual([
      true,
      true,
      'batch',
      'batch',
    ]);

    // A refused claim took nothing.
    expect(await tagRows(store.schema)).toEqual([
      'a1:etl',
      'b1:etl',
      'b1:free',
      'd1:free',
      'd1:gpu',
      'f1:batch',
      'f2:batch',
    ]);
    // Removing a limit lets the tag's claims through; a limit raised, too.
    await store.setConcurrencyLimit('etl', null);
    expect(await store.getConcurrencyLimits()).toEqual({ batch: 2, gpu: 1 });
    expect(await claim(store, 'c', 'c3', ['etl'])).toBe(true);
    await store.setConcurrencyLimit('gpu', 2);
    expect(await claim(store, 'e', 'e3', ['gpu'])).toBe(true);
    expect(await claim(store, 'e', 'e4', ['gpu'])).toBe('gpu');
  });

  it('a slot whose lease expired does not count toward its tags (and its tag rows are pruned)', async () => {
    const store = await started(newSchema());
    await store.setConcurrencyLimit('etl', 1);
    expect(await claim(store, 'a', 'a1', ['etl'], { expiresAt: Date.now() + 300 })).toBe(true);
    expect(await claim(store, 'b', 'b1', ['etl'])).toBe('etl');
    await sleep(400);
    expect(await claim(store, 'b', 'b2', ['etl'])).toBe(true);
    expect(await tagRows(store.schema)).toEqual(['b2:etl']);
  });

  it('releasing a slot frees its tags; releasing twice is harmless', async () => {
    const store = await started(newSchema());
    await store.setConcurrencyLimit('etl', 1);
    expect(await claim(store, 'a', 'a1', ['etl', 'other'])).toBe(true);
    expect(await claim(store, 'b', 'b1', ['etl'])).toBe('etl');
    await store.releaseRunSlot('a1');
    expect(await tagRows(store.schema)).toEqual([]);
    await store.releaseRunSlot('a1');
    expect(await claim(store, 'b', 'b2', ['etl'])).toBe(true);
  });

  it("renewing a slot keeps it counting toward its tags past its first expiry (the tag rows' too)", async () => {
    const store = await started(newSchema());
    await store.setConcurrencyLimit('etl', 1);
    expect(await claim(store, 'a', 'a1', ['etl'], { expiresAt: Date.now() + 300, owner: 'A' })).toBe(true);
    await store.renewRunSlots('A', ['a1'], Date.now() + 60_000);
    await sleep(400);
    expect(await claim(store, 'b', 'b1', ['etl'])).toBe('etl');
    // Another owner's renewal renews nothing.
    expect(await claim(store, 'c', 'c1', ['gpu'], { expiresAt: Date.now() + 300, owner: 'A' })).toBe(true);
    await store.setConcurrencyLimit('gpu', 1);
    await store.renewRunSlots('B', ['c1'], Date.now() + 60_000);
    await sleep(400);
    expect(await claim(store, 'd', 'd1', ['gpu'])).toBe(true);
  });

  it('a limit of 0 holds every claim of the tag, and no other', async () => {
    const store = await started(newSchema());
    await store.setConcurrencyLimit('paused', 0);
    expect(await store.getConcurrencyLimits()).toEqual({ paused: 0 });
    expect(await claim(store, 'a', 'a1', ['paused'])).toBe('paused');
    expect(await claim(store, 'a', 'a2', ['x', 'paused'])).toBe('paused');
    expect(await claim(store, 'b', 'b1', ['x'])).toBe(true);
    expect(await claim(store, 'c', 'c1', [])).toBe(true);
  });

  it('a limit set while runs are in progress counts them', async () => {
    const store = await started(newSchema());
    for (const n of [1, 2, 3]) expect(await claim(store, `t${n}`, `r${n}`, ['late'])).toBe(true);
    await store.setConcurrencyLimit('late', 2);
    expect(await claim(store, 't4', 'r4', ['late'])).toBe('late');
    await store.releaseRunSlot('r1');
    expect(await claim(store, 't4', 'r4', ['late'])).toBe('late');
    await store.releaseRunSlot('r2');
    expect(await claim(store, 't4', 'r4', ['late'])).toBe(true);
  });

  it('maxInstances is answered before the tags: false, not the tag', async () => {
    const store = await started(newSchema());
    expect(await claim(store, 'a', 'a1', ['etl'], { maxInstances: 1 })).toBe(true);
    await store.setConcurrencyLimit('etl', 0);
    expect(await claim(store, 'a', 'a2', ['etl'], { maxInstances: 1 })).toBe(false);
    expect(await claim(store, 'a', 'a3', ['etl'], { maxInstances: 2 })).toBe('etl');
  });

  it('claims without tags work as before: true, false at maxInstances, one round trip for a burst, no tag rows', async () => {
    const schema = newSchema();
    const store = await started(schema);
    await store.setConcurrencyLimit('etl', 0);
    await store.getConcurrencyLimits(); // the pool is connected
    let answers: RunSlotAnswer[] = [];
    const statements = await statementsOf(async () => {
      answers = await Promise.all([
        claim(store, 'a', 'a1', undefined, { maxInstances: 1 }),
        claim(store, 'a', 'a2', undefined, { maxInstances: 1 }),
        ...Array.from({ length: 500 }, (_, n) => claim(store, `t${n}`, `r${n}`, [], { maxInstances: 1 })),
      ]);
    });
    expect(answers.slice(0, 2)).toEqual([true, false]);
    expect(answers.slice(2).every((answer) => answer === true)).toBe(true);
    expect(statements).toHaveLength(1);
    expect(await tagRows(schema)).toEqual([]);
    const releases = await statementsOf(() =>
      Promise.all(Array.from({ length: 500 }, (_, n) => store.releaseRunSlot(`r${n}`))),
    );
    expect(releases).toHaveLength(1);
    expect(await claim(store, 't0', 'again', [], { maxInstances: 1 })).toBe(true);
  });

  it('two instances (two pools) claiming in a burst at the same moment never exceed a limit', async () => {
    const schema = newSchema();
    const first = await started(schema, { maxConnections: 4 });
    const second = await started(schema, { maxConnections: 4 });
    // Each instance claims for tasks of its own, whose task locks are disjoint from the other's: only the tag
    // locks keep the two batches from both seeing the tag below its limit.
    const ours = await tasksInBuckets('a', 25, 0, 64);
    const theirs = await tasksInBuckets('b', 25, 64, 128);
    for (let round = 0; round < 10; round++) {
      const tag = `shared-${round}`;
      await first.setConcurrencyLimit(tag, 3);
      const burst = (store: PostgresStore, tasks: readonly string[], side: string) =>
        Array.from({ length: 100 }, (_, n) =>
          claim(store, tasks[n % tasks.length] as string, `${tag}-${side}-${n}`, [`other-${n % 3}`, tag]),
        );
      const answers = await Promise.all([...burst(first, ours, 'a'), ...burst(second, theirs, 'b')]);
      expect(
        answers.filter((answer) => answer === true),
        `round ${round}`,
      ).toHaveLength(3);
      expect(answers.filter((answer) => answer === tag)).toHaveLength(197);
    }
  });

  it('batches naming the same tags in opposite orders, from two instances at once, never deadlock', async () => {
    const schema = newSchema();
    const first = await started(schema, { maxConnections: 4 });
    const second = await started(schema, { maxConnections: 4 });
    const tags = Array.from({ length: 12 }, (_, n) => `tag-${n}`);
    for (const tag of tags) await first.setConcurrencyLimit(tag, 50);
    const reversed = [...tags].reverse();
    // Tasks whose locks are disjoint: only the tags' locks are shared by the two batches.
    const ours = await tasksInBuckets('x', 30, 0, 64);
    const theirs = await tasksInBuckets('y', 30, 64, 128);
    for (let round = 0; round < 10; round++) {
      const answers = await Promise.all([
        ...ours.map((task, n) => claim(first, task, `r${round}-x${n}`, tags)),
        ...theirs.map((task, n) => claim(second, task, `r${round}-y${n}`, reversed)),
        ...Array.from({ length: 30 }, (_, n) => second.releaseRunSlot(`r${round - 1}-x${n}`)),
        ...Array.from({ length: 30 }, (_, n) => first.releaseRunSlot(`r${round - 1}-y${n}`)),
      ]);
      expect(answers.slice(0, 60).filter((answer) => answer === true).length).toBeGreaterThan(0);
    }
  });

  it("a claim takes its tags' locks in ascending order, whatever the task's order of its tags (no deadlock between batches)", async () => {
    const schema = newSchema();
    const store = await started(schema);
    const holder = new pg.Client({ connectionString: PG_URL });
    await holder.connect();
    try {
      // Two tags of different lock buckets, named so that `low` has the lower bucket.
      const { rows } = await holder.query<{ tag: string; bucket: number }>(
        `SELECT tag, hashtext(tag) & 127 AS bucket FROM unnest($1::text[]) AS tag ORDER BY 2`,
        [['alpha', 'beta', 'gamma', 'delta']],
      );
      const low = rows[0] as { tag: string; bucket: number };
      const high = rows[rows.length - 1] as { tag: string; bucket: number };
      expect(low.bucket).toBeLessThan(high.bucket);
      const space = `hashtext('${schema}.run_slot_tags')`;
      // Another transaction holds the lower tag's lock.
      await holder.query('BEGIN');
      await holder.query(`SELECT pg_advisory_xact_lock(${space}, $1)`, [low.bucket]);
      const claimed = claim(store, 'task', 'run', [high.tag, low.tag]);
      await expect
        .poll(
          async () =>
            (
              await withClient((client) =>
                client.query(
                  `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = $1 AND objsubid = 2
                   AND classid = (${space})::oid`,
                  [low.bucket],
                ),
              )
            ).rowCount,
          { timeout: 3000, interval: 20 },
        )
        .toBe(1);
      // Waiting for the lower tag, the claim has not taken the higher one (it takes them in ascending order).
      const { rows: tried } = await withClient((client) =>
        client.query<{ taken: boolean }>(`SELECT pg_try_advisory_xact_lock(${space}, $1) AS taken`, [
          high.bucket,
        ]),
      );
      expect(tried).toEqual([{ taken: true }]);
      await holder.query('COMMIT');
      expect(await claimed).toBe(true);
    } finally {
      await holder.end().catch(() => {});
    }
  });

  it("another instance's watch hears a limit set or removed and a freed slot of a limited tag; not an unlimited one", async () => {
    const schema = newSchema();
    const store = await started(schema);
    const other = await started(schema);
    let heard = 0;
    let own = 0;
    other.watch(() => void heard++);
    store.watch(() => void own++);
    const quiet = async (expected: number) => {
      await sleep(300);
      expect(heard).toBe(expected);
    };

    await store.setConcurrencyLimit('etl', 1);
    await expect.poll(() => heard, { timeout: 2000, interval: 10 }).toBe(1);
    // The same limit again changes nothing: quiet.
    await store.setConcurrencyLimit('etl', 1);
    await quiet(1);
    // A claim is quiet; freeing its slot (it counted toward 'etl') is heard.
    expect(await claim(store, 'a', 'a1', ['free', 'etl'])).toBe(true);
    await quiet(1);
    await store.releaseRunSlot('a1');
    await expect.poll(() => heard, { timeout: 2000, interval: 10 }).toBe(2);
    // A slot of unlimited tags only, or of none: quiet.
    expect(await claim(store, 'b', 'b1', ['free'])).toBe(true);
    expect(await claim(store, 'c', 'c1', [])).toBe(true);
    await store.releaseRunSlot('b1');
    await store.releaseRunSlot('c1');
    await quiet(2);
    // A limit removed is heard; removing it again is not.
    await store.setConcurrencyLimit('etl', null);
    await expect.poll(() => heard, { timeout: 2000, interval: 10 }).toBe(3);
    await store.setConcurrencyLimit('etl', null);
    await quiet(3);
    // The store's own changes never wake its own watch.
    expect(own).toBe(0);
    // Closing an instance frees its owners' slots and their tag rows, and is heard.
    await store.setConcurrencyLimit('gpu', 1);
    await expect.poll(() => heard, { timeout: 2000, interval: 10 }).toBe(4);
    expect(await claim(store, 'd', 'd1', ['gpu'], { owner: 'closing' })).toBe(true);
    expect(await claim(other, 'e', 'e1', ['gpu'])).toBe('gpu');
    await store.close();
    await expect.poll(() => heard, { timeout: 2000, interval: 10 }).toBe(5);
    expect(await tagRows(schema)).toEqual([]);
    expect(await claim(other, 'e', 'e1', ['gpu'])).toBe(true);
  });
});

describe.skipIf(inject('postgresUnreachable') !== null)('PostgresStore: schema version 3', () => {
  /** The definition of the schema's run_slot_ops, with the schema's name taken out. */
  async function oldFunction(schema: string): Promise<string> {
    const { rows } = await withClient((client) =>
      client.query<{ definition: string }>(
        `SELECT pg_get_functiondef(p.oid) AS definition FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = $1 AND p.proname = 'run_slot_ops'`,
        [schema],
      ),
    );
    return (rows[0]?.definition ?? '').split(schema).join('<schema>');
  }

  /** Calls the previous release's run_slot_ops, as a process of that release does. */
  async function oldSlotOps(schema: string, ops: unknown[]): Promise<boolean[]> {
    const { rows } = await withClient((client) =>
      client.query<{ results: boolean[] }>(`SELECT "${schema}".run_slot_ops($1::jsonb, $2) AS results`, [
        JSON.stringify(ops),
        Date.now(),
      ]),
    );
    return (rows[0] as { results: boolean[] }).results;
  }

  it("a version 2 schema is migrated in place: tasks kept, a corrupt row no obstacle, the previous release's run_slot_ops unchanged and working", async () => {
    const schema = newSchema();
    await withClient(async (client) => {
      await migrate(client, schema, 2);
      await client.query(`INSERT INTO "${schema}".tasks (id, next_run_time, data) VALUES ($1, $2, $3)`, [
        'kept',
        T0,
        JSON.stringify(serializeTaskBody(makeRecord({ id: 'kept' }))),
      ]);
      await client.query(`INSERT INTO "${schema}".tasks (id, next_run_time, data) VALUES ($1, $2, $3)`, [
        'corrupt',
        T0,
        '{"trigger":{"type":"after","tasks":["kept"]', // cut short: not JSON
      ]);
    });
    const before = await oldFunction(schema);
    // A process of the previous release holds a slot of 'kept' (maxInstances 1).
    const expiresAt = Date.now() + 60_000;
    const oldClaim = (runId: string) => ({
      claim: { taskId: 'kept', runId, owner: 'old', expiresAt, maxInstances: 1 },
    });
    expect(await oldSlotOps(schema, [oldClaim('old-1')])).toEqual([true]);

    const store = await started(schema);
    const { rows } = await withClient((client) =>
      client.query<{ version: number }>(`SELECT version FROM "${schema}".schema_version`),
    );
    expect(rows).toEqual([{ version: POSTGRES_SCHEMA_VERSION }]);
    expect(POSTGRES_SCHEMA_VERSION).toBe(3);
    expect(await oldFunction(schema)).toBe(before);
    expect((await store.getTask('kept'))?.id).toBe('kept');
    expect(await store.getAfterTriggers()).toEqual([]);

    // The previous release's slot counts for this release's claims, and the other way round.
    expect(await claim(store, 'kept', 'new-1', ['etl'], { maxInstances: 1 })).toBe(false);
    expect(await oldSlotOps(schema, [oldClaim('old-2'), { runId: 'old-1' }, oldClaim('old-3')])).toEqual([
      false,
      true,
      true,
    ]);
    expect(await oldSlotOps(schema, [{ runId: 'old-3' }])).toEqual([true]);
    expect(await claim(store, 'kept', 'new-2', ['etl'], { maxInstances: 1 })).toBe(true);
    expect(await oldSlotOps(schema, [oldClaim('old-4')])).toEqual([false]);
    await store.releaseRunSlot('new-2');
    expect(await oldSlotOps(schema, [oldClaim('old-5')])).toEqual([true]);

    // Tag limits work on the migrated schema.
    await store.setConcurrencyLimit('etl', 1);
    expect(await claim(store, 'x', 'x1', ['etl'])).toBe(true);
    expect(await claim(store, 'y', 'y1', ['etl'])).toBe('etl');

    // Same objects as a schema made by this release.
    const fresh = newSchema();
    await started(fresh);
    const objects = async (name: string) =>
      withClient(async (client) => {
        const indexes = await client.query<{ indexname: string; indexdef: string }>(
          'SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY 1',
          [name],
        );
        const functions = await client.query<{ proname: string; source: string }>(
          `SELECT p.proname, p.prosrc AS source FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = $1 ORDER BY 1`,
          [name],
        );
        const anonymous = (text: string) => text.split(name).join('<schema>');
        return {
          indexes: indexes.rows.map((row) => [row.indexname, anonymous(row.indexdef)]),
          functions: functions.rows.map((row) => [row.proname, anonymous(row.source)]),
        };
      });
    expect(await objects(schema)).toEqual(await objects(fresh));
  });

  it('getAfterTriggers lists the after-trigger tasks only: not a task whose args hold the text, nor a corrupt row', async () => {
    const schema = newSchema();
    const store = await started(schema);
    await store.addTask(makeRecord({ id: 'up' }));
    await store.addTask(makeRecord({ id: 'down', trigger: new AfterTrigger(['up']) }));
    await store.addTask(
      makeRecord({ id: 'join', trigger: new AfterTrigger(['up', 'down'], { outcome: 'any' }) }),
    );
    await store.addTask(makeRecord({ id: 'decoy', args: [{ type: 'after', tasks: ['up'] }] }));
    await store.addTask(makeRecord({ id: 'decoy-text', args: ['"type":"after"'] }));
    await withClient(async (client) => {
      const insert = `INSERT INTO "${schema}".tasks (id, next_run_time, data) VALUES ($1, $2, $3)`;
      await client.query(insert, ['corrupt', T0, '{"trigger":{"type":"after","tasks":["up"]']);
      await client.query(insert, ['not-an-object', T0, '"\\"type\\":\\"after\\""']);
      await client.query(insert, ['no-tasks', T0, '{"trigger":{"type":"after"}}']);
      // The decoy's text really is in its data: the index holds it, the store leaves it out.
      const { rows } = await client.query<{ id: string }>(
        `SELECT id FROM "${schema}".tasks WHERE ${AFTER_CANDIDATE} ORDER BY id`,
      );
      expect(rows.map(({ id }) => id)).toEqual(['corrupt', 'decoy', 'down', 'join', 'no-tasks']);
    });
    const entries = await store.getAfterTriggers();
    expect([...entries].sort((a, b) => (a.id < b.id ? -1 : 1))).toEqual([
      { id: 'down', tasks: ['up'] },
      { id: 'join', tasks: ['up', 'down'] },
    ]);
    // A change of trigger is seen at the next call.
    await store.updateTask('down', (current) => ({ ...current, trigger: makeRecord({ id: 'x' }).trigger }));
    await store.removeTask('join');
    await store.updateTask('up', (current) => ({ ...current, trigger: new AfterTrigger('decoy') }));
    expect(await store.getAfterTriggers()).toEqual([{ id: 'up', tasks: ['decoy'] }]);
  });

  it('getAfterTriggers reads the partial index, however many other tasks there are (100,000)', async () => {
    const schema = newSchema();
    const store = await started(schema);
    await store.addTask(makeRecord({ id: 'down', trigger: new AfterTrigger(['up']) }));
    const other = JSON.stringify(serializeTaskBody(makeRecord({ id: 'other' })));
    await withClient(async (client) => {
      await client.query(
        `INSERT INTO "${schema}".tasks (id, next_run_time, data)
         SELECT 'other-' || n, ${T0}, $1 FROM generate_series(1, 100000) AS n`,
        [other],
      );
      await client.query(`ANALYZE "${schema}".tasks`);
    });
    let entries: unknown;
    const statements = await statementsOf(async () => {
      entries = await store.getAfterTriggers();
    });
    expect(entries).toEqual([{ id: 'down', tasks: ['up'] }]);
    // One statement, which the planner serves from the partial index (the statement the store sent, explained).
    expect(statements).toHaveLength(1);
    const plan = await withClient(async (client) => {
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${statements[0]}`);
      return rows.map((row) => row['QUERY PLAN']).join('\n');
    });
    expect(plan).toContain('tasks_after');
    expect(plan).not.toContain('Seq Scan');
    const startedAt = performance.now();
    expect(await store.getAfterTriggers()).toEqual([{ id: 'down', tasks: ['up'] }]);
    expect(performance.now() - startedAt).toBeLessThan(500);
  });
});
