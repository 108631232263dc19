/**
 * `PostgresLock`: a `Lock` for schedulers on several machines, a PostgreSQL session advisory lock
 * (`pg_try_advisory_lock(hashtext('kairos.lock'), hashtext(key))`) held on a connection of its own.
 *
 * - A session advisory lock belongs to the connection that took it, so the lock opens one connection of its own
 *   (from the connection string, or from the options of the pool given), never one of a pool's: a pooled
 *   connection goes back to the pool, and the lock with it, to whoever borrows it next.
 * - When that connection dies, the server ends the lock with it: a holder killed with SIGKILL (its socket closed by
 *   its kernel), a backend ended by `pg_terminate_backend`, a server restart. The holder sees its connection end,
 *   and emits `'compromised'`; the others take the lock at their next try (every `retryMs`, default 1 s).
 * - A machine cut off from the network is noticed only by TCP keep-alive, on the server's side
 *   (`tcp_keepalives_idle` …) and the client's (the lock's connection enables it): tune both for a faster
 *   takeover. A server-wide `idle_session_timeout` ends the connection, and the lock, while it is held.
 * - `pg` (an optional peer dependency) is loaded by the first `tryAcquire()`, never by importing this file.
 * - Keys are hashed to 32 bits: two different keys collide with a probability of about one in four billion (and
 *   then exclude each other).
 */
import type pg from 'pg';
import { KairosError, ValueError } from '../src/errors.js';
import { LockLostError } from '../src/lock.js';
import type { Lock, LockLossEvent } from '../src/lock-interface.js';
import { type DurationInput, MAX_TIMER_DELAY_MS, parseDuration } from '../src/time.js';
import { checkOptions, describeValue } from '../src/validate.js';
import { isPool, loadPg } from './postgres-driver.js';

/** Options of `new PostgresLock(poolOrConnectionString, key, options)`. */
export interface PostgresLockOptions {
  /**
   * How often a process that does not hold the lock tries again (`retryMs`; the scheduler's `lock` option honours
   * it). Each try of a process that does not hold the lock opens a connection and closes it. At least 100 ms.
   * @default 1 s
   */
  retry?: DurationInput;
}

/** Payload of the `compromised` event of a `PostgresLock`. */
export interface PostgresLockCompromisedEvent extends LockLossEvent {
  /** The lock's key. */
  key: string;
  /** A `LockLostError` naming the key; its `cause` is the connection's error, if it reported one. */
  error: LockLostError;
}

/** The events of a `PostgresLock`, by name. */
export interface PostgresLockEvents {
  /**
   * The lock's connection died while it was held (the server ended the lock with it; someone else may hold it
   * now). Emitted once per loss; `held` is already `false` when listeners run.
   */
  compromised: PostgresLockCompromisedEvent;
}

type Listener<E extends keyof PostgresLockEvents> = (event: PostgresLockEvents[E]) => void;

const OPTION_KEYS: ReadonlySet<string> = new Set(['retry']);
const DEFAULT_RETRY_MS = 1000;
const MIN_RETRY_MS = 100;
/** How long connecting may take, unless the pool's options say otherwise. */
const CONNECT_TIMEOUT_MS = 10_000;
/** `application_name` of the lock's connections, unless the connection string or the pool's options name one. */
const APPLICATION_NAME = 'kairos.lock';
/** The first key of every kairos lock: its lock space (kairos' other advisory locks use other class keys). */
const LOCK_CLASS = 'kairos.lock';
const TRY_LOCK = 'SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS locked';
const UNLOCK = 'SELECT pg_advisory_unlock(hashtext($1), hashtext($2))';

/** One connection of the lock: the holder's, or a try's. */
interface Connection {
  client: pg.Client;
  /** Set when the connection reported an error or ended. */
  dead: boolean;
  /** The error it reported, if any. */
  error: Error | undefined;
}

/**
 * A PostgreSQL session advisory lock on `key`, shared by every process on every machine (and every instance) that
 * locks the same key in the same database: at most one holds it at a time. Two instances exclude each other even
 * in one process (each has its own connection). One instance that holds it may `tryAcquire()` again (a no-op).
 * @example new Scheduler({ lock: new PostgresLock(process.env.DATABASE_URL, 'reports') })
 */
export class PostgresLock implements Lock {
  /** The key being locked. */
  readonly key: string;
  /** How often a process that does not hold the lock should try again, in ms. */
  readonly retryMs: number;
  readonly #connectionString: string | undefined;
  readonly #pool: pg.Pool | undefined;
  /** The connection holding the lock, while held. */
  #holding: Connection | null = null;
  /** Serialises tryAcquire/release of this instance. */
  #queue: Promise<unknown> = Promise.resolve();
  readonly #listeners = new Set<Listener<'compromised'>>();

