// FileStore run history and run-now requests: the migration of a version 1 document (also by several processes
// starting at once), the document's new sections and their checks, trimming, ordering, pruning, unreadable
// records and requests, requests taken exactly once by two processes, old requests dropped, entries nested deeper
// than JSON.stringify goes, and which writes wake another process's watch. The behaviour every store shares: test/stores/history.test.ts.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SerializationError } from '../../src/errors.js';
import { RUN_REQUEST_MAX_AGE_MS, type RunNowRequest, type StoredRunRecord } from '../../src/history.js';
import { serializeTask } from '../../src/serialization.js';
import type { StoreContext } from '../../src/store.js';
import { FILE_STORE_FORMAT, FileStore } from '../../stores/file.js';
import { rejection } from './file-fixtures.js';
import { makeRecord, recordingContext, T0 } from './harness.js';

let dir: string;
let path: string;
const stores: FileStore[] = [];

async function started(context: StoreContext = recordingContext().context): Promise<FileStore> {
  const store = new FileStore({ path });
  stores.push(store);
  await store.start(context);
  return store;
}

/** A run record of `taskId` that ended at `endedAt`. */
function makeRun(runId: string, taskId: string, endedAt: number, extra: Partial<StoredRunRecord> = {}) {
  const record: StoredRunRecord = {
    runId,
    taskId,
    taskName: taskId,
    scheduledRunTime: endedAt - 10,
    startedAt: endedAt - 5,
    endedAt,
    durationMs: 5,
    outcome: 'success',
    attempts: 1,
    args: [],
    schedulerId: 'S',
    ...extra,
  };
  return record;
}

function makeRequest(requestId: string, requestedAt: number, extra: Partial<RunNowRequest> = {}) {
  const request: RunNowRequest = { requestId, taskId: 'a', requestedAt, ...extra };
  return request;
}

const ids = (records: readonly StoredRunRecord[]) => records.map((record) => record.runId);

/** The document as JSON. */
async function readJson(): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
}

/** A logger that keeps the lines it writes, parsed. */
function capturingLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

/** A document as kairos 0.1 (format version 1) wrote it: the task 'old', leased to 'A', with one run slot. */
function version1Document(): string {
  return JSON.stringify(
    {
      format: FILE_STORE_FORMAT,
      version: 1,
      tasks: { old: serializeTask(makeRecord({ id: 'old' })) },
      leases: { old: { owner: 'A', expiresAt: T0 + 1e12, runTime: T0, held: false } },
      runSlots: { 'slot-1': { taskId: 'old', owner: 'A', expiresAt: T0 + 1e12 } },
    },
    null,
    2,
  );
}

const STORE_OPEN = fileURLToPath(new URL('../support/store-open.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Runs `body` in a child process (node, under tsx), where `store` is a `FileStore` on the test document (not
 * started), `args` its arguments, `print(value)` answers, and `signal(name)` / `await signalled(name)` make and
 * wait for a file of that name in the test directory (to start processes together). Resolves with what it
 * printed, parsed.
 */
async function inChild(body: string, args: readonly string[] = []): Promise<unknown> {
  const code = `
    const { pino } = await import('pino');
    const { existsSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { openStore } = await import(${JSON.stringify(STORE_OPEN)});
    const [location, dir, ...args] = process.argv.slice(1);
    const store = openStore('file', location);
    const print = (value) => process.stdout.write(JSON.stringify(value));
    const signal = (name) => writeFileSync(join(dir, name), '');
    const signalled = async (name) => {
      while (!existsSync(join(dir, name))) await new Promise((resolve) => setTimeout(resolve, 5));
    };
    ${body}
    await store.close();`;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', code, path, signals, ...args],
    { cwd: ROOT },
  );
  return JSON.parse(stdout);
}

/** The directory of the signal files (next to the document, not in its directory: the watch looks there). */
let signals: string;

/** Makes the file `name`, which children wait for with `signalled`. */
async function signal(name: string): Promise<void> {
  await writeFile(join(signals, name), '');
}

