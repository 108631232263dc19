/**
 * Internal to `FileStore` (stores/file.ts), not a public API: the document's file. Reads that keep text and
 * identity together, atomic writes (temp file, fsync, rename, then an fsync of the directory), and the errors
 * that name the file.
 */
import { open, rename, stat, unlink } from 'node:fs/promises';
import { KairosError } from '../src/errors.js';
import { describeIoError } from './support/store-path.js';

/** Identity of a file version: a rename gives a new inode, a rewrite a new mtime. */
function identityOf(stats: { ino: bigint; size: bigint; mtimeNs: bigint }): string {
  return `${stats.ino}:${stats.size}:${stats.mtimeNs}`;
}

export async function fileIdentity(path: string): Promise<string | null> {
  const handle = await open(path, 'r').catch(() => null);
  if (handle === null) return null;
  try {
    return identityOf(await handle.stat({ bigint: true }));
  } finally {
    await handle.close();
  }
}

/** A read of the document: its identity and permission bits, and its text (null when unchanged). */
export interface DocumentRead {
  identity: string;
  mode: number;
  text: string | null;
}

/**
 * Reads the document through one file handle, so that text and identity belong together. Null if the file
 * (or its directory) does not exist; `text` is null if its identity is `known`, which one `stat` tells (the
 * usual case under the lock: this instance wrote the file last).
 */
export async function readDocument(path: string, known: string | null = null): Promise<DocumentRead | null> {
  if (known !== null) {
    const stats = await stat(path, { bigint: true }).catch(() => null);
    if (stats !== null && identityOf(stats) === known)
      return { identity: known, mode: Number(stats.mode & 0o777n), text: null };
  }
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new KairosError(`FileStore: cannot read the task file '${path}' (${describeIoError(error)})`, {
      cause: error,
    });
  }
  try {
    const stats = await handle.stat({ bigint: true });
    const identity = identityOf(stats);
    const mode = Number(stats.mode & 0o777n);
    if (identity === known) return { identity, mode, text: null };
    return { identity, mode, text: await handle.readFile('utf8') };
  } catch (error) {
    throw new KairosError(`FileStore: cannot read the task file '${path}' (${describeIoError(error)})`, {
      cause: error,
    });
  } finally {
    await handle.close();
  }
}

let temporaries = 0;

/**
 * Writes `text` to `path` atomically: a temp file with permission bits `mode`, fsync, rename over `path`. The
 * caller fsyncs the directory afterwards (`syncDirectory`). `beforeRename` runs right before the rename and may
 * throw to drop the write (the lock may be lost). Returns the new identity.
 */
export async function writeAtomically(
  path: string,
  text: string,
  mode: number,
  beforeRename: () => void = () => {},
): Promise<string> {
  const temporary = `${path}.${process.pid}-${++temporaries}.tmp`;
  try {
    let identity: string;
    const handle = await open(temporary, 'wx', mode);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
      identity = identityOf(await handle.stat({ bigint: true }));
    } finally {
      await handle.close();
    }
    beforeRename();
    await rename(temporary, path);
    return identity;
  } catch (error) {
    await unlink(temporary).catch(() => {});
    if (error instanceof KairosError) throw error;
    throw new KairosError(`FileStore: cannot write the task file '${path}' (${describeIoError(error)})`, {
      cause: error,
    });
  }
}

/** Makes a rename durable; some platforms cannot open directories, which is harmless. */
export async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r').catch(() => null);
  if (handle === null) return;
  await handle.sync().catch(() => {});
  await handle.close();
}

/** The error for a document that was deleted (alone or with its directory) while the store was open. */
export function documentDeletedError(path: string, cause?: unknown): KairosError {
  return new KairosError(
    `FileStore: the task file '${path}' was deleted while the store was open; its tasks are gone from disk. Restore the file, or restart the store to begin with an empty one`,
    { cause },
  );
}

/**
 * Fails at once if the document is gone: proper-lockfile would otherwise retry creating its lock in a deleted
 * directory for the whole lock wait (twice `lockStale`) before failing.
 */
export async function checkDocumentPresent(path: string): Promise<void> {
  const code = await stat(path).then(
    () => null,
    (error: NodeJS.ErrnoException) => error.code,
  );
  if (code === 'ENOENT' || code === 'ENOTDIR') throw documentDeletedError(path);
}
