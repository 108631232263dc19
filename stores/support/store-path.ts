/**
 * Internal to kairos' file-backed stores (`FileStore`, `SQLiteStore`), not a public API: the check of a store
 * path at `start()`, so that a path the store cannot use is a typed error naming it, never a raw EISDIR /
 * ENOTDIR / EEXIST / EPERM from deep inside a driver, and never a store that starts and then fails on its
 * first write; and the short form of I/O errors the stores put in their messages.
 */
import { mkdir, open, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { KairosError, ValueError } from '../../src/errors.js';

/** How a store writes its file, which decides what "writable" means for it. */
export interface StorePathUse {
  /** The store's name, for messages (`'FileStore'`). */
  store: string;
  /**
   * True if the store replaces the file by rename (FileStore): the file's own permission bits then do not
   * matter, only that it is not immutable or append-only and that its directory is writable.
   */
  replacesByRename: boolean;
  /** Files next to the store file that the store writes too if they exist (SQLite's `-wal` and `-shm`). */
  companions?: readonly string[];
}

/**
 * Makes sure `path` can hold a store before the store opens it: creates its directory if missing, and checks
 * that the directory and any existing file can be written (an immutable file or directory, a read-only file
 * system). Probing is the only honest test: as root, permission bits never stop a write, and `access()`
 * misses an append-only file.
 * @throws ValueError for a path unusable as given (a directory, a path under a regular file); KairosError for
 * an I/O failure (not writable, not reachable). Both name the path.
 */
export async function prepareStorePath(path: string, use: StorePathUse): Promise<void> {
  const existing = await statPath(path, use.store);
  if (existing?.isDirectory())
    throw new ValueError(
      `${use.store}: '${path}' is a directory; the store needs a file path (e.g. '${join(path, 'tasks')}')`,
    );
  if (existing != null && !existing.isFile())
    throw new ValueError(`${use.store}: '${path}' is not a regular file (a device, socket or pipe)`);
  await makeDirectory(path, use.store);
  await probeDirectory(path, use.store);
  for (const file of [path, ...(use.companions ?? [])]) await probeFile(file, path, use);
}

/** The short form of an I/O error, `EPERM: operation not permitted` (Node's message without the path). */
export function describeIoError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split(', ')[0] as string;
}

/** The error code of an error (`'ENOENT'`, `'SQLITE_BUSY'`), if it has one. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** `stat(path)`, null if nothing is there; a path through a regular file is a ValueError naming that file. */
async function statPath(path: string, store: string): Promise<Awaited<ReturnType<typeof stat>> | null> {
  try {
    return await stat(path);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT') {
      // ENOENT also when a parent is a dangling link; that is found by mkdir below.
      await rejectFileAncestor(path, store);
      return null;
    }
    if (code === 'ENOTDIR') await rejectFileAncestor(path, store);
    if (code === 'ELOOP' || code === 'ENAMETOOLONG')
      throw new ValueError(`${store}: '${path}' cannot be used as a path (${describeIoError(error)})`, {
        cause: error,
      });
    throw new KairosError(`${store}: cannot reach '${path}' (${describeIoError(error)})`, { cause: error });
  }
}

/** Throws if the nearest existing ancestor of `path` is not a directory (a store path under a regular file). */
async function rejectFileAncestor(path: string, store: string): Promise<void> {
  for (let ancestor = dirname(path); ; ancestor = dirname(ancestor)) {
    const stats = await stat(ancestor).catch(() => null);
    if (stats !== null) {
      if (stats.isDirectory()) return;
      throw new ValueError(
        `${store}: '${path}' cannot be used: '${ancestor}' is a file, not a directory, so nothing can be created under it`,
      );
    }
    if (dirname(ancestor) === ancestor) return;
  }
}

/** Creates the directory of `path` (with its parents) if missing. */
async function makeDirectory(path: string, store: string): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true });
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOTDIR' || code === 'EEXIST') await rejectFileAncestor(path, store);
    throw new KairosError(
      `${store}: cannot create the directory '${dirname(path)}' for '${path}' (${describeIoError(error)})`,
      { cause: error },
    );
  }
}

let probes = 0;

/** Creates and removes an empty file next to `path`: the store creates files there (temp files, journals, locks). */
async function probeDirectory(path: string, store: string): Promise<void> {
  const probe = join(dirname(path), `.${basename(path)}.${process.pid}-${++probes}.probe`);
  try {
    await (await open(probe, 'wx')).close();
  } catch (error) {
    throw new KairosError(
      `${store}: the directory '${dirname(path)}' is not writable (${describeIoError(error)}); the store must create files in it next to '${path}'`,
      { cause: error },
    );
  }
  await unlink(probe).catch(() => {});
}

/** Opens an existing file for writing (and closes it, changing nothing): fails on an immutable or read-only file. */
async function probeFile(file: string, path: string, use: StorePathUse): Promise<void> {
  try {
    await (await open(file, 'r+')).close();
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT' || (code === 'EACCES' && use.replacesByRename)) return;
    const what = file === path ? `'${path}'` : `'${file}' (next to '${path}')`;
    throw new KairosError(
      `${use.store}: ${what} is not writable (${describeIoError(error)}${hintFor(code)}); the store writes to it`,
      { cause: error },
    );
  }
}

/** A hint for the usual causes of a refused write. */
function hintFor(code: string | undefined): string {
  if (code === 'EPERM') return ': an immutable or append-only file? see lsattr';
  if (code === 'EROFS') return ': a read-only file system';
  if (code === 'EACCES') return ': its permissions forbid this user to write it';
  return '';
}