/** Resolves once the files `names` exist (children made them with `signal`). */
async function signalled(...names: string[]): Promise<void> {
  await expect
    .poll(async () => (await readdir(signals)).filter((name) => names.includes(name)).length, {
      timeout: 20_000,
      interval: 10,
    })
    .toBe(names.length);
}

const START_IN_CHILD =
  "await store.start({ logger: pino({ level: 'silent' }), alias: 'default', reportBrokenRecord: () => {} });";

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kairos-file-history-'));
  path = join(dir, 'store', 'tasks.json');
  signals = join(dir, 'signals');
  await mkdir(signals);
});
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

describe('FileStore migration of a version 1 document (kairos before run history)', () => {
  it('reads it, and rewrites it at start as version 2 with a revision, no runs and no requests', async () => {
    await mkdir(join(dir, 'store'));
    await writeFile(path, version1Document());
    const store = await started();
    const document = await readJson();
    expect(document).toMatchObject({ version: 2, revision: 0, runs: [], runRequests: {} });
    expect(document.leases).toEqual({ old: { owner: 'A', expiresAt: T0 + 1e12, runTime: T0, held: false } });
    expect(document.runSlots).toEqual({ 'slot-1': { taskId: 'old', owner: 'A', expiresAt: T0 + 1e12 } });
    expect((await store.getTasks()).map((record) => record.id)).toEqual(['old']);
    await store.appendRuns([makeRun('run-1', 'old', T0)], 20);
    await store.requestRun(makeRequest('q-1', Date.now()));
    expect(ids(await store.getRuns({ limit: 10 }))).toEqual(['run-1']);
    expect(await store.hasRunRequest('q-1')).toBe(true);
  });

  it('several processes starting at once on it: every one starts, and no write of theirs is lost', async () => {
    await mkdir(join(dir, 'store'));
    await writeFile(path, version1Document());
    const children = Array.from({ length: 4 }, (_, index) =>
      inChild(
        `signal('ready-' + args[0]);
         await signalled('go');
         ${START_IN_CHILD}
         await store.appendRuns([{ runId: 'child-' + args[0], taskId: 'old', taskName: 'old', scheduledRunTime: 1,
           startedAt: 1, endedAt: 2, durationMs: 1, outcome: 'success', attempts: 1, args: [], schedulerId: 'c' }], 20);
         print((await store.getTasks()).map((record) => record.id));`,
        [String(index)],
      ),
    );
    await signalled('ready-0', 'ready-1', 'ready-2', 'ready-3');
    await signal('go');
    expect(await Promise.all(children)).toEqual([['old'], ['old'], ['old'], ['old']]);
    const store = await started();
    expect(ids(await store.getRuns({ limit: 10 })).sort()).toEqual([
      'child-0',
      'child-1',
      'child-2',
      'child-3',
    ]);
    expect(await readJson()).toMatchObject({ version: 2, revision: 0 });
  }, 30_000);

  const refused: Array<[string, Record<string, unknown>, RegExp]> = [
    ['"runs" not an array', { runs: {} }, /"runs" must be an array/],
    ['"runRequests" not an object', { runRequests: [] }, /"runRequests" must be an object/],
    ['a bad revision', { revision: -1 }, /"revision" must be a non-negative integer, got -1/],
  ];

  it.each(refused)(
    'a version 2 document with %s is refused at start and left untouched',
    async (_name, change, message) => {
      await (await started()).close();
      const text = JSON.stringify({ ...(await readJson()), ...change });
      await writeFile(path, text);
      const error = await rejection(new FileStore({ path }).start(recordingContext().context));
      expect(error).toBeInstanceOf(SerializationError);
      expect(error.message).toContain(path);
      expect(error.message).toMatch(message);
      expect(await readFile(path, 'utf8')).toBe(text);
    },
  );
});

