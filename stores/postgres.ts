/**
 * `PostgresStore`: tasks in a PostgreSQL database through `pg` (an optional peer dependency, loaded by `start()`,
 * never by importing kairos), for schedulers on several machines sharing one database.
 *
 * - Every object lives in one schema of the store's own (default `kairos`), created or migrated at `start()` under
 *   an advisory lock, with a version; a schema of another application or of a newer kairos is an error, untouched.
 * - Each due run is dispatched by exactly one scheduler: a wake-up leases its due tasks in one statement
 *   (`FOR UPDATE SKIP LOCKED`), so two schedulers never take the same task; run slots count `maxInstances`
 *   and tag concurrency limits (stored in the schema, fleet-wide) across the fleet. See postgres-table.ts for the statements, postgres-schema.ts for the objects.
 * - Changes are notified (`NOTIFY` on the schema's channel) and each store instance listens on one connection of
 *   its own (postgres-listener.ts), so a task added on one machine wakes the others within milliseconds; a slow
 *   safety poll covers a lost notification.
 * - Run history (postgres-history.ts) is appended a batch at a time, one round trip each, and never notified;
 *   run-now requests of the `kairos` command (postgres-requests.ts) are notified to every instance's watch and
 *   taken by exactly one scheduler.
 * - Times are the schedulers' own clocks, as in every store: a lease a scheduler takes expires at its
 *   `now + leaseTime`, judged by the others' clocks. `start()` measures this machine's clock against the
 *   database's and logs a warning past 1 s (see `clockSkewMs` and the README on clock skew).
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { KairosError, ValueError } from '../src/errors.js';
import type { RunNowRequest, RunQuery, StoredRunRecord } from '../src/history.js';
import type {
  AcquireOptions,
  AfterTriggerEntry,
  RunSlotAnswer,
  RunSlotClaim,
  SharedTaskStore,
  StoreContext,
  TaskChange,
  TaskRecord,
  TaskRelease,
} from '../src/store.js';
import { type DurationInput, MAX_TIMER_DELAY_MS, parseDuration } from '../src/time.js';
import { describeValue } from '../src/validate.js';
import { isPool, loadPg } from './postgres-driver.js';
import { RunTable } from './postgres-history.js';
import { ChangeListener } from './postgres-listener.js';
import { RunRequestTable } from './postgres-requests.js';
import { channelName, checkSchemaName, DB_NOW_MS, DEFAULT_SCHEMA, migrate } from './postgres-schema.js';
import { type TableSetup, TaskTable, withPoolClient } from './postgres-table.js';
import { isStorableKey, MAX_KEY_BYTES } from './postgres-text.js';
import { checkStoreOptions } from './support/guards.js';
import { LeaseOwners } from './support/lease-owners.js';
import { SlotBatcher } from './support/slot-batch.js';

export {
  PostgresLock,
  type PostgresLockCompromisedEvent,
  type PostgresLockEvents,
  type PostgresLockOptions,
} from './postgres-lock.js';
export { POSTGRES_SCHEMA_VERSION } from './postgres-schema.js';

/** Options of `new PostgresStore()`: a connection string or a pool of your own, not both. */
export interface PostgresStoreOptions {
  /** Where the database is (`postgres://user@host:5432/db`); the store then makes and ends its own pool. */
  connectionString?: string;
  /**
   * A `pg.Pool` of your own, used for queries and never ended by `close()`. The store's notification connection
   * is one more, made from the pool's options.
   */
  pool?: pg.Pool;
  /** The schema that holds the store's tables (created if missing). @default 'kairos' */
  schema?: string;
  /** With `connectionString`: the most connections the store's pool opens. @default 4 */
  maxConnections?: number;
  /**
   * How often the store looks for changes even without a notification (one lost while the connection was down
   * is covered by a look at reconnect; this covers any other loss). At least 1 s. @default 30 s
   */
  pollInterval?: DurationInput;
  /**
   * With `connectionString`: how long connecting may take before it fails (at least 1 ms; more than 2^31-1 ms is
   * that). @default 10 s
   */
  connectTimeout?: DurationInput;
  /**
   * How long one statement may take before it fails, so that a connection that died without a word (a dropped
   * NAT entry, a firewall) is noticed: the operation fails (`store:error`) and is retried on a new connection.
   * At least 1 s; more than 2^31-1 ms is that. @default 30 s
   */
  queryTimeout?: DurationInput;
}

