// PostgresLock against the real test server: arguments, exclusion between instances (one process and several),
// the lock living on a connection of its own, hand-over on release, a SIGKILLed holder's lock freed by the server,
// a terminated backend reported once as 'compromised', the scheduler's `lock` option across processes, and a
// missing driver. Every test locks keys of its own and tags its connections with an application_name of its own.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { KairosError, LockLostError, ValueError } from '../../src/index.js';
import { PostgresLock, type PostgresLockCompromisedEvent } from '../../stores/postgres-lock.js';
import { type Child, killChild, spawnChild } from '../stores/children.js';
import { PG_URL, withClient } from '../support/postgres.js';

const locks: PostgresLock[] = [];
const children: Child[] = [];
const pools: pg.Pool[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) {
    killChild(child);
    await child.exited;
  }
  await Promise.all(locks.splice(0).map((lock) => lock.release()));
  await Promise.all(pools.splice(0).map((pool) => pool.end().catch(() => {})));
});

/** A key no other test locks. */
function newKey(): string {
  return `kt-lock-${randomBytes(6).toString('hex')}`;
}

/** A unique application_name, and the test server's connection string that sets it. */
function tagged(): { name: string; url: string } {
  const name = `ktlock_${randomBytes(6).toString('hex')}`;
  return { name, url: `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}application_name=${name}` };
}

/** A PostgresLock released after the test. */
function makeLock(source: string | pg.Pool, key: string, options?: { retry?: number }): PostgresLock {
  const lock = new PostgresLock(source, key, options);
  locks.push(lock);
  return lock;
}

/** A child of test/support/pg-lock-child.ts, killed after the test. */
function child(mode: 'hold' | 'scheduler' | 'no-driver', url: string, key: string): Child {
  const spawned = spawnChild('pg-lock-child.ts', [mode, url, key]);
  children.push(spawned);
  return spawned;
}

/** The application_name of the connection holding the kairos lock on `key`, or null if none does. */
async function holderOf(key: string): Promise<string | null> {
  const { rows } = await withClient((client) =>
    client.query<{ application_name: string }>(
      `SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
         AND l.classid::bigint = (hashtext('kairos.lock')::bigint & 4294967295)
         AND l.objid::bigint = (hashtext($1)::bigint & 4294967295)`,
      [key],
    ),
  );
  return rows[0]?.application_name ?? null;
}

/** How many connections the server has with this application_name. */
async function connectionCount(applicationName: string): Promise<number> {
  const { rows } = await withClient((client) =>
    client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
      [applicationName],
    ),
  );
  return rows[0]?.n ?? 0;
}