describe('FileStore run history', () => {
  it('keeps one record per line in "runs", oldest first, and the newest perTask of each task named', async () => {
    const store = await started();
    await store.appendRuns(
      [makeRun('b-1', 'b', T0), makeRun('b-2', 'b', T0 + 1), makeRun('b-3', 'b', T0 + 2)],
      2,
    );
    // 'a-old' ended last but was appended first: it is the one trimmed.
    await store.appendRuns([makeRun('a-old', 'a', T0 + 100)], 2);
    await store.appendRuns([makeRun('a-1', 'a', T0 + 1), makeRun('a-2', 'a', T0 + 2)], 2);
    const lines = (await readFile(path, 'utf8')).split('\n');
    const first = lines.indexOf('  "runs": [');
    expect(lines.slice(first + 1, first + 6)).toEqual([
      `    ${JSON.stringify(makeRun('b-2', 'b', T0 + 1))},`,
      `    ${JSON.stringify(makeRun('b-3', 'b', T0 + 2))},`,
      `    ${JSON.stringify(makeRun('a-1', 'a', T0 + 1))},`,
      `    ${JSON.stringify(makeRun('a-2', 'a', T0 + 2))}`,
      '  ],',
    ]);
    // A batch naming only 'a' leaves 'b' alone, even with a smaller perTask.
    await store.appendRuns([makeRun('a-3', 'a', T0 + 3)], 1);
    expect(ids(await store.getRuns({ limit: 10 }))).toEqual(['a-3', 'b-3', 'b-2']);
  });

  it('stays bounded: a thousand runs of ten tasks leave ten per task in the document', async () => {
    const store = await started();
    for (let batch = 0; batch < 20; batch++) {
      const records = Array.from({ length: 50 }, (_, index) =>
        makeRun(`r-${batch}-${index}`, `t${index % 10}`, T0 + batch * 50 + index),
      );
      await store.appendRuns(records, 10);
    }
    expect((await readJson()).runs).toHaveLength(100);
    expect(ids(await store.getRuns({ taskId: 't3', limit: 3 }))).toEqual(['r-19-43', 'r-19-33', 'r-19-23']);
  });

  it('a run id stored already is left out: the first record stays', async () => {
    const store = await started();
    await store.appendRuns([makeRun('r', 'a', T0, { outcome: 'error' })], 5);
    await store.appendRuns([makeRun('r', 'a', T0 + 1), makeRun('r', 'b', T0 + 2)], 5);
    const runs = await store.getRuns({ limit: 10 });
    expect(runs.map((run) => [run.runId, run.taskId, run.outcome])).toEqual([['r', 'a', 'error']]);
  });

  it('getRuns: newest first by end, ties by appending order (later first), with every filter and the limit', async () => {
    const store = await started();
    const missed = makeRun('a-2', 'a', T0 + 5, {
      outcome: 'missed',
      startedAt: null,
      durationMs: null,
      missedCount: 3,
    });
    const replay = makeRun('a-3', 'a', T0 + 10, {
      replayOf: 'a-1',
      args: [1, { x: 'y' }],
      result: { ok: true },
    });
    await store.appendRuns(
      [
        makeRun('a-1', 'a', T0 + 10),
        makeRun('b-1', 'b', T0 + 10, {
          outcome: 'error',
          error: { name: 'Error', message: 'no', stack: 's' },
        }),
        missed,
        makeRun('b-2', 'b', T0 + 20, { outcome: 'timeout' }),
      ],
      20,
    );
    await store.appendRuns([replay], 20);
    expect(ids(await store.getRuns({ limit: 10 }))).toEqual(['b-2', 'a-3', 'b-1', 'a-1', 'a-2']);
    expect(ids(await store.getRuns({ limit: 2 }))).toEqual(['b-2', 'a-3']);
    expect(ids(await store.getRuns({ taskId: 'a', limit: 10 }))).toEqual(['a-3', 'a-1', 'a-2']);
    expect(ids(await store.getRuns({ outcomes: ['error', 'timeout'], limit: 10 }))).toEqual(['b-2', 'b-1']);
    expect(ids(await store.getRuns({ since: T0 + 10, limit: 10 }))).toEqual(['b-2', 'a-3', 'b-1', 'a-1']);
    expect(ids(await store.getRuns({ runId: 'a-2', taskId: 'b', limit: 10 }))).toEqual([]);
    expect(await store.getRuns({ runId: 'a-2', limit: 1 })).toEqual([missed]);
    expect(await store.getRuns({ runId: 'a-3', limit: 1 })).toEqual([replay]);
  });

  it('pruneRuns deletes records of removed tasks ended before the cutoff and beyond the newest `keep`', async () => {
    const store = await started();
    await store.addTask(makeRecord({ id: 'live' }));
    await store.appendRuns(
      [
        makeRun('live-old', 'live', T0 - 1000),
        makeRun('gone-1', 'gone', T0 - 1000),
        makeRun('gone-2', 'gone', T0 + 1),
        makeRun('gone-3', 'gone', T0 + 2),
        makeRun('other-1', 'other', T0 + 3),
        makeRun('other-2', 'other', T0 + 3),
      ],
      20,
    );
    // Removed tasks' records from T0 on: other-2, other-1, gone-3, gone-2 (newest first); keep 3.
    expect(await store.pruneRuns(T0, 3)).toBe(2);
    expect(ids(await store.getRuns({ limit: 10 }))).toEqual(['other-2', 'other-1', 'gone-3', 'live-old']);
    expect(await store.pruneRuns(T0, 3)).toBe(0);
    expect(await store.pruneRuns(T0 + 3, 10)).toBe(1);
    expect(await store.pruneRuns(T0 + 1e9, 0)).toBe(2);
    expect(ids(await store.getRuns({ limit: 10 }))).toEqual(['live-old']);
  });

  it('an element that cannot be read back is left out and logged once, kept verbatim; pruned if it names no task', async () => {
    const store = await started();
    await store.addTask(makeRecord({ id: 'a' }));
    await store.appendRuns([makeRun('before', 'a', T0), makeRun('after', 'a', T0 + 2)], 20);
    await store.close();
    const document = await readJson();
    const wrong = { ...makeRun('wrong', 'a', T0 + 1), outcome: 'fine' };
    (document.runs as unknown[]).splice(1, 0, wrong, 'not a record');
    await writeFile(path, JSON.stringify(document));

    const { logger, lines } = capturingLogger();
    const reopened = await started({ ...recordingContext().context, logger });
    for (let round = 0; round < 2; round++) {
      expect(ids(await reopened.getRuns({ limit: 10 }))).toEqual(['after', 'before']);
      expect(ids(await reopened.getRuns({ taskId: 'a', limit: 10 }))).toEqual(['after', 'before']);
    }
    expect(lines.map((line) => line.run)).toEqual(['wrong', 'runs[2]']);
    expect(lines[0]?.msg).toBe(
      "FileStore: run record 'wrong' cannot be read back (field 'outcome' is \"fine\"); it is left out of the run history",
    );
    await reopened.addTask(makeRecord({ id: 'b' }));
    expect((await readJson()).runs).toEqual([
      makeRun('before', 'a', T0),
      wrong,
      'not a record',
      makeRun('after', 'a', T0 + 2),
    ]);
    // The element without a task is of no task in the store: a prune removes it whatever the cutoff.
    expect(await reopened.pruneRuns(0, 100)).toBe(1);
    expect((await readJson()).runs).toEqual([
      makeRun('before', 'a', T0),
      wrong,
      makeRun('after', 'a', T0 + 2),
    ]);
  });

  it('an element nested deeper than JSON.stringify goes is kept verbatim, left out and logged once; pruned if it names no task', async () => {
    const store = await started();
    await store.addTask(makeRecord({ id: 'a' }));
    await store.appendRuns([makeRun('fine', 'a', T0)], 20);
    await store.close();
    const document = await readJson();
    (document.runs as unknown[]).push('DEEP', { ...makeRun('deep-args', 'a', T0 + 1), args: 'ARGS' });
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    await writeFile(path, JSON.stringify(document).replace('"DEEP"', deep).replace('"ARGS"', `[${deep}]`));

    const { logger, lines } = capturingLogger();
    const reopened = await started({ ...recordingContext().context, logger });
    for (let round = 0; round < 2; round++) {
      expect(ids(await reopened.getRuns({ limit: 10 }))).toEqual(['fine']);
      expect(ids(await reopened.getRuns({ taskId: 'a', limit: 10 }))).toEqual(['fine']);
    }
    expect(lines.map((line) => line.run)).toEqual(['runs[1]', 'deep-args']);
    expect(lines[0]?.msg).toMatch(
      /^FileStore: run record 'runs\[1\]' cannot be read back \(nested too deeply for JSON\.stringify \(.+\)\); it is left out of the run history$/,
    );
    // Kept as written through a rewrite of the document; pruned (it names no task) whatever the cutoff.
    await reopened.addTask(makeRecord({ id: 'b' }));
    const runLines = (text: string) =>
      text.split('\n').filter((line) => line.startsWith('    [') || line.includes('"runId"'));
    const kept = runLines(await readFile(path, 'utf8'));
    expect(kept).toHaveLength(3);
    expect(kept[1]).toBe(`    ${deep},`);
    expect(kept[2]).toBe(
      `    ${JSON.stringify({ ...makeRun('deep-args', 'a', T0 + 1), args: 'ARGS' }).replace('"ARGS"', `[${deep}]`)}`,
    );
    expect(await reopened.pruneRuns(0, 100)).toBe(1);
    const pruned = runLines(await readFile(path, 'utf8'));
    expect(pruned).toHaveLength(2);
    expect(pruned[0]).toBe(`    ${JSON.stringify(makeRun('fine', 'a', T0))},`);
    expect(ids(await reopened.getRuns({ limit: 10 }))).toEqual(['fine']);
    expect(lines).toHaveLength(2);
  });

  it('a record that is not JSON is a SerializationError, and nothing of its batch is stored', async () => {
    const store = await started();
    const error = await rejection(
      store.appendRuns([makeRun('fine', 'a', T0), makeRun('big', 'a', T0, { args: [10n] })], 20),
    );
    expect(error).toBeInstanceOf(SerializationError);
    expect(error.message).toMatch(/^run 'big' cannot be stored: it is not JSON/);
    expect(await store.getRuns({ limit: 10 })).toEqual([]);
  });
});