const OPTION_KEYS: ReadonlySet<string> = new Set([
  'connectionString',
  'pool',
  'schema',
  'maxConnections',
  'pollInterval',
  'connectTimeout',
  'queryTimeout',
]);
const DEFAULT_MAX_CONNECTIONS = 4;
const DEFAULT_POLL_INTERVAL_MS = 30_000;
const MIN_POLL_INTERVAL_MS = 1000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_QUERY_TIMEOUT_MS = 30_000;
const MIN_QUERY_TIMEOUT_MS = 1000;
/** TCP keep-alive on every connection of the store's, so the kernel notices a peer gone without a reset. */
const KEEP_ALIVE = { keepAlive: true, keepAliveInitialDelayMillis: 10_000 } as const;
/**
 * The store's transactions and statements are written for READ COMMITTED (PostgreSQL's default); a server or role
 * whose default is stricter would fail them with serialization errors, so the store's own connections say so.
 */
const SESSION_OPTIONS = '-c default_transaction_isolation=read\\ committed';
/** A difference between this machine's clock and the database's above this is logged at `start()`. */
const SKEW_WARNING_MS = 1000;
/** The largest limit a tag's `max_running` (an integer column) holds. */
const MAX_STORED_LIMIT = 2_147_483_647;
/** `application_name` of the store's own connections, so a DBA can tell them apart. */
const APPLICATION_NAME = 'kairos';

/** Everything that exists only while the store is open. */
interface OpenState {
  pool: pg.Pool;
  /** True if the store made the pool (and so ends it). */
  ownPool: boolean;
  table: TaskTable;
  /** The run history. */
  runs: RunTable;
  /** Run-now requests. */
  requests: RunRequestTable;
  listener: ChangeListener;
  context: StoreContext;
  /** The handler of the pool's `error` event (an idle connection lost), removed at close. */
  onPoolError: (error: Error) => void;
}

/**
 * Keeps tasks in PostgreSQL. `persistent` (functions are stored by name, args as JSON) and `shared` (schedulers on
 * any number of machines may use one database at once).
 * @example new Scheduler({ stores: { default: new PostgresStore({ connectionString: process.env.DATABASE_URL }) }, functions: { report } })
 */
export class PostgresStore implements SharedTaskStore {
  readonly persistent = true;
  readonly shared = true;
  /** The schema that holds the store's tables. */
  readonly schema: string;
  /** The safety poll's interval, in ms. */
  readonly pollIntervalMs: number;
  /**
   * This machine's clock minus the database's, in ms, as measured at the last `start()` (half a round trip
   * precise); null before.
   */
  clockSkewMs: number | null = null;
  readonly #connectionString: string | undefined;
  readonly #userPool: pg.Pool | undefined;
  readonly #maxConnections: number;
  readonly #connectTimeoutMs: number;
  readonly #queryTimeoutMs: number;
  /** The `start()` in progress, so that two calls at once open one pool and one listening connection. */
  #starting: Promise<void> | null = null;
  /** This instance's notifications carry it, so that its watch ignores its own changes. */
  readonly #token = randomUUID();
  #open: OpenState | null = null;
  /** Owners that acquired tasks or claimed run slots through this instance: their leases end at `close()`. */
  readonly #owners = new LeaseOwners();
  /** The lease expiry of each task acquired and not yet released, to tell whether a release must notify. */
  readonly #leaseExpiries = new Map<string, number>();
  /** Run-slot changes made in one tick, applied in one round trip. */
  readonly #slots = new SlotBatcher((ops) => this.#state().table.slotOps(ops, Date.now()));