/** Ends the server's connections with this application_name (only this test's); returns how many. */
async function terminate(applicationName: string): Promise<number> {
  const { rows } = await withClient((client) =>
    // In the select list, evaluated only for the rows the WHERE clause kept.
    client.query<{ ended: boolean }>(
      'SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE application_name = $1',
      [applicationName],
    ),
  );
  return rows.filter((row) => row.ended).length;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

describe.skipIf(inject('postgresUnreachable') !== null)('PostgresLock', () => {
  it('validates its arguments, naming the bad value', () => {
    const key = newKey();
    expect(() => new PostgresLock('', key)).toThrow(ValueError);
    expect(() => new PostgresLock(42 as unknown as string, key)).toThrow(/42 is neither a pg.Pool/);
    expect(() => new PostgresLock({} as unknown as string, key)).toThrow(/\{\} is neither a pg.Pool/);
    expect(() => new PostgresLock(PG_URL, '')).toThrow(/key must be a non-empty string, got ""/);
    expect(() => new PostgresLock(PG_URL, 7 as unknown as string)).toThrow(/key must be .*got 7/);
    expect(() => new PostgresLock(PG_URL, undefined as unknown as string)).toThrow(ValueError);
    expect(() => new PostgresLock(PG_URL, key, 'PT1S' as never)).toThrow(
      /options must be an object, got "PT1S"/,
    );
    expect(() => new PostgresLock(PG_URL, key, { retri: 1000 } as never)).toThrow(/unknown option 'retri'/);
    expect(() => new PostgresLock(PG_URL, key, { retry: 'soon' })).toThrow(/retry: "soon" is not/);
    expect(() => new PostgresLock(PG_URL, key, { retry: -1 })).toThrow(/retry: -1/);
    expect(() => new PostgresLock(PG_URL, key, { retry: 50 })).toThrow(/retry: 50 is 50 ms/);
    expect(() => new PostgresLock(PG_URL, key).on('lost' as 'compromised', () => {})).toThrow(/"lost"/);
    expect(new PostgresLock(PG_URL, key).retryMs).toBe(1000);
    expect(new PostgresLock(PG_URL, key, { retry: 'PT2.5S' }).retryMs).toBe(2500);
    expect(new PostgresLock(PG_URL, key).held).toBe(false);
  });

  it('two instances on one key exclude each other in one process, each on a connection of its own', async () => {
    const key = newKey();
    const [a, b] = [tagged(), tagged()];
    const first = makeLock(a.url, key);
    const second = makeLock(b.url, key);
    expect(await first.tryAcquire()).toBe(true);
    expect(first.held).toBe(true);
    expect(await first.tryAcquire()).toBe(true); // already ours
    expect(await holderOf(key)).toBe(a.name);
    expect(await second.tryAcquire()).toBe(false);
    expect(second.held).toBe(false);
    expect(await connectionCount(b.name)).toBe(0); // a failed try closes its connection
    await second.release(); // not held: a no-op, which leaves the first one's lock alone
    expect(await holderOf(key)).toBe(a.name);
    expect(first.held).toBe(true);
    // Another key is another lock.
    expect(await makeLock(b.url, newKey()).tryAcquire()).toBe(true);

    await first.release();
    expect(first.held).toBe(false);
    expect(await holderOf(key)).toBe(null);
    await until(async () => (await connectionCount(a.name)) === 0); // release closes the connection
    await first.release(); // idempotent
    expect(await second.tryAcquire()).toBe(true);
    expect(await holderOf(key)).toBe(b.name);
    expect(await first.tryAcquire()).toBe(false);
  });

  it("takes a pool's options for a connection of its own, and never uses the pool", async () => {
    const key = newKey();
    const { name, url } = tagged();
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    pools.push(pool);
    const lock = makeLock(pool, key);
    expect(await lock.tryAcquire()).toBe(true);
    expect(pool.totalCount).toBe(0);
    expect(await holderOf(key)).toBe(name);
    // The pool's one connection is free for other work while the lock is held.
    expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    expect(await makeLock(pool, key).tryAcquire()).toBe(false);
    await lock.release();
    expect(await holderOf(key)).toBe(null);
  });

  it('a holder in another process excludes this one until it releases; then it is handed over', async () => {
    const key = newKey();
    const holder = child('hold', PG_URL, key);
    await holder.waitFor((line) => line.event === 'acquired');
    const lock = makeLock(PG_URL, key);
    expect(await lock.tryAcquire()).toBe(false);
    await sleep(200);
    expect(await lock.tryAcquire()).toBe(false);
    holder.process.kill('SIGUSR2');
    await holder.waitFor((line) => line.event === 'released');
    expect(await lock.tryAcquire()).toBe(true);
  });

  it('a holder killed with SIGKILL loses the lock at once: another process takes it within a second', async () => {
    const key = newKey();
    const holder = child('hold', PG_URL, key);
    await holder.waitFor((line) => line.event === 'acquired');
    const waiter = child('hold', PG_URL, key);
    await waiter.waitFor((line) => line.event === 'refused');
    const lock = makeLock(PG_URL, key);
    expect(await lock.tryAcquire()).toBe(false);
    await sleep(300);
    expect(waiter.lines.filter((line) => line.event === 'acquired')).toEqual([]);

    const killedAt = Date.now();
    holder.process.kill('SIGKILL');
    const taken = await waiter.waitFor((line) => line.event === 'acquired', 5000);
    expect((taken.at as number) - killedAt).toBeLessThan(1000);
    expect(await lock.tryAcquire()).toBe(false); // the waiter has it now
  });

  it("a terminated connection emits 'compromised' once, with a LockLostError; another instance takes the lock", async () => {
    const key = newKey();
    const { name, url } = tagged();
    const lock = makeLock(url, key);
    const events: PostgresLockCompromisedEvent[] = [];
    lock.on('compromised', (event) => events.push(event));
    const ignored = () => events.push({ key: 'ignored', error: new LockLostError('ignored', 'compromised') });
    lock.on('compromised', ignored);
    lock.off('compromised', ignored);
    expect(await lock.tryAcquire()).toBe(true);

    expect(await terminate(name)).toBe(1);
    await until(() => events.length > 0);
    expect(lock.held).toBe(false);
    const [event] = events;
    expect(event?.key).toBe(key);
    expect(event?.error).toBeInstanceOf(LockLostError);
    expect(event?.error).toBeInstanceOf(KairosError);
    expect(event?.error.path).toBe(key);
    expect(event?.error.message).toBe(`the lock on '${key}' was compromised`);
    expect(event?.error.cause).toBeInstanceOf(Error); // the server's "terminating connection" error

    const other = makeLock(PG_URL, key);
    expect(await other.tryAcquire()).toBe(true);
    await sleep(300);
    expect(events).toHaveLength(1);
    await lock.release(); // nothing left to release: the other's lock is untouched
    expect(other.held).toBe(true);
    expect(await lock.tryAcquire()).toBe(false);

    // Won again, lost again: one more event.
    await other.release();
    expect(await lock.tryAcquire()).toBe(true);
    expect(await terminate(name)).toBe(1);
    await until(() => events.length === 2);
    expect(lock.held).toBe(false);
    await sleep(200);
    expect(events).toHaveLength(2);
  });

  it('as the scheduler lock: only the holder dispatches; a SIGKILLed holder is replaced within seconds', async () => {
    const key = newKey();
    const fires = (c: Child) => c.lines.filter((line) => line.event === 'fire');
    const first = child('scheduler', PG_URL, key);
    await first.waitFor((line) => line.event === 'ready');
    await first.waitFor((line) => line.event === 'fire');
    const second = child('scheduler', PG_URL, key);
    await second.waitFor((line) => line.event === 'ready');
    const before = fires(first).length;
    await sleep(1500); // more than one retry period of the second
    expect(fires(first).length - before).toBeGreaterThan(8);
    expect(fires(second)).toEqual([]);

    const killedAt = Date.now();
    first.process.kill('SIGKILL');
    const takeover = await second.waitFor((line) => line.event === 'fire', 5000);
    // The server frees a dead holder's lock at once; the second takes it at its next retry (1 s).
    expect((takeover.at as number) - killedAt).toBeLessThan(2000);
    await sleep(600);
    expect(fires(second).length).toBeGreaterThan(3);
  });

  it("loads pg only when first tried; without it, a KairosError says 'npm install pg'", async () => {
    const noDriver = child('no-driver', PG_URL, newKey());
    await noDriver.waitFor((line) => line.event === 'constructed');
    const error = await noDriver.waitFor((line) => line.event === 'error');
    expect(error).toMatchObject({ name: 'KairosError', kairos: true });
    expect(error.message).toMatch(/PostgresLock needs the optional peer dependency 'pg'.*npm install pg/);
  });
});
