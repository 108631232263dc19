// FileStore specifics: the document format, bad files at start, atomic writes, locking, watching.
import {
  chmod,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  rmdir,
  stat,
  truncate,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SerializationError, ValueError } from '../../src/errors.js';
import { serializeTask } from '../../src/serialization.js';
import { FILE_STORE_FORMAT, FILE_STORE_VERSION, FileStore } from '../../stores/file.js';
import { makeRecord, recordingContext, T0 } from './harness.js';

let dir: string;
let path: string;
const stores: FileStore[] = [];

async function started(options: { path: string } = { path }): Promise<FileStore> {
  const store = new FileStore(options);
  stores.push(store);
  await store.start(recordingContext().context);
  return store;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kairos-file-store-'));
  path = join(dir, 'tasks.json');
});
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('FileStore options', () => {
  it('rejects a missing or empty path with a ValueError naming the value', () => {
    expect(() => new FileStore({ path: '' })).toThrow(ValueError);
    expect(() => new FileStore({ path: '   ' })).toThrow(/path must be a non-empty string, got " {3}"/);
    expect(() => new FileStore(undefined as unknown as { path: string })).toThrow(
      /options must be an object/,
    );
    expect(() => new FileStore({ path: 42 as unknown as string })).toThrow(/got 42/);
  });
});

describe('FileStore document', () => {
  it('start creates the file (and its directory) as an empty versioned document', async () => {
    const nested = join(dir, 'a', 'b', 'tasks.json');
    await started({ path: nested });
    expect(JSON.parse(await readFile(nested, 'utf8'))).toEqual({
      format: FILE_STORE_FORMAT,
      version: FILE_STORE_VERSION,
      tasks: {},
      leases: {},
      runSlots: {},
    });
  });

  it('holds each task as serializeTask JSON, and leases and run slots in sections of their own', async () => {
    const store = await started();
    const record = makeRecord({ id: 'a', args: [{ x: 1 }] });
    await store.addTask(record, { replaceExisting: false });
    await store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: 1 });
    await store.claimRunSlot({
      taskId: 'a',
      runId: 'run-1',
      owner: 'A',
      expiresAt: Date.now() + 60_000,
      maxInstances: 1,
    });
    const document = JSON.parse(await readFile(path, 'utf8'));
    expect(document.tasks).toEqual({ a: JSON.parse(JSON.stringify(serializeTask(record))) });
    expect(document.leases).toEqual({ a: { owner: 'A', expiresAt: T0 + 1000, runTime: T0, held: false } });
    expect(document.runSlots).toEqual({
      'run-1': { taskId: 'a', owner: 'A', expiresAt: expect.any(Number) },
    });
  });
});