  /**
   * Validates the options; loads nothing and connects to nothing until `start()`.
   * @throws ValueError naming the bad value: a non-object, an unknown option, neither or both of
   * `connectionString` and `pool`, a bad schema name, connection count or duration.
   */
  constructor(options: PostgresStoreOptions) {
    checkStoreOptions(options, OPTION_KEYS, 'PostgresStore', '{ connectionString } or { pool }');
    const { connectionString, pool, schema, maxConnections, pollInterval, connectTimeout, queryTimeout } =
      options;
    if ((connectionString === undefined) === (pool === undefined))
      throw new ValueError(
        'PostgresStore: give either connectionString or pool (a pg.Pool), not both or neither',
      );
    if (
      connectionString !== undefined &&
      (typeof connectionString !== 'string' || connectionString.trim() === '')
    )
      throw new ValueError(
        `PostgresStore: connectionString must be a non-empty string, got ${describeValue(connectionString)}`,
      );
    if (pool !== undefined && !isPool(pool))
      throw new ValueError(`PostgresStore: pool must be a pg.Pool, got ${describeValue(pool)}`);
    if (pool !== undefined && maxConnections !== undefined)
      throw new ValueError(
        "PostgresStore: maxConnections is for the store's own pool; size your pool yourself",
      );
    if (
      maxConnections !== undefined &&
      (typeof maxConnections !== 'number' ||
        !Number.isInteger(maxConnections) ||
        maxConnections < 1 ||
        maxConnections > 1000)
    )
      throw new ValueError(
        `PostgresStore: maxConnections must be an integer from 1 to 1000, got ${describeValue(maxConnections)}`,
      );
    this.#connectionString = connectionString;
    this.#userPool = pool;
    this.schema = schema === undefined ? DEFAULT_SCHEMA : checkSchemaName(schema);
    this.#maxConnections = maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.pollIntervalMs =
      pollInterval === undefined
        ? DEFAULT_POLL_INTERVAL_MS
        : parseDuration(pollInterval, 'PostgresStore: pollInterval');
    if (this.pollIntervalMs < MIN_POLL_INTERVAL_MS)
      throw new ValueError(
        `PostgresStore: pollInterval must be at least ${MIN_POLL_INTERVAL_MS} ms (changes are notified; the poll only covers a lost notification), got ${describeValue(pollInterval)}`,
      );
    this.#connectTimeoutMs = timeoutMs(connectTimeout, DEFAULT_CONNECT_TIMEOUT_MS, 1, 'connectTimeout');
    this.#queryTimeoutMs = timeoutMs(
      queryTimeout,
      DEFAULT_QUERY_TIMEOUT_MS,
      MIN_QUERY_TIMEOUT_MS,
      'queryTimeout',
    );
  }

  /**
   * Loads `pg`, connects, creates or migrates the schema (a foreign or newer schema: `SerializationError`, left
   * untouched), measures the clock skew, and starts listening for other schedulers' changes.
   */
  async start(context: StoreContext): Promise<void> {
    if (this.#open !== null) return;
    if (this.#starting === null)
      this.#starting = this.#start(context).finally(() => {
        this.#starting = null;
      });
    return this.#starting;
  }

  async #start(context: StoreContext): Promise<void> {
    const driver = await loadPg('PostgresStore');
    const ownPool = this.#userPool === undefined;
    const pool =
      this.#userPool ??
      new driver.Pool({
        connectionString: this.#connectionString,
        max: this.#maxConnections,
        connectionTimeoutMillis: this.#connectTimeoutMs,
        application_name: APPLICATION_NAME,
        options: SESSION_OPTIONS,
        ...KEEP_ALIVE,
      });
    const onPoolError = (error: Error) =>
      context.logger.debug({ err: error, schema: this.schema }, 'PostgresStore: an idle connection was lost');
    pool.on('error', onPoolError);
    const listener = new ChangeListener({
      Client: driver.Client,
      config: ownPool
        ? {
            connectionString: this.#connectionString,
            connectionTimeoutMillis: this.#connectTimeoutMs,
            application_name: APPLICATION_NAME,
            ...KEEP_ALIVE,
          }
        : poolClientConfig(pool),
      channel: channelName(this.schema),
      token: this.#token,
      pollIntervalMs: this.pollIntervalMs,
      queryTimeoutMs: this.#queryTimeoutMs,
      logger: context.logger,
    });
    try {
      this.clockSkewMs = await withPoolClient(pool, async (client) => {
        await migrate(client, this.schema);
        return measureSkew(client);
      });
      if (Math.abs(this.clockSkewMs) > SKEW_WARNING_MS)
        context.logger.warn(
          { clockSkewMs: this.clockSkewMs, schema: this.schema },
          "PostgresStore: this machine's clock differs from the database's; keep the fleet's clocks in sync (NTP): leases stay safe only while clocks differ by less than two thirds of leaseTime",
        );
      await listener.start();
    } catch (error) {
      pool.off('error', onPoolError);
      await listener.close();
      if (ownPool) await pool.end().catch(() => {});
      throw asStoreError(error, this.schema);
    }
    const setup: TableSetup = {
      pool,
      schema: this.schema,
      context,
      channel: channelName(this.schema),
      token: this.#token,
      queryTimeoutMs: this.#queryTimeoutMs,
    };
    this.#open = {
      pool,
      ownPool,
      table: new TaskTable(setup),
      runs: new RunTable(setup),
      requests: new RunRequestTable(setup),
      listener,
      context,
      onPoolError,
    };
  }

  /**
   * Ends the task leases and frees the run slots this instance's owners hold, so that other schedulers take over
   * at once (they are notified); stops listening; ends the store's own pool (never a pool you gave it).
   */
  async close(): Promise<void> {
    const open = this.#open;
    if (open === null) return;
    this.#open = null;
    this.#leaseExpiries.clear();
    try {
      await open.listener.close();
      await this.#owners.close(async (owners) => {
        if (owners.size > 0) await open.table.endLeasesOf([...owners]);
      });
    } finally {
      open.pool.off('error', open.onPoolError);
      if (open.ownPool) await open.pool.end().catch(() => {});
    }
  }

  /** An id PostgreSQL cannot store as given (a NUL, a lone surrogate, over 1 kB) is a `ValueError` naming it. */
  async addTask(record: TaskRecord): Promise<void> {
    const table = this.#state().table;
    checkKey(record.id, 'task id');
    return table.insert(record);
  }

  /** Reads, changes and writes the task in one transaction, its row locked meanwhile. */
  async updateTask(id: string, change: TaskChange): Promise<TaskRecord> {
    return this.#state().table.update(id, change);
  }

  async removeTask(id: string): Promise<TaskRecord> {
    return this.#state().table.remove(id);
  }

  /** Removes every readable task; unreadable rows are kept. Reads every row. */
  async removeAllTasks(): Promise<string[]> {
    return this.#state().table.removeAll();
  }

  async getTask(id: string): Promise<TaskRecord | undefined> {
    return this.#state().table.get(id);
  }

  /** Every readable task, sorted; reads every row. */
  async getTasks(): Promise<TaskRecord[]> {
    return this.#state().table.all();
  }

  async earliestWakeup(_owner: string): Promise<number | null> {
    return this.#state().table.earliestWakeup();
  }

  /** One statement: due rows are locked, skipping those another scheduler has locked, and leased. */
  async acquireDueTasks({ owner, now, leaseMs, limit }: AcquireOptions): Promise<TaskRecord[]> {
    const open = this.#state();
    this.#owners.add(owner);
    const expiresAt = now + leaseMs;
    const records = await open.table.acquire(owner, now, expiresAt, limit);
    for (const record of records) this.#leaseExpiries.set(record.id, expiresAt);
    return records;
  }

  /**
   * One statement for the whole batch. A release sets the next run time only if it is still the one the task was
   * acquired with (a change made meanwhile wins). Other schedulers are notified when a task is now due before
   * the lease expired (they armed their timers for that expiry).
   */
  async releaseTasks(owner: string, releases: readonly TaskRelease[]): Promise<string[]> {
    if (releases.length === 0) return [];
    const open = this.#state();
    let notify = false;
    for (const item of releases) {
      const expiresAt = this.#leaseExpiries.get(item.id);
      this.#leaseExpiries.delete(item.id);
      if ('nextRunTime' in item && typeof item.nextRunTime === 'number')
        notify ||= expiresAt === undefined || item.nextRunTime < expiresAt;
    }
    return open.table.release(owner, releases, notify);
  }

  /**
   * Batched with the other run-slot changes of the tick: one round trip for a burst. The task's tags are checked
   * against the stored limits in the same call (a claim without tags costs nothing more).
   */
  async claimRunSlot(claim: RunSlotClaim): Promise<RunSlotAnswer> {
    this.#state();
    this.#owners.add(claim.owner);
    return this.#slots.enqueue({ claim });
  }

  /** One statement, which extends the slots' tag rows too. */
  async renewRunSlots(owner: string, runIds: readonly string[], expiresAt: number): Promise<void> {
    if (runIds.length === 0) return;
    return this.#state().table.renew(owner, runIds, expiresAt);
  }

  /**
   * Batched like `claimRunSlot`. Freeing a slot that counted toward a tag with a limit notifies the other
   * instances (once per batch), so their runs waiting for the tag try again.
   */
  async releaseRunSlot(runId: string): Promise<void> {
    this.#state();
    await this.#slots.enqueue({ runId });
  }

  /** One statement. */
  async getConcurrencyLimits(): Promise<Record<string, number>> {
    return this.#state().table.limits();
  }

  /**
   * One statement, which notifies the other instances when it changed the limit. A limit above 2^31 - 1 is stored
   * as that (no deployment runs more at once). A tag PostgreSQL cannot store as given is a `ValueError` naming it.
   */
  async setConcurrencyLimit(tag: string, limit: number | null): Promise<void> {
    const table = this.#state().table;
    checkKey(tag, 'tag');
    return table.setLimit(tag, limit === null ? null : Math.min(limit, MAX_STORED_LIMIT));
  }

  /** One read of a partial index of the candidate rows, whatever the number of other tasks. */
  async getAfterTriggers(): Promise<AfterTriggerEntry[]> {
    return this.#state().table.afterTriggers();
  }

  /**
   * One round trip for the whole batch (a call of `append_runs`), which also trims each task it names. Notifies
   * nobody: a history write changes no task.
   */
  async appendRuns(records: readonly StoredRunRecord[], perTask: number): Promise<void> {
    const runs = this.#state().runs;
    if (records.length === 0) return;
    return runs.append(records, perTask);
  }

  /** One statement, on the task index for a task's records, else on the end-time index. */
  async getRuns(query: RunQuery): Promise<StoredRunRecord[]> {
    return this.#state().runs.get(query);
  }

  /** One statement. */
  async pruneRuns(endedBefore: number, keep: number): Promise<number> {
    return this.#state().runs.prune(endedBefore, keep);
  }

  /**
   * Stores the request and notifies every store instance's watch, this one's included (one statement). A request
   * or task id PostgreSQL cannot store as given is a `ValueError` naming it.
   */
  async requestRun(request: RunNowRequest): Promise<void> {
    const requests = this.#state().requests;
    checkKey(request.requestId, 'request id');
    checkKey(request.taskId, 'task id');
    return requests.request(request);
  }

  /** One statement, which deletes what it returns: each request reaches one scheduler. */
  async takeRunRequests(now: number): Promise<RunNowRequest[]> {
    return this.#state().requests.take(now);
  }

  async hasRunRequest(requestId: string): Promise<boolean> {
    return this.#state().requests.has(requestId);
  }

  async cancelRunRequest(requestId: string): Promise<boolean> {
    return this.#state().requests.cancel(requestId);
  }

  /**
   * Calls `listener` when another store instance (another process or machine) changed the store, told by a
   * notification on the schema's channel, and at each safety poll. Returns a function that stops watching;
   * `close()` stops it too.
   */
  watch(listener: () => void): () => void {
    return this.#state().listener.watch(listener);
  }

  #state(): OpenState {
    if (this.#open === null) throw new KairosError(`PostgresStore (schema '${this.schema}') is not started`);
    return this.#open;
  }
}

