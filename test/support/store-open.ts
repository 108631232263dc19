/** Opens a persistent store by kind name, for the multi-process child scripts under test/support. */
import type { SharedTaskStore } from '../../src/index.js';
import { FileStore } from '../../stores/file.js';
import { SQLiteStore } from '../../stores/sqlite.js';

/** A new `FileStore` or `SQLiteStore` on `path`. */
export function openStore(kind: string, path: string): SharedTaskStore {
  if (kind === 'file') return new FileStore({ path });
  if (kind === 'sqlite') return new SQLiteStore({ path });
  throw new Error(`unknown persistent store kind '${kind}' (expected file or sqlite)`);
}