describe('FileStore run-now requests', () => {
  it('takeRunRequests returns requests oldest first, drops those older than RUN_REQUEST_MAX_AGE_MS, empties the section', async () => {
    const store = await started();
    const now = Date.now();
    await store.requestRun(makeRequest('late', now - 10));
    await store.requestRun(makeRequest('too-old', now - RUN_REQUEST_MAX_AGE_MS - 1));
    await store.requestRun(
      makeRequest('just-in-time', now - RUN_REQUEST_MAX_AGE_MS, { args: [1], replayOf: 'x:1' }),
    );
    await store.requestRun(makeRequest('tie-first', now - 20));
    await store.requestRun(makeRequest('tie-second', now - 20));
    await store.requestRun(makeRequest('tie-first', now - 5));
    expect((await readJson()).runRequests).toMatchObject({
      late: { taskId: 'a', requestedAt: now - 10 },
      'just-in-time': { taskId: 'a', requestedAt: now - RUN_REQUEST_MAX_AGE_MS, args: [1], replayOf: 'x:1' },
    });
    expect(await store.hasRunRequest('too-old')).toBe(true);
    const taken = await store.takeRunRequests(now);
    expect(taken).toEqual([
      makeRequest('just-in-time', now - RUN_REQUEST_MAX_AGE_MS, { args: [1], replayOf: 'x:1' }),
      makeRequest('tie-first', now - 20),
      makeRequest('tie-second', now - 20),
      makeRequest('late', now - 10),
    ]);
    expect(await store.hasRunRequest('too-old')).toBe(false);
    expect((await readJson()).runRequests).toEqual({});
    expect(await store.takeRunRequests(now)).toEqual([]);
  });

  it('a request that cannot be read back is dropped with one warning, never taken, and gone at the next write', async () => {
    const store = await started();
    await store.requestRun(makeRequest('good', Date.now()));
    await store.close();
    const document = await readJson();
    const requests = document.runRequests as Record<string, unknown>;
    requests.list = { taskId: 'a', requestedAt: Date.now(), args: 'not a list' };
    requests.number = { taskId: 7, requestedAt: Date.now() };
    requests.text = 'run it';
    requests.deep = 'DEEP';
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    await writeFile(
      path,
      JSON.stringify(document).replace('"DEEP"', `{"taskId":"a","requestedAt":1,"args":${deep}}`),
    );

    const { logger, lines } = capturingLogger();
    const reopened = await started({ ...recordingContext().context, logger });
    expect(lines.map((line) => [line.requestId, line.msg])).toEqual([
      [
        'list',
        `FileStore: run request 'list' in '${path}' cannot be read back (field 'args' is "not a list"); it is dropped`,
      ],
      [
        'number',
        `FileStore: run request 'number' in '${path}' cannot be read back (field 'taskId' is 7); it is dropped`,
      ],
      [
        'text',
        `FileStore: run request 'text' in '${path}' cannot be read back (not an object: "run it"); it is dropped`,
      ],
      [
        'deep',
        expect.stringMatching(
          /^FileStore: run request 'deep' in '.+' cannot be read back \(nested too deeply for JSON\.stringify \(.+\)\); it is dropped$/,
        ),
      ],
    ]);
    for (const id of ['list', 'number', 'text', 'deep']) expect(await reopened.hasRunRequest(id)).toBe(false);
    expect(await reopened.hasRunRequest('good')).toBe(true);
    // Still in the file until the next write, which removes them; read again meanwhile, they are not logged again.
    await writeFile(path, `${await readFile(path, 'utf8')}\n`);
    expect(await reopened.hasRunRequest('good')).toBe(true);
    expect(Object.keys((await readJson()).runRequests as object)).toEqual([
      'good',
      'list',
      'number',
      'text',
      'deep',
    ]);
    await reopened.appendRuns([makeRun('r', 'a', T0)], 20);
    expect(Object.keys((await readJson()).runRequests as object)).toEqual(['good']);
    expect((await reopened.takeRunRequests(Date.now())).map((request) => request.requestId)).toEqual([
      'good',
    ]);
    expect(lines).toHaveLength(4);
  });

  it('cancelRunRequest removes a waiting request once', async () => {
    const store = await started();
    await store.requestRun(makeRequest('q', Date.now()));
    expect(await store.cancelRunRequest('q')).toBe(true);
    expect(await store.cancelRunRequest('q')).toBe(false);
    expect(await store.hasRunRequest('q')).toBe(false);
  });

  it('with no request waiting, takeRunRequests does not take the lock', async () => {
    const store = await started();
    const before = (await stat(path)).mtimeMs;
    await mkdir(`${path}.lock`);
    try {
      const startedAt = Date.now();
      expect(await store.takeRunRequests(Date.now())).toEqual([]);
      expect(Date.now() - startedAt).toBeLessThan(200);
    } finally {
      await rmdir(`${path}.lock`);
    }
    expect((await stat(path)).mtimeMs).toBe(before);
  });

  it('two processes taking requests while more are made: each request is taken exactly once', async () => {
    const store = await started();
    const made: string[] = [];
    const request = async (count: number) => {
      for (let index = 0; index < count; index++) {
        const requestId = `q-${made.length}`;
        made.push(requestId);
        await store.requestRun(makeRequest(requestId, Date.now()));
      }
    };
    await request(50);
    const takers = [0, 1].map((index) =>
      inChild(
        `${START_IN_CHILD}
         const taken = [];
         signal('ready-' + args[0]);
         await signalled('go');
         while (!existsSync(join(dir, 'stop'))) {
           for (const request of await store.takeRunRequests(Date.now())) taken.push(request.requestId);
           await new Promise((resolve) => setTimeout(resolve, 1));
         }
         for (const request of await store.takeRunRequests(Date.now())) taken.push(request.requestId);
         print(taken);`,
        [String(index)],
      ),
    );
    await signalled('ready-0', 'ready-1');
    await signal('go');
    await request(100);
    await signal('stop');
    const [first, second] = (await Promise.all(takers)) as [string[], string[]];
    expect(first.length).toBeGreaterThan(0);
    expect(second.length).toBeGreaterThan(0);
    expect([...first, ...second].sort()).toEqual([...made].sort());
    expect(await store.takeRunRequests(Date.now())).toEqual([]);
  }, 30_000);
});

