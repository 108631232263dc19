// FileStore specifics: the document format, bad files at start, a file deleted while open, atomic writes, locking
// (lockStale, waiting without blocking the event loop), watching. Unusable paths and the not-started guard:
// support.test.ts.
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
import { KairosError, SerializationError, ValueError } from '../../src/errors.js';
import { serializeTask } from '../../src/serialization.js';
import {
  FILE_STORE_FORMAT,
  FILE_STORE_VERSION,
  FileStore,
  type FileStoreOptions,
} from '../../stores/file.js';
import { makeImmutable, rejection, restoreImmutables } from './file-fixtures.js';
import { makeRecord, recordingContext, T0 } from './harness.js';

let dir: string;
let path: string;
const stores: FileStore[] = [];

async function started(options: FileStoreOptions = { path }): Promise<FileStore> {
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
  restoreImmutables();
  for (const store of stores.splice(0)) await store.close().catch(() => {});
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

  it('rejects an unknown option or a non-object with a ValueError naming it', () => {
    const unknownKey = () => new FileStore({ path, lockstale: 1 } as unknown as FileStoreOptions);
    expect(unknownKey).toThrow(ValueError);
    expect(unknownKey).toThrow(/FileStore: unknown option 'lockstale' \(expected one of path, lockStale\)/);
    for (const bad of ['tasks.json', 7, [path]]) {
      const construct = () => new FileStore(bad as unknown as FileStoreOptions);
      expect(construct).toThrow(ValueError);
      expect(construct).toThrow(/FileStore: options must be an object like \{ path \}, got /);
    }
  });

  it("lockStale: 5 s by default, any duration of at least 2 s (proper-lockfile's minimum)", () => {
    expect(new FileStore({ path }).lockStaleMs).toBe(5000);
    expect(new FileStore({ path, lockStale: { seconds: 3 } }).lockStaleMs).toBe(3000);
    expect(new FileStore({ path, lockStale: 'PT2S' }).lockStaleMs).toBe(2000);
    expect(() => new FileStore({ path, lockStale: 1999 })).toThrow(
      "FileStore: lockStale: 1999 is 1999 ms, below proper-lockfile's minimum of 2000 ms",
    );
    expect(() => new FileStore({ path, lockStale: -1 })).toThrow(ValueError);
    expect(() => new FileStore({ path, lockStale: 'soon' })).toThrow(/lockStale: "soon"/);
  });
});

describe('FileStore path', () => {
  it('a read-only task file is fine: it is replaced by rename, which its permission bits do not stop', async () => {
    await (await started()).close();
    await chmod(path, 0o444);
    const store = await started();
    await store.addTask(makeRecord({ id: 'a' }));
    expect((await stat(path)).mode & 0o777).toBe(0o444);
  });
});

describe('FileStore whose file is deleted or cannot be written while it runs', () => {
  const deleted = () =>
    `FileStore: the task file '${path}' was deleted while the store was open; its tasks are gone from disk. Restore the file, or restart the store to begin with an empty one`;

  it('a deleted file: every operation fails with a KairosError saying so; nothing is recreated', async () => {
    const store = await started();
    await store.addTask(makeRecord({ id: 'a' }));
    await rm(path);
    for (const operation of [
      () => store.addTask(makeRecord({ id: 'b' })),
      () => store.getTasks(),
      () => store.acquireDueTasks({ owner: 'A', now: T0, leaseMs: 1000, limit: 10 }),
    ]) {
      const error = await rejection(operation());
      expect(error).toBeInstanceOf(KairosError);
      expect(error.message).toBe(deleted());
    }
    expect(await readdir(dir)).toEqual([]);
  });

  it('a deleted directory: the same error, not a lock failure', async () => {
    const store = await started();
    await rm(dir, { recursive: true, force: true });
    for (const operation of [() => store.addTask(makeRecord({ id: 'b' })), () => store.getTasks()]) {
      const startedAt = Date.now();
      const error = await rejection(operation());
      expect(Date.now() - startedAt).toBeLessThan(1000);
      expect(error).toBeInstanceOf(KairosError);
      expect(error.message).toBe(deleted());
    }
  });

  it('a file made immutable: a write fails with a KairosError naming it, and leaves no temp file', async (context) => {
    const store = await started();
    if (!makeImmutable(path)) context.skip();
    const error = await rejection(store.addTask(makeRecord({ id: 'a' })));
    expect(error).toBeInstanceOf(KairosError);
    expect(error.message).toBe(
      `FileStore: cannot write the task file '${path}' (EPERM: operation not permitted)`,
    );
    expect(await readdir(dir)).toEqual(['tasks.json']);
  });
});

