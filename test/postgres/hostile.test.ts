// Regressions from a hostile pass over PostgresStore: a connection that dies without a word, values PostgreSQL
// cannot take, a change made from a machine whose clock is behind, two starts at once, lock order.
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { ValueError } from '../../src/errors.js';
import type { StoreContext } from '../../src/store.js';
import { PostgresStore } from '../../stores/postgres.js';
import { makeRecord, recordingContext, T0 } from '../stores/harness.js';
import { keepingLogger } from '../support/loggers.js';
import { dropSchema, freshSchema, PG_URL, withClient } from '../support/postgres.js';

/** A TCP proxy to the test server that can go silent: sockets stay open, nothing passes, nobody is told. */
class SilentProxy {
  readonly #server: Server;
  readonly #pairs = new Set<[Socket, Socket | null]>();
  #silent = false;

  constructor() {
    const target = new URL(PG_URL);
    this.#server = createServer((client) => {
      const pair: [Socket, Socket | null] = [client, null];
      this.#pairs.add(pair);
      client.on('error', () => {});
      client.on('close', () => this.#pairs.delete(pair));
      if (this.#silent) return;
      const upstream = tcpConnect(Number(target.port || 5432), target.hostname);
      pair[1] = upstream;
      upstream.on('error', () => client.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return (this.#server.address() as { port: number }).port;
  }

  /** From now on nothing passes, on open connections or new ones, and no connection is closed. */
  goSilent(): void {
    this.#silent = true;
    for (const [client, upstream] of this.#pairs) {
      client.unpipe();
      upstream?.unpipe();
      upstream?.destroy();
      client.resume();
    }
  }

  /** New connections pass again (the silent ones stay dead). */
  speak(): void {
    this.#silent = false;
  }

  async close(): Promise<void> {
    for (const [client, upstream] of this.#pairs) {
      client.destroy();
      upstream?.destroy();
    }
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

/** A store context whose logger keeps its records (warn and above). */
function loggingContext(): { context: StoreContext; messages: string[] } {
  const { logger, messages } = keepingLogger();
  return { context: { ...recordingContext().context, logger }, messages };
}

describe.skipIf(inject('postgresUnreachable') !== null)('PostgresStore against a hostile world', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanUp of cleanups.splice(0).reverse()) await cleanUp().catch(() => {});
  });

  async function started(
    options: Partial<ConstructorParameters<typeof PostgresStore>[0]> = {},
    context?: StoreContext,
  ) {
    const schema = freshSchema('khost');
    const store = new PostgresStore({ connectionString: PG_URL, schema, ...options });
    cleanups.push(() => dropSchema(schema));
    await store.start(context ?? recordingContext().context);
    cleanups.push(() => store.close());
    return { store, schema };
  }

  it('a connection that goes silent (no reset) fails the operation in queryTimeout, and LISTEN reconnects', async () => {
    const proxy = new SilentProxy();
    const port = await proxy.listen();
    cleanups.push(() => proxy.close());
    const url = new URL(PG_URL);
    url.host = `127.0.0.1:${port}`;
    const { context, messages } = loggingContext();
    const { store } = await started(
      {
        connectionString: url.toString(),
        queryTimeout: 'PT1S',
        pollInterval: 'PT1S',
        connectTimeout: 'PT1S',
      },
      context,
    );
    await store.addTask(makeRecord({ id: 'a' }));
    let wakes = 0;
    store.watch(() => void wakes++);

    proxy.goSilent();
    const began = Date.now();
    await expect(store.getTasks()).rejects.toThrow(/read timeout/);
    expect(Date.now() - began).toBeLessThan(5000);
    // The safety poll's check notices the silent LISTEN connection.
    await expect
      .poll(() => messages.filter((msg) => msg.includes('notification connection was lost')).length, {
        timeout: 6000,
      })
      .toBe(1);

    proxy.speak();
    expect((await store.getTasks()).map((record) => record.id)).toEqual(['a']);
    const before = wakes;
    const other = new PostgresStore({ connectionString: PG_URL, schema: store.schema });
    await other.start(recordingContext().context);
    cleanups.push(() => other.close());
    // Listening again: another instance's change wakes the watcher (give the reconnect backoff time to pass).
    await expect
      .poll(
        async () => {
          await other.addTask(makeRecord({ id: `b-${Date.now()}` }));
          return wakes > before + 1;
        },
        { timeout: 10_000, interval: 500 },
      )
      .toBe(true);
  }, 30_000);

  it('maxInstances past 2^31 claims a slot and never fails the other claims of its batch', async () => {
    const { store } = await started();
    const expiresAt = Date.now() + 60_000;
    const claim = (taskId: string, runId: string, maxInstances: number) =>
      store.claimRunSlot({ taskId, runId, owner: 'A', expiresAt, maxInstances });
    const results = await Promise.all([
      claim('unlimited', 'u1', Number.MAX_SAFE_INTEGER),
      claim('unlimited', 'u2', 2 ** 31),
      claim('one', 'o1', 1),
      claim('one', 'o2', 1),
    ]);
    expect(results).toEqual([true, true, true, false]);
  });

  it('a change is told the last time dispatched, so a machine whose clock is behind never schedules it again', async () => {
    const { store } = await started();
    await store.addTask(makeRecord({ id: 'x', nextRunTime: T0 }));
    await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: 10 });
    await store.releaseTasks('A', [{ id: 'x', nextRunTime: T0 + 60_000 }]);
    let told: number | null | undefined;
    await store.updateTask('x', (current, state) => {
      told = state.leasedRunTime;
      return current;
    });
    expect(told).toBe(T0);
    // A hold (nothing dispatched) does not move it.
    await store.updateTask('x', (current) => ({ ...current, nextRunTime: T0 + 1000 }));
    await store.acquireDueTasks({ owner: 'A', now: T0 + 1000, leaseMs: 1000, limit: 10 });
    await store.releaseTasks('A', [{ id: 'x', holdUntil: T0 + 5000 }]);
    await store.updateTask('x', (current, state) => {
      told = state.leasedRunTime;
      return current;
    });
    expect(told).toBe(T0);
  });

  it('ids PostgreSQL cannot store as given are a ValueError naming them; odd but storable ids work', async () => {
    const { store } = await started();
    for (const id of ['a\u0000b', 'lone \uD800 surrogate', 'x'.repeat(1025)]) {
      const error = await store.addTask(makeRecord({ id })).catch((thrown: unknown) => thrown);
      expect(error, JSON.stringify(id.slice(0, 20))).toBeInstanceOf(ValueError);
      expect((error as Error).message).toContain(JSON.stringify(id.slice(0, 10)).slice(1, -1));
    }
    for (const id of ["it's", 'k:0123456789abcdef0123456789abcdef', '😀 emoji', 'é'.repeat(500)])
      await store.addTask(makeRecord({ id }));
    expect((await store.getTasks()).length).toBe(4);
  });

  it('connectTimeout past 2^31-1 ms still connects; 0 is a ValueError; a pg_ schema is a ValueError', async () => {
    await started({ connectTimeout: { days: 30 } });
    expect(() => new PostgresStore({ connectionString: PG_URL, connectTimeout: 0 })).toThrow(ValueError);
    expect(() => new PostgresStore({ connectionString: PG_URL, queryTimeout: 10 })).toThrow(ValueError);
    expect(() => new PostgresStore({ connectionString: PG_URL, schema: 'pg_tasks' })).toThrow(/pg_tasks/);
  });

  it('two start() calls at once open one pool and one LISTEN connection; close() leaves none', async () => {
    const schema = freshSchema('khost');
    cleanups.push(() => dropSchema(schema));
    const application = `${schema}_app`;
    const url = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}application_name=${application}`;
    const store = new PostgresStore({ connectionString: url, schema });
    const { context } = recordingContext();
    await Promise.all([store.start(context), store.start(context)]);
    const count = () =>
      withClient(async (client) => {
        const { rows } = await client.query<{ n: string }>(
          "SELECT count(*)::text AS n FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'",
          [application],
        );
        return Number(rows[0]?.n);
      });
    expect(await count()).toBe(1);
    await store.close();
    const all = await withClient(async (client) => {
      const { rows } = await client.query<{ n: string }>(
        'SELECT count(*)::text AS n FROM pg_stat_activity WHERE application_name = $1',
        [application],
      );
      return Number(rows[0]?.n);
    });
    expect(all).toBe(0);
  });

  it('removeAllTasks and the give-back of unreadable rows never deadlock', async () => {
    const { store, schema } = await started();
    const other = new PostgresStore({ connectionString: PG_URL, schema });
    await other.start(recordingContext().context);
    cleanups.push(() => other.close());
    for (let round = 0; round < 40; round++) {
      await withClient(async (client) => {
        for (let index = 0; index < 6; index++)
          await client.query(`INSERT INTO "${schema}".tasks (id, next_run_time, data) VALUES ($1, $2, $3)`, [
            `broken-${round}-${index}`,
            T0,
            '{"broken',
          ]);
      });
      for (let index = 0; index < 6; index++)
        await store.addTask(makeRecord({ id: `good-${round}-${index}` }));
      await Promise.all([
        other.acquireDueTasks({ owner: 'B', now: T0, leaseMs: 60_000, limit: 100 }),
        store.removeAllTasks(),
        other.acquireDueTasks({ owner: 'C', now: T0, leaseMs: 60_000, limit: 100 }),
      ]);
      await withClient((client) => client.query(`DELETE FROM "${schema}".tasks`));
    }
  }, 30_000);

  it('a role whose default isolation is SERIALIZABLE: concurrent changes and dispatch never fail to serialize', async () => {
    const role = `${freshSchema('krole')}`;
    await withClient(async (client) => {
      await client.query(`CREATE ROLE "${role}" LOGIN`);
      await client.query(`GRANT CREATE ON DATABASE "${new URL(PG_URL).pathname.slice(1)}" TO "${role}"`);
      await client.query(`ALTER ROLE "${role}" SET default_transaction_isolation = 'serializable'`);
    });
    cleanups.push(() =>
      withClient(async (client) => {
        await client.query(`DROP OWNED BY "${role}" CASCADE`);
        await client.query(`DROP ROLE "${role}"`);
      }),
    );
    const url = new URL(PG_URL);
    url.username = role;
    const schema = freshSchema('khost');
    const open = async () => {
      const store = new PostgresStore({ connectionString: url.toString(), schema });
      await store.start(recordingContext().context);
      cleanups.push(() => store.close());
      return store;
    };
    const [a, b] = [await open(), await open()];
    for (let index = 0; index < 20; index++)
      await a.addTask(makeRecord({ id: `t${index}`, nextRunTime: T0 }));
    for (let round = 0; round < 15; round++) {
      const now = T0 + round * 60_000;
      await Promise.all([
        a.acquireDueTasks({ owner: 'A', now, leaseMs: 1000, limit: 100 }).then((due) =>
          a.releaseTasks(
            'A',
            due.map((record) => ({ id: record.id, nextRunTime: now + 60_000 })),
          ),
        ),
        ...Array.from({ length: 20 }, (_, index) =>
          b.updateTask(`t${index}`, (current) => ({ ...current, name: `round ${round}` })),
        ),
      ]);
    }
    expect((await b.getTasks()).every((record) => record.name === 'round 14')).toBe(true);
  }, 30_000);
});