describe("FileStore watch: what wakes another process's watch", () => {
  const settled = () => new Promise((resolve) => setTimeout(resolve, 200));

  it('a task change and a request wake it; run history, run slots and taking requests do not', async () => {
    const watcher = await started();
    const other = await started();
    let calls = 0;
    watcher.watch(() => void calls++);

    await other.appendRuns([makeRun('r-1', 'a', T0)], 20);
    await other.claimRunSlot({ taskId: 'a', runId: 's', owner: 'B', expiresAt: T0 + 1e12, maxInstances: 1 });
    await other.releaseRunSlot('s');
    await other.pruneRuns(T0 + 1, 0);
    await settled();
    expect(calls).toBe(0);
    expect((await readJson()).revision).toBe(0);

    await other.addTask(makeRecord({ id: 'a' }));
    await expect.poll(() => calls, { timeout: 2000 }).toBe(1);
    await other.appendRuns([makeRun('r-2', 'a', T0)], 20);
    await settled();
    expect(calls).toBe(1);

    await other.requestRun(makeRequest('q', Date.now()));
    await expect.poll(() => calls, { timeout: 2000 }).toBe(2);
    await other.takeRunRequests(Date.now());
    await settled();
    expect(calls).toBe(2);
    expect((await readJson()).revision).toBe(2);

    // Its own writes do not wake it.
    await watcher.addTask(makeRecord({ id: 'b' }));
    await watcher.requestRun(makeRequest('own', Date.now()));
    await settled();
    expect(calls).toBe(2);
  });

  it("another process's change followed at once by one of its own is still reported", async () => {
    const watcher = await started();
    const other = await started();
    let calls = 0;
    watcher.watch(() => void calls++);
    for (let round = 1; round <= 3; round++) {
      await other.addTask(makeRecord({ id: `foreign-${round}` }));
      await watcher.addTask(makeRecord({ id: `own-${round}` }));
      await expect.poll(() => calls, { timeout: 2000 }).toBe(round);
    }
  });
});

