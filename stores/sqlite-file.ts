/**
 * Internal to `SQLiteStore` (stores/sqlite.ts), not a public API: the database file under the store's path. A
 * file that is not an SQLite database is refused before SQLite opens (and could write) it; once open, every
 * write first checks that the path still names the file that was opened, since a database deleted or replaced
 * while the store runs would otherwise take writes into an unlinked file, and lose them.
 */
import { statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { KairosError, SerializationError } from '../src/errors.js';
import { describeIoError } from './support/store-path.js';

/** The first 16 bytes of every SQLite database file. */
const SQLITE_HEADER = 'SQLite format 3\u0000';

/** The device and inode a path named when the database was opened. */
export interface FileIdentity {
  dev: number;
  ino: number;
}

/** Refuses an existing non-empty file that is not an SQLite database, before SQLite opens (and could write) it. */
export async function checkHeader(path: string): Promise<void> {
  const handle = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (handle === null) return;
  try {
    const header = Buffer.alloc(SQLITE_HEADER.length);
    const { bytesRead } = await handle.read(header, 0, header.length, 0);
    if (bytesRead === 0) return;
    if (bytesRead < header.length || header.toString('latin1') !== SQLITE_HEADER) {
      throw new SerializationError(
        `SQLiteStore: '${path}' is not an SQLite database (corrupt or a foreign file); it is left untouched`,
      );
    }
  } finally {
    await handle.close();
  }
}

/** The device and inode `path` names now (right after the database was opened there). */
export function openedFile(path: string): FileIdentity {
  const { dev, ino } = statSync(path);
  return { dev, ino };
}

/**
 * Throws if `path` no longer names the file that was opened: deleted (with its directory or not) or replaced.
 * SQLite would go on writing to the open, unlinked file, and every write would be lost at the next start.
 */
export function checkSameFile(opened: FileIdentity, path: string): void {
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(path, { throwIfNoEntry: false });
  } catch (error) {
    // ENOTDIR: a directory of the path was replaced by a file, so the database file is gone too.
    if ((error as NodeJS.ErrnoException).code !== 'ENOTDIR')
      throw new KairosError(
        `SQLiteStore: cannot check the database file '${path}' (${describeIoError(error)})`,
        {
          cause: error,
        },
      );
    stats = undefined;
  }
  if (stats === undefined) {
    throw new KairosError(
      `SQLiteStore: the database file '${path}' was deleted while the store was open; writes are refused, as they would go to the deleted file and be lost. Restore the file, or restart the store to create a new one`,
    );
  }
  if (stats.ino !== opened.ino || stats.dev !== opened.dev) {
    throw new KairosError(
      `SQLiteStore: the database file '${path}' was replaced by another file while the store was open; writes are refused, as they would go to the replaced file and be lost. Restart the store to open the new file`,
    );
  }
}