describe('FileStore document', () => {
  it('start creates the file (and its directory) as an empty versioned document', async () => {
    const nested = join(dir, 'a', 'b', 'tasks.json');
    await started({ path: nested });
    expect(JSON.parse(await readFile(nested, 'utf8'))).toEqual({
      format: FILE_STORE_FORMAT,
      version: FILE_STORE_VERSION,
      revision: 0,
      tasks: {},
      leases: {},
      runSlots: {},
      runs: [],
      runRequests: {},
      tagLimits: {},
    });
  });

  it('holds each task as serializeTask JSON, and leases and run slots in sections of their own', async () => {
    const store = await started();
    const record = makeRecord({ id: 'a', args: [{ x: 1 }] });
    await store.addTask(record);
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
    for (const id of ['a', 'b', 'c']) await store.addTask(makeRecord({ id }));
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
    await store.addTask(makeRecord({ id: 'a' }));
    await writeFile(path, '{"format": "kairos-file-store", "vers');
    await expect(store.addTask(makeRecord({ id: 'b' }))).rejects.toThrow(SerializationError);
    await expect(store.getTasks()).rejects.toThrow(path);
    expect(await readFile(path, 'utf8')).toBe('{"format": "kairos-file-store", "vers');
  });
});

describe('FileStore writes', () => {
  it('are atomic renames that keep the file mode and leave no temp files or lock behind', async () => {
    const store = await started();
    await chmod(path, 0o600);
    await Promise.all(
      Array.from({ length: 20 }, (_, index) => store.addTask(makeRecord({ id: `t${index}` }))),
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
        (index % 2 === 0 ? first : second).addTask(makeRecord({ id: `t${index}` })),
      ),
    );
    expect((await first.getTasks()).map((record) => record.id).sort()).toEqual(
      Array.from({ length: 30 }, (_, index) => `t${index}`).sort(),
    );
    await expect(second.addTask(makeRecord({ id: 't0' }))).rejects.toThrow(/'t0'/);
  });

  it('a holder paused while it held the lock (half of lockStale or more) drops its write: it may have been taken over', async () => {
    const paused = await started({ path, lockStale: 2000 });
    await paused.addTask(makeRecord({ id: 'a', args: [1] }));
    const before = await readFile(path, 'utf8');
    const realNow = Date.now;
    // The change runs under the lock, after the document was read; the process then "sleeps" for 1.5 s.
    const write = paused.updateTask('a', (current) => {
      const resumedAt = realNow() + 1500;
      Date.now = () => resumedAt;
      return { ...current, args: [2] };
    });
    try {
      await expect(write).rejects.toThrow(/held the lock on .* for \d+ ms, half of lockStale \(2000 ms\)/);
    } finally {
      Date.now = realNow;
    }
    expect(await readFile(path, 'utf8')).toBe(before);
    expect((await paused.getTask('a'))?.args).toEqual([1]);
    // Once going again, its writes go through.
    await paused.updateTask('a', (current) => ({ ...current, args: [3] }));
    expect((await paused.getTask('a'))?.args).toEqual([3]);
  });

  it('a lockStale of 30 days works like any other (no retry table the size of the wait)', async () => {
    const store = await started({ path, lockStale: { days: 30 } });
    await store.addTask(makeRecord({ id: 'long' }));
    expect((await store.getTask('long'))?.id).toBe('long');
  });

  it('wait for a lock another process holds, and take over a stale one', async () => {
    const store = await started();
    const lockDirectory = `${path}.lock`;
    await mkdir(lockDirectory);
    const startedAt = Date.now();
    const adding = store.addTask(makeRecord({ id: 'waited' }));
    setTimeout(() => void rmdir(lockDirectory), 300);
    // The wait is on timers: a 10 ms interval keeps running through it.
    let ticks = 0;
    const interval = setInterval(() => ticks++, 10);
    await adding.finally(() => clearInterval(interval));
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(250);
    expect(ticks).toBeGreaterThanOrEqual(10);

    await mkdir(lockDirectory);
    const longAgo = new Date(Date.now() - 60_000);
    await utimes(lockDirectory, longAgo, longAgo);
    await store.addTask(makeRecord({ id: 'after-stale' }));
    expect((await store.getTasks()).map((record) => record.id).sort()).toEqual(['after-stale', 'waited']);
  });

  it("lockStale decides when a killed holder's lock is taken over", async () => {
    const lockDirectory = `${path}.lock`;
    const heldSince = async (msAgo: number) => {
      await mkdir(lockDirectory);
      const then = new Date(Date.now() - msAgo);
      await utimes(lockDirectory, then, then);
    };
    const quick = await started({ path, lockStale: 2000 });
    await heldSince(2500);
    let startedAt = Date.now();
    await quick.addTask(makeRecord({ id: 'a' }));
    expect(Date.now() - startedAt).toBeLessThan(1000);

    const patient = await started({ path, lockStale: 10_000 });
    await heldSince(2500);
    startedAt = Date.now();
    let done = false;
    const adding = patient.addTask(makeRecord({ id: 'b' })).then(() => {
      done = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(done).toBe(false);
    await rmdir(lockDirectory);
    await adding;
    expect((await patient.getTasks()).map((record) => record.id)).toEqual(['a', 'b']);
  });

  it('a lock a live process keeps holding: a KairosError saying so, after about twice lockStale', async () => {
    const store = await started({ path, lockStale: 2000 });
    const lockDirectory = `${path}.lock`;
    await mkdir(lockDirectory);
    // A live holder refreshes the lock's mtime, so it never goes stale.
    const refresh = setInterval(() => {
      const now = new Date();
      void utimes(lockDirectory, now, now).catch(() => {});
    }, 200);
    try {
      const startedAt = Date.now();
      const error = await rejection(store.addTask(makeRecord({ id: 'a' })));
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(3500);
      expect(error).toBeInstanceOf(KairosError);
      expect(error.message).toBe(
        `FileStore: the task file '${path}' is locked by another process: its lock '${path}.lock' stayed held through 160 tries (4 s or more). A killed holder's lock is taken over after lockStale (2000 ms), so a live process holds it`,
      );
    } finally {
      clearInterval(refresh);
      await rmdir(lockDirectory);
    }
  }, 20_000);

  it('an unreadable entry survives rewrites of the document verbatim', async () => {
    const store = await started();
    await store.addTask(makeRecord({ id: 'a' }));
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
    await reopened.addTask(makeRecord({ id: 'b' }));
    await reopened.removeTask('a');
    expect(JSON.parse(await readFile(path, 'utf8')).tasks).toEqual({
      weird: { id: 'weird', fn: 42, custom: { kept: ['as', 'is'] } },
      b: JSON.parse(JSON.stringify(serializeTask(makeRecord({ id: 'b' })))),
    });
    expect(reports).toHaveLength(1);
  });

  it('an entry filed under another id is unreadable, not silently renamed', async () => {
    const store = await started();
    await store.addTask(makeRecord({ id: 'a' }));
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
  it('a truncated file written by something else is refused even after a clean start', async () => {
    await started();
    await truncate(path, 10);
    await expect(new FileStore({ path }).start(recordingContext().context)).rejects.toThrow(/not valid JSON/);
  });
});