describe('FileStore refuses a bad file at start, naming it and leaving it untouched', () => {
  const cases: Array<[string, (valid: string) => string | Promise<string>, RegExp]> = [
    ['corrupt JSON', () => '{"format": "kairos-file-store", "version": 1, "tasks": {', /not valid JSON/],
    ['garbage bytes', () => '\u0000\u0001PK\u0003\u0004 not json at all', /not valid JSON/],
    ['a truncated document', (valid) => valid.slice(0, Math.floor(valid.length / 2)), /not valid JSON/],
    ['an empty file', () => '', /is empty/],
    ['foreign JSON', () => '{"name": "my-app", "version": "1.0.0"}', /not a kairos task file/],
    [
      'a newer format version',
      () => JSON.stringify({ format: FILE_STORE_FORMAT, version: 99, tasks: {} }),
      /format version 99.*newer/,
    ],
    [
      'a malformed section',
      () => JSON.stringify({ format: FILE_STORE_FORMAT, version: 1, tasks: [] }),
      /"tasks" must be an object/,
    ],
    [
      'a malformed lease',
      () => JSON.stringify({ format: FILE_STORE_FORMAT, version: 1, tasks: {}, leases: { a: { owner: 1 } } }),
      /lease of task 'a' is malformed/,
    ],
  ];

  it.each(cases)('%s', async (_name, content, message) => {
    const store = await started();
    for (const id of ['a', 'b', 'c']) await store.addTask(makeRecord({ id }), { replaceExisting: false });
    await store.close();
    const text = await content(await readFile(path, 'utf8'));
    await writeFile(path, text);
    const before = await stat(path);

    const failing = new FileStore({ path });
    const error = await failing.start(recordingContext().context).then(
      () => null,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(SerializationError);
    expect((error as Error).message).toContain(path);
    expect((error as Error).message).toMatch(message);
    expect(await readFile(path, 'utf8')).toBe(text);
    expect((await stat(path)).mtimeMs).toBe(before.mtimeMs);
    expect(await readdir(dir)).toEqual(['tasks.json']);
  });

  it('a file corrupted while the store runs makes operations fail, and is not overwritten', async () => {
    const store = await started();
    await store.addTask(makeRecord({ id: 'a' }), { replaceExisting: false });
    await writeFile(path, '{"format": "kairos-file-store", "vers');
    await expect(store.addTask(makeRecord({ id: 'b' }), { replaceExisting: false })).rejects.toThrow(
      SerializationError,
    );
    await expect(store.getTasks()).rejects.toThrow(path);
    expect(await readFile(path, 'utf8')).toBe('{"format": "kairos-file-store", "vers');
  });
});

describe('FileStore writes', () => {
  it('are atomic renames that keep the file mode and leave no temp files or lock behind', async () => {
    const store = await started();
    await chmod(path, 0o600);
    await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        store.addTask(makeRecord({ id: `t${index}` }), { replaceExisting: false }),
      ),
    );
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['tasks.json']);
    expect(Object.keys(JSON.parse(await readFile(path, 'utf8')).tasks)).toHaveLength(20);
  });

  it('two stores on one file lose no change of each other (every write re-reads under the lock)', async () => {
    const first = await started();
    const second = await started();
    await Promise.all(
      Array.from({ length: 30 }, (_, index) =>
        (index % 2 === 0 ? first : second).addTask(makeRecord({ id: `t${index}` }), {
          replaceExisting: false,
        }),
      ),
    );
    expect((await first.getTasks()).map((record) => record.id).sort()).toEqual(
      Array.from({ length: 30 }, (_, index) => `t${index}`).sort(),
    );
    await expect(second.addTask(makeRecord({ id: 't0' }), { replaceExisting: false })).rejects.toThrow(
      /'t0'/,
    );
  });

  it('wait for a lock another process holds, and take over a stale one', async () => {
    const store = await started();
    const lockDirectory = `${path}.lock`;
    await mkdir(lockDirectory);
    const startedAt = Date.now();
    const adding = store.addTask(makeRecord({ id: 'waited' }), { replaceExisting: false });
    setTimeout(() => void rmdir(lockDirectory), 300);
    await adding;
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(250);

    await mkdir(lockDirectory);
    const longAgo = new Date(Date.now() - 60_000);
    await utimes(lockDirectory, longAgo, longAgo);
    await store.addTask(makeRecord({ id: 'after-stale' }), { replaceExisting: false });
    expect((await store.getTasks()).map((record) => record.id).sort()).toEqual(['after-stale', 'waited']);
  });

  it('an unreadable entry survives rewrites of the document verbatim', async () => {
    const store = await started();
    await store.addTask(makeRecord({ id: 'a' }), { replaceExisting: false });
    await store.close();
    const document = JSON.parse(await readFile(path, 'utf8'));
    document.tasks.weird = { id: 'weird', fn: 42, custom: { kept: ['as', 'is'] } };
    await writeFile(path, JSON.stringify(document));
    const { context, reports } = recordingContext();
    const reopened = new FileStore({ path });
    stores.push(reopened);
    await reopened.start(context);
    expect(reports.map(([id, error]) => [id, error.message])).toEqual([
      ['weird', "task 'weird': stored field 'name' must be a non-empty string, got undefined"],
    ]);
    await reopened.addTask(makeRecord({ id: 'b' }), { replaceExisting: false });
    await reopened.removeTask('a');
    expect(JSON.parse(await readFile(path, 'utf8')).tasks).toEqual({
      weird: { id: 'weird', fn: 42, custom: { kept: ['as', 'is'] } },
      b: JSON.parse(JSON.stringify(serializeTask(makeRecord({ id: 'b' })))),
    });
    expect(reports).toHaveLength(1);
  });

  it('an entry filed under another id is unreadable, not silently renamed', async () => {
    const store = await started();
    await store.addTask(makeRecord({ id: 'a' }), { replaceExisting: false });
    await store.close();
    const document = JSON.parse(await readFile(path, 'utf8'));
    document.tasks.b = document.tasks.a;
    await writeFile(path, JSON.stringify(document));
    const { context, reports } = recordingContext();
    const reopened = new FileStore({ path });
    stores.push(reopened);
    await reopened.start(context);
    expect((await reopened.getTasks()).map((record) => record.id)).toEqual(['a']);
    expect(reports.map(([id, error]) => [id, error.message])).toEqual([
      ['b', 'task \'b\': the entry names another id, "a"'],
    ]);
  });
});

describe('FileStore lifecycle', () => {
  it('operations before start reject; a store can be started again after close', async () => {
    const store = new FileStore({ path });
    await expect(store.getTasks()).rejects.toThrow(/not started/);
    await store.start(recordingContext().context);
    await store.addTask(makeRecord({ id: 'a' }), { replaceExisting: false });
    await store.close();
    await expect(store.getTasks()).rejects.toThrow(/not started/);
    await store.start(recordingContext().context);
    stores.push(store);
    expect((await store.getTasks()).map((record) => record.id)).toEqual(['a']);
  });

  it('a truncated file written by something else is refused even after a clean start', async () => {
    await started();
    await truncate(path, 10);
    await expect(new FileStore({ path }).start(recordingContext().context)).rejects.toThrow(/not valid JSON/);
  });
});
