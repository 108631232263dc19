/** Opens a persistent store by kind name and location, for the multi-process child scripts under test/support. */
import type { SharedTaskStore } from '../../src/index.js';
import { FileStore } from '../../stores/file.js';
import { PostgresStore } from '../../stores/postgres.js';
import { SQLiteStore } from '../../stores/sqlite.js';
import { parsePostgresLocation } from './postgres.js';

/** Options some kinds take. */
export interface OpenOptions {
  /** FileStore's `lockStale`, in ms. */
  lockStale?: number;
}

/**
 * A new `FileStore` or `SQLiteStore` on the path `location`, or a `PostgresStore` on the `schema|url` location
 * (test/stores/harness.ts makes them).
 */
export function openStore(kind: string, location: string, options: OpenOptions = {}): SharedTaskStore {
  if (kind === 'file')
    return new FileStore({
      path: location,
      ...(options.lockStale === undefined ? {} : { lockStale: options.lockStale }),
    });
  if (kind === 'sqlite') return new SQLiteStore({ path: location });
  if (kind === 'postgres') return new PostgresStore(parsePostgresLocation(location));
  throw new Error(`unknown persistent store kind '${kind}' (expected file, sqlite or postgres)`);
}