  /**
   * Validates the arguments; loads nothing and connects to nothing until `tryAcquire()`.
   * @param poolOrConnectionString where the database is: a connection string (`postgres://user@host/db`), or a
   * `pg.Pool` whose options the lock's own connection is made with (the pool itself is never used).
   * @param key what to lock: every process that locks the same key in the same database shares one lock.
   * @throws ValueError naming the bad value: neither a pool nor a non-empty string, a key that is not a
   * non-empty string, options that are not an object or have an unknown key or a bad `retry`.
   */
  constructor(poolOrConnectionString: pg.Pool | string, key: string, options: PostgresLockOptions = {}) {
    if (typeof poolOrConnectionString === 'string') {
      if (poolOrConnectionString.trim() === '')
        throw new ValueError('PostgresLock: the connection string must not be empty');
      this.#connectionString = poolOrConnectionString;
    } else if (isPool(poolOrConnectionString)) {
      this.#pool = poolOrConnectionString;
    } else {
      throw new ValueError(
        `PostgresLock: ${describeValue(poolOrConnectionString)} is neither a pg.Pool nor a connection string`,
      );
    }
    if (typeof key !== 'string' || key === '')
      throw new ValueError(`PostgresLock: key must be a non-empty string, got ${describeValue(key)}`);
    checkOptions(options as unknown, OPTION_KEYS, 'PostgresLock');
    const retryMs =
      options.retry === undefined ? DEFAULT_RETRY_MS : parseDuration(options.retry, 'PostgresLock: retry');
    if (retryMs < MIN_RETRY_MS || retryMs > MAX_TIMER_DELAY_MS)
      throw new ValueError(
        `PostgresLock: retry: ${describeValue(options.retry)} is ${retryMs} ms; expected from ${MIN_RETRY_MS} ms to ${MAX_TIMER_DELAY_MS} ms`,
      );
    this.key = key;
    this.retryMs = retryMs;
  }

  /** Whether this instance holds the lock now (`false` once it was released, or its connection died). */
  get held(): boolean {
    return this.#holding !== null;
  }

  /**
   * Opens a connection and takes the lock on it if it is free: resolves `true` (the connection then stays open,
   * holding the lock) or `false` (someone else holds it; the connection is closed). `true` at once if this
   * instance holds it already. Rejects with a `KairosError` if `pg` is missing (saying how to install it) or the
   * database cannot be reached.
   */
  tryAcquire(): Promise<boolean> {
    return this.#serial(() => this.#attempt());
  }

  /**
   * Unlocks and closes the lock's connection (closing it alone would end the lock too, a little later). Does
   * nothing if this instance does not hold the lock (idempotent); never rejects.
   */
  release(): Promise<void> {
    return this.#serial(async () => {
      const holding = this.#holding;
      if (holding === null) return;
      this.#holding = null;
      await holding.client.query(UNLOCK, [LOCK_CLASS, this.key]).catch(() => {});
      await holding.client.end().catch(() => {});
    });
  }

  /** Adds a listener; see `PostgresLockEvents`. A listener that throws is reported with `process.emitWarning`. */
  on<E extends keyof PostgresLockEvents>(event: E, listener: Listener<E>): this {
    checkEvent(event);
    this.#listeners.add(listener as Listener<'compromised'>);
    return this;
  }

  /** Removes a listener added with `on`. */
  off<E extends keyof PostgresLockEvents>(event: E, listener: Listener<E>): this {
    checkEvent(event);
    this.#listeners.delete(listener as Listener<'compromised'>);
    return this;
  }

  /** Releases the lock, so that `await using lock = new PostgresLock(...)` works. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  #serial<R>(operation: () => Promise<R>): Promise<R> {
    const result = this.#queue.then(operation);
    this.#queue = result.catch(() => {});
    return result;
  }

  async #attempt(): Promise<boolean> {
    if (this.#holding !== null) return true;
    const driver = await loadPg('PostgresLock');
    const connection: Connection = {
      client: new driver.Client(this.#config()),
      dead: false,
      error: undefined,
    };
    const { client } = connection;
    // Attached before connecting and never removed: an 'error' event of the client is never left unhandled.
    client.on('error', (error: Error) => this.#lost(connection, error));
    client.on('end', () => this.#lost(connection, undefined));
    let locked: boolean;
    try {
      await client.connect();
      const { rows } = await client.query<{ locked: boolean }>(TRY_LOCK, [LOCK_CLASS, this.key]);
      locked = rows[0]?.locked === true;
      if (connection.dead) throw connection.error ?? new Error('the connection ended');
    } catch (error) {
      await client.end().catch(() => {});
      throw new KairosError(
        `PostgresLock '${this.key}': could not try the lock: ${(error as Error).message ?? describeValue(error)}`,
        { cause: error },
      );
    }
    if (!locked) {
      await client.end().catch(() => {});
      return false;
    }
    this.#holding = connection;
    return true;
  }

  /** The lock's connection settings: the connection string's, or the pool's (with its hidden password). */
  #config(): pg.ClientConfig {
    const defaults: pg.ClientConfig = {
      application_name: APPLICATION_NAME,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      keepAlive: true,
    };
    if (this.#pool === undefined) return { ...defaults, connectionString: this.#connectionString };
    const options = this.#pool.options;
    // pg.Pool keeps `password` as a non-enumerable property, which a spread would drop.
    return { ...defaults, ...options, password: options.password };
  }

  /** The connection reported an error or ended: if it held the lock, the lock is lost. */
  #lost(connection: Connection, error: Error | undefined): void {
    if (connection.dead) return;
    connection.dead = true;
    connection.error = error;
    if (this.#holding !== connection) return;
    this.#holding = null;
    connection.client.end().catch(() => {});
    const event: PostgresLockCompromisedEvent = {
      key: this.key,
      error: new LockLostError(this.key, 'compromised', error === undefined ? undefined : { cause: error }),
    };
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (listenerError) {
        process.emitWarning(
          `a 'compromised' listener of the PostgresLock '${this.key}' threw: ${String(listenerError)}`,
          'KairosWarning',
        );
      }
    }
  }
}

function checkEvent(event: string): void {
  if (event !== 'compromised')
    throw new ValueError(
      `PostgresLock: event: ${describeValue(event)} is not a PostgresLock event (expected 'compromised')`,
    );
}
