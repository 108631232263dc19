/**
 * Internal to `PostgresStore` (stores/postgres.ts), not a public API: the store's watch. One connection of its own
 * (never one of the pool's) `LISTEN`s on the schema's channel; every change a store instance makes is notified
 * there with the instance's token, so a notification from another instance (another process, another machine)
 * wakes the watchers, and the instance's own writes do not. A run request is notified with a payload that is no
 * instance's token (postgres-requests.ts), so it wakes every watcher, the requesting instance's own too. When the
 * connection is lost (the server restarted, `pg_terminate_backend`), one warning is logged, it reconnects with a
 * backoff (100 ms doubling to 30 s) and, once listening again, wakes the watchers, since notifications sent
 * meanwhile are lost. A slow safety poll (default 30 s) wakes them too, for a notification lost any other way;
 * nothing polls faster.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { type LongTimeout, setLongTimeout } from '../src/long-timeout.js';

const FIRST_RECONNECT_DELAY_MS = 100;
const MAX_RECONNECT_DELAY_MS = 30_000;

/** What the listener needs from its store. */
export interface ListenerSetup {
  /** The driver's client class. */
  Client: typeof pg.Client;
  /** How to connect (the store's connection string, or the options of the user's pool). */
  config: pg.ClientConfig;
  /** The channel to listen on. */
  channel: string;
  /** The store instance's token: notifications carrying it are its own writes; any other payload wakes. */
  token: string;
  /** The safety poll's interval, in ms. */
  pollIntervalMs: number;
  /** How long the connection's check at each safety poll may take before it counts as lost, in ms. */
  queryTimeoutMs: number;
  logger: Logger;
}

/** The `LISTEN` connection of one open store, and the watchers it wakes. */
export class ChangeListener {
  readonly #setup: ListenerSetup;
  readonly #watchers = new Set<() => void>();
  #client: pg.Client | null = null;
  #closed = false;
  #reconnectDelayMs = FIRST_RECONNECT_DELAY_MS;
  #reconnect: LongTimeout | null = null;
  #poll: LongTimeout | null = null;
  /** True while a wake of the watchers is queued (notifications of one tick wake them once). */
  #waking = false;

  constructor(setup: ListenerSetup) {
    this.#setup = setup;
  }

  /** Connects and listens; rejects if the first connection fails. */
  async start(): Promise<void> {
    await this.#connect();
  }

  /** Adds a watcher; returns a function that removes it. The safety poll runs while there are watchers. */
  watch(watcher: () => void): () => void {
    this.#watchers.add(watcher);
    if (this.#poll === null) this.#armPoll();
    return () => {
      this.#watchers.delete(watcher);
      if (this.#watchers.size === 0) {
        this.#poll?.clear();
        this.#poll = null;
      }
    };
  }

  /** Stops listening and polling, and closes the connection. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#watchers.clear();
    this.#poll?.clear();
    this.#poll = null;
    this.#reconnect?.clear();
    this.#reconnect = null;
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => {});
  }

  async #connect(): Promise<void> {
    const { Client, config, channel, token } = this.#setup;
    const client = new Client(config);
    const lost = (error?: Error) => this.#lost(client, error);
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (message) => {
      if (message.channel === channel && message.payload !== token) this.#wake();
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${channel}"`);
    } catch (error) {
      client.removeAllListeners('end');
      await client.end().catch(() => {});
      throw error;
    }
    if (this.#closed) {
      await client.end().catch(() => {});
      return;
    }
    this.#client = client;
  }

  /** The connection failed or ended: unless closing, warn once and reconnect. */
  #lost(client: pg.Client, error?: Error): void {
    if (this.#closed || this.#client !== client) return;
    this.#client = null;
    client.end().catch(() => {});
    this.#setup.logger.warn(
      { err: error, channel: this.#setup.channel },
      'PostgresStore: the notification connection was lost; reconnecting',
    );
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    const delay = this.#reconnectDelayMs;
    this.#reconnectDelayMs = Math.min(delay * 2, MAX_RECONNECT_DELAY_MS);
    this.#reconnect = setLongTimeout(() => {
      this.#reconnect = null;
      if (this.#closed) return;
      this.#connect().then(
        () => {
          if (this.#closed) return;
          this.#reconnectDelayMs = FIRST_RECONNECT_DELAY_MS;
          this.#setup.logger.info(
            { channel: this.#setup.channel },
            'PostgresStore: listening for changes again',
          );
          // Changes notified while the connection was down were lost: look at the store now.
          this.#wake();
        },
        (error: unknown) => {
          if (this.#closed) return;
          this.#setup.logger.debug({ err: error }, 'PostgresStore: reconnecting failed; trying again');
          this.#scheduleReconnect();
        },
      );
    }, delay);
  }

  /**
   * The safety poll: wakes the watchers, and checks that the connection still answers. A connection that died
   * without a word (no reset, no error) would otherwise never be noticed, and no notification would come again.
   */
  #armPoll(): void {
    this.#poll = setLongTimeout(() => {
      this.#armPoll();
      this.#wake();
      const client = this.#client;
      client
        ?.query({ text: 'SELECT 1', query_timeout: this.#setup.queryTimeoutMs } as pg.QueryConfig)
        .catch((error: Error) => this.#lost(client, error));
    }, this.#setup.pollIntervalMs).unref();
  }

  /** Wakes every watcher once, in a later tick (a burst of notifications is one wake). */
  #wake(): void {
    if (this.#waking) return;
    this.#waking = true;
    setImmediate(() => {
      this.#waking = false;
      for (const watcher of [...this.#watchers]) watcher();
    });
  }
}