/**
 * A duration option that becomes a driver timeout: at least `min` ms; above the timer limit, the limit (no
 * connection or statement is worth waiting for longer, and the driver's timer could not wait that long).
 */
function timeoutMs(input: unknown, fallback: number, min: number, name: string): number {
  if (input === undefined) return fallback;
  const ms = parseDuration(input, `PostgresStore: ${name}`);
  if (ms < min)
    throw new ValueError(`PostgresStore: ${name} must be at least ${min} ms, got ${describeValue(input)}`);
  return Math.min(ms, MAX_TIMER_DELAY_MS);
}

/** Checks that PostgreSQL can store an id (`what`: 'task id', 'request id') as it is. */
function checkKey(id: string, what: string): void {
  if (!isStorableKey(id))
    throw new ValueError(
      `PostgresStore: ${what} ${describeValue(id.length > 80 ? `${id.slice(0, 80)}…` : id)} cannot be stored: ids must be well-formed text without NUL characters, at most ${MAX_KEY_BYTES} bytes`,
    );
}

/**
 * The connection settings of a user's pool, for the store's listening connection: its options, with the password
 * copied by hand (pg-pool keeps it non-enumerable, so a spread would drop it), and keep-alive.
 */
function poolClientConfig(pool: pg.Pool): pg.ClientConfig {
  const options = (pool as pg.Pool & { options: pg.ClientConfig }).options;
  return { ...options, password: options.password, ...KEEP_ALIVE };
}

/** This machine's clock minus the database's, read at the middle of one round trip. */
async function measureSkew(client: pg.PoolClient): Promise<number> {
  const before = Date.now();
  const { rows } = await client.query<{ now: number }>(`SELECT ${DB_NOW_MS} AS now`);
  const after = Date.now();
  return Math.round((before + after) / 2 - (rows[0] as { now: number }).now);
}

/** A failure of `start()` as a `KairosError` naming the schema (kairos' own errors pass through). */
function asStoreError(error: unknown, schema: string): Error {
  if (error instanceof KairosError) return error;
  return new KairosError(
    `PostgresStore (schema '${schema}') could not start: ${(error as Error).message ?? describeValue(error)}`,
    { cause: error },
  );
}