describe('FileStore task entries nested deeper than JSON.stringify goes', () => {
  it('one is a broken record, reported once and kept verbatim; the store opens and writes on', async () => {
    const store = await started();
    await store.addTask(makeRecord({ id: 'a' }));
    await store.close();
    const document = await readJson();
    const tasks = document.tasks as Record<string, unknown>;
    tasks.deep = { ...(tasks.a as Record<string, unknown>), id: 'deep', args: 'ARGS' };
    tasks.array = 'DEEP';
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const deepTask = JSON.stringify(tasks.deep).replace('"ARGS"', `[${deep}]`);
    await writeFile(
      path,
      JSON.stringify(document).replace('"DEEP"', deep).replace(JSON.stringify(tasks.deep), deepTask),
    );

    const { context, reports } = recordingContext();
    const reopened = await started(context);
    expect(reports.map(([id, error]) => [id, error.message])).toEqual([
      [
        'deep',
        expect.stringMatching(/^task 'deep': the entry is nested too deeply for JSON\.stringify \(.+\)$/),
      ],
      ['array', expect.stringMatching(/^task 'array': the entry is nested too deeply for JSON\.stringify/)],
    ]);
    expect((await reopened.getTasks()).map((record) => record.id)).toEqual(['a']);
    expect(await reopened.getTask('deep')).toBeUndefined();
    await expect(reopened.removeTask('deep')).rejects.toThrow(/cannot be read back.*kept untouched/);
    await reopened.addTask(makeRecord({ id: 'b' }));
    const lines = (await readFile(path, 'utf8')).split('\n');
    expect(lines).toContain(`    "deep": ${deepTask},`);
    expect(lines).toContain(`    "array": ${deep},`);
    expect(reports).toHaveLength(2);
  });
});
