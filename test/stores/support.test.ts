// What the file-backed stores share (stores/support/), through each of them: the check of a store's path at start
// (a path the store cannot use is a typed error naming it, raised before anything is created or written), and the
// guard of a store that is not started.
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KairosError, ValueError } from '../../src/errors.js';
import type { TaskStore } from '../../src/store.js';
import { FileStore } from '../../stores/file.js';
import { SQLiteStore } from '../../stores/sqlite.js';
import { makeImmutable, rejection, restoreImmutables } from './file-fixtures.js';
import { makeRecord, recordingContext } from './harness.js';

const kinds = [
  { name: 'FileStore', file: 'tasks.json', make: (path: string): TaskStore => new FileStore({ path }) },
  { name: 'SQLiteStore', file: 'tasks.db', make: (path: string): TaskStore => new SQLiteStore({ path }) },
];

describe.each(kinds)('$name', ({ name, file, make }) => {
  let dir: string;
  let path: string;
  const stores: TaskStore[] = [];
  const start = (at: string) => make(at).start(recordingContext().context);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kairos-store-support-'));
    path = join(dir, file);
  });
  afterEach(async () => {
    restoreImmutables();
    for (const store of stores.splice(0)) await store.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });

  it('operations before start reject; a store can be started again after close', async () => {
    const store = make(path);
    const notStarted = `${name} '${path}' is not started`;
    await expect(store.getTasks()).rejects.toThrow(notStarted);
    await store.start(recordingContext().context);
    await store.addTask(makeRecord({ id: 'a' }));
    await store.close();
    await expect(store.getTask('a')).rejects.toThrow(notStarted);
    await expect(store.getTasks()).rejects.toThrow(notStarted);
    await store.start(recordingContext().context);
    stores.push(store);
    expect((await store.getTasks()).map((record) => record.id)).toEqual(['a']);
  });

  describe('refuses a path it cannot use at start, naming it', () => {
    it('a path under a regular file: ValueError naming the file', async () => {
      await writeFile(join(dir, 'file.txt'), 'not a directory');
      for (const under of [
        join(dir, 'file.txt', file),
        join(dir, 'file.txt', 'a', file),
        join(dir, 'file.txt', 'a', 'b', file),
      ]) {
        const error = await rejection(start(under));
        expect(error).toBeInstanceOf(ValueError);
        expect(error.message).toContain(under);
        expect(error.message).toContain(`'${join(dir, 'file.txt')}' is a file, not a directory`);
      }
    });

    it('a directory: ValueError', async () => {
      await mkdir(path);
      const error = await rejection(start(path));
      expect(error).toBeInstanceOf(ValueError);
      expect(error.message).toBe(
        `${name}: '${path}' is a directory; the store needs a file path (e.g. '${join(path, 'tasks')}')`,
      );
    });

    it('a directory that cannot be written (immutable): KairosError naming it, nothing created', async (context) => {
      if (!makeImmutable(dir)) context.skip();
      const error = await rejection(start(path));
      expect(error).toBeInstanceOf(KairosError);
      expect(error.message).toContain(`the directory '${dir}' is not writable (EPERM`);
      expect(error.message).toContain(path);
      expect(await readdir(dir)).toEqual([]);
    });

    it('a store file that cannot be written (immutable): KairosError at start, not a raw error at the first write', async (context) => {
      const store = make(path);
      await store.start(recordingContext().context);
      await store.addTask(makeRecord({ id: 'a' }));
      await store.close();
      if (!makeImmutable(path)) context.skip();
      const error = await rejection(start(path));
      expect(error).toBeInstanceOf(KairosError);
      expect(error.message).toBe(
        `${name}: '${path}' is not writable (EPERM: operation not permitted: an immutable or append-only file? see lsattr); the store writes to it`,
      );
    });
  });
});
