// FileStore run history and run-now requests: the migration of a version 1 document, the document's new sections
// and their checks, trimming, unreadable records and requests, old requests dropped, entries nested deeper than
// JSON.stringify goes, and which writes wake another process's watch; then, over both file-backed stores
// (FileStore and SQLiteStore, test/stores/history-children.ts), what they do alike: the migration by several
// processes starting at once, trimming, ordering and filters, pruning, requests taken exactly once by two
// processes, and the watch. SQLiteStore's own: test/stores/sqlite-history.test.ts. The behaviour every store
// shares: test/stores/history.test.ts.
import { mkdir, readFile, rmdir, stat, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { SerializationError } from '../../src/errors.js';
import { RUN_REQUEST_MAX_AGE_MS } from '../../src/history.js';
import { FileStore } from '../../stores/file.js';
import { FILE_STORE_VERSION } from '../../stores/file-document.js';
import { rejection } from './file-fixtures.js';
import { makeRecord, recordingContext, T0 } from './harness.js';
import {
  appendPastPerTask,
  capturingLogger,
  FILE_KIND,
  HISTORY_KINDS,
  ids,
  makeRequest,
  makeRequestsToTake,
  makeRun,
  readDocument,
  START_IN_CHILD,
  useHistoryFixture,
} from './history-children.js';

const fixture = useHistoryFixture(FILE_KIND);

/** The document as JSON. */
const readJson = () => readDocument(fixture.path);

describe('FileStore migration of a version 1 document (kairos before run history)', () => {
  it('reads it, and rewrites it at start as the current version with a revision, no runs, requests or limits', async () => {
    await FILE_KIND.writeVersion1(fixture.path);
    const store = await fixture.started();
    const document = await readJson();
    expect(document).toMatchObject({
      version: FILE_STORE_VERSION,
      revision: 0,
      runs: [],
      runRequests: {},
      tagLimits: {},
    });
    expect(FILE_STORE_VERSION).toBe(3);
    expect(document.leases).toEqual({ old: { owner: 'A', expiresAt: T0 + 1e12, runTime: T0, held: false } });
    expect(document.runSlots).toEqual({ 'slot-1': { taskId: 'old', owner: 'A', expiresAt: T0 + 1e12 } });
    expect((await store.getTasks()).map((record) => record.id)).toEqual(['old']);
    await store.appendRuns([makeRun('run-1', 'old', T0)], 20);
    await store.requestRun(makeRequest('q-1', Date.now()));
    expect(ids(await store.getRuns({ limit: 10 }))).toEqual(['run-1']);
    expect(await store.hasRunRequest('q-1')).toBe(true);
  });

  const refused: Array<[string, Record<string, unknown>, RegExp]> = [
    ['"runs" not an array', { runs: {} }, /"runs" must be an array/],
    ['"runRequests" not an object', { runRequests: [] }, /"runRequests" must be an object/],
    ['a bad revision', { revision: -1 }, /"revision" must be a non-negative integer, got -1/],
  ];

  it.each(refused)(
    'a current document with %s is refused at start and left untouched',
    async (_name, change, message) => {
      await (await fixture.started()).close();
      const text = JSON.stringify({ ...(await readJson()), ...change });
      await writeFile(fixture.path, text);
      const error = await rejection(new FileStore({ path: fixture.path }).start(recordingContext().context));
      expect(error).toBeInstanceOf(SerializationError);
      expect(error.message).toContain(fixture.path);
      expect(error.message).toMatch(message);
      expect(await readFile(fixture.path, 'utf8')).toBe(text);
    },
  );
});

describe('FileStore run history', () => {
  it('keeps one record per line in "runs", oldest first, and the newest perTask of each task named', async () => {
    const store = await fixture.started();
    await appendPastPerTask(store);
    const lines = (await readFile(fixture.path, 'utf8')).split('\n');
    const first = lines.indexOf('  "runs": [');
    expect(lines.slice(first + 1, first + 6)).toEqual([
      `    ${JSON.stringify(makeRun('b-2', 'b', T0 + 1))},`,
      `    ${JSON.stringify(makeRun('b-3', 'b', T0 + 2))},`,
      `    ${JSON.stringify(makeRun('a-1', 'a', T0 + 1))},`,
      `    ${JSON.stringify(makeRun('a-2', 'a', T0 + 2))}`,
      '  ],',
    ]);
  });

  it('stays bounded: a thousand runs of ten tasks leave ten per task in the document', async () => {
    const store = await fixture.started();
    for (let batch = 0; batch < 20; batch++) {
      const records = Array.from({ length: 50 }, (_, index) =>
        makeRun(`r-${batch}-${index}`, `t${index % 10}`, T0 + batch * 50 + index),
      );
      await store.appendRuns(records, 10);
    }
    expect((await readJson()).runs).toHaveLength(100);
    expect(ids(await store.getRuns({ taskId: 't3', limit: 3 }))).toEqual(['r-19-43', 'r-19-33', 'r-19-23']);
  });

  it('an element that cannot be read back is left out and logged once, kept verbatim; pruned if it names no task', async () => {
    const store = await fixture.started();
    await store.addTask(makeRecord({ id: 'a' }));
    await store.appendRuns([makeRun('before', 'a', T0), makeRun('after', 'a', T0 + 2)], 20);
    await store.close();
    const document = await readJson();
    const wrong = { ...makeRun('wrong', 'a', T0 + 1), outcome: 'fine' };
    (document.runs as unknown[]).splice(1, 0, wrong, 'not a record');
    await writeFile(fixture.path, JSON.stringify(document));

    const { logger, lines } = capturingLogger();
    const reopened = await fixture.started({ ...recordingContext().context, logger });
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
    const store = await fixture.started();
    await store.addTask(makeRecord({ id: 'a' }));
    await store.appendRuns([makeRun('fine', 'a', T0)], 20);
    await store.close();
    const document = await readJson();
    (document.runs as unknown[]).push('DEEP', { ...makeRun('deep-args', 'a', T0 + 1), args: 'ARGS' });
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    await writeFile(
      fixture.path,
      JSON.stringify(document).replace('"DEEP"', deep).replace('"ARGS"', `[${deep}]`),
    );

    const { logger, lines } = capturingLogger();
    const reopened = await fixture.started({ ...recordingContext().context, logger });
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
    const kept = runLines(await readFile(fixture.path, 'utf8'));
    expect(kept).toHaveLength(3);
    expect(kept[1]).toBe(`    ${deep},`);
    expect(kept[2]).toBe(
      `    ${JSON.stringify({ ...makeRun('deep-args', 'a', T0 + 1), args: 'ARGS' }).replace('"ARGS"', `[${deep}]`)}`,
    );
    expect(await reopened.pruneRuns(0, 100)).toBe(1);
    const pruned = runLines(await readFile(fixture.path, 'utf8'));
    expect(pruned).toHaveLength(2);
    expect(pruned[0]).toBe(`    ${JSON.stringify(makeRun('fine', 'a', T0))},`);
    expect(ids(await reopened.getRuns({ limit: 10 }))).toEqual(['fine']);
    expect(lines).toHaveLength(2);
  });
});

describe('FileStore run-now requests', () => {
  it('the "runRequests" section holds the requests by id, and a take empties it', async () => {
    const store = await fixture.started();
    const now = Date.now();
    await makeRequestsToTake(store, now);
    expect((await readJson()).runRequests).toMatchObject({
      late: { taskId: 'a', requestedAt: now - 10 },
      'just-in-time': { taskId: 'a', requestedAt: now - RUN_REQUEST_MAX_AGE_MS, args: [1], replayOf: 'x:1' },
    });
    await store.takeRunRequests(now);
    expect((await readJson()).runRequests).toEqual({});
  });

  it('a request that cannot be read back is dropped with one warning, never taken, and gone at the next write', async () => {
    const store = await fixture.started();
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
      fixture.path,
      JSON.stringify(document).replace('"DEEP"', `{"taskId":"a","requestedAt":1,"args":${deep}}`),
    );

    const { logger, lines } = capturingLogger();
    const reopened = await fixture.started({ ...recordingContext().context, logger });
    expect(lines.map((line) => [line.requestId, line.msg])).toEqual([
      [
        'list',
        `FileStore: run request 'list' in '${fixture.path}' cannot be read back (field 'args' is "not a list"); it is dropped`,
      ],
      [
        'number',
        `FileStore: run request 'number' in '${fixture.path}' cannot be read back (field 'taskId' is 7); it is dropped`,
      ],
      [
        'text',
        `FileStore: run request 'text' in '${fixture.path}' cannot be read back (not an object: "run it"); it is dropped`,
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
    await writeFile(fixture.path, `${await readFile(fixture.path, 'utf8')}\n`);
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

  it('with no request waiting, takeRunRequests does not take the lock', async () => {
    const store = await fixture.started();
    const before = (await stat(fixture.path)).mtimeMs;
    await mkdir(`${fixture.path}.lock`);
    try {
      const startedAt = Date.now();
      expect(await store.takeRunRequests(Date.now())).toEqual([]);
      expect(Date.now() - startedAt).toBeLessThan(200);
    } finally {
      await rmdir(`${fixture.path}.lock`);
    }
    expect((await stat(fixture.path)).mtimeMs).toBe(before);
  });
});

describe("FileStore watch: what wakes another process's watch", () => {
  it("another process's change followed at once by one of its own is still reported", async () => {
    const watcher = await fixture.started();
    const other = await fixture.started();
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
    const store = await fixture.started();
    await store.addTask(makeRecord({ id: 'a' }));
    await store.close();
    const document = await readJson();
    const tasks = document.tasks as Record<string, unknown>;
    tasks.deep = { ...(tasks.a as Record<string, unknown>), id: 'deep', args: 'ARGS' };
    tasks.array = 'DEEP';
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const deepTask = JSON.stringify(tasks.deep).replace('"ARGS"', `[${deep}]`);
    await writeFile(
      fixture.path,
      JSON.stringify(document).replace('"DEEP"', deep).replace(JSON.stringify(tasks.deep), deepTask),
    );

    const { context, reports } = recordingContext();
    const reopened = await fixture.started(context);
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
    const lines = (await readFile(fixture.path, 'utf8')).split('\n');
    expect(lines).toContain(`    "deep": ${deepTask},`);
    expect(lines).toContain(`    "array": ${deep},`);
    expect(reports).toHaveLength(2);
  });
});
describe.each(HISTORY_KINDS)('$name store: what both file-backed stores do alike', (kind) => {
  const shared = useHistoryFixture(kind);
  const { started, inChild, signal, signalled } = shared;
  const settled = () => new Promise((resolve) => setTimeout(resolve, 200));

  it('several processes starting at once on a version 1 store: every one starts, no write of theirs is lost, it is migrated once', async () => {
    await kind.writeVersion1(shared.path);
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
    await kind.expectMigratedOnce(shared.path);
  }, 30_000);

  it('appendRuns keeps the newest perTask records of each task the batch names, by appending order', async () => {
    const store = await started();
    await appendPastPerTask(store);
    expect(ids(await store.getRuns({ taskId: 'a', limit: 10 }))).toEqual(['a-2', 'a-1']);
    expect(ids(await store.getRuns({ taskId: 'b', limit: 10 }))).toEqual(['b-3', 'b-2']);
    // A batch naming only 'a' leaves 'b' alone, even with a smaller perTask.
    await store.appendRuns([makeRun('a-3', 'a', T0 + 3)], 1);
    expect(ids(await store.getRuns({ taskId: 'a', limit: 10 }))).toEqual(['a-3']);
    expect(ids(await store.getRuns({ taskId: 'b', limit: 10 }))).toEqual(['b-3', 'b-2']);
    expect(ids(await store.getRuns({ limit: 10 }))).toEqual(['a-3', 'b-3', 'b-2']);
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
    expect(ids(await store.getRuns({ taskId: 'a', limit: 1 }))).toEqual(['a-3']);
    expect(ids(await store.getRuns({ outcomes: ['error', 'timeout'], limit: 10 }))).toEqual(['b-2', 'b-1']);
    expect(ids(await store.getRuns({ taskId: 'b', outcomes: ['error'], limit: 10 }))).toEqual(['b-1']);
    expect(ids(await store.getRuns({ since: T0 + 10, limit: 10 }))).toEqual(['b-2', 'a-3', 'b-1', 'a-1']);
    expect(ids(await store.getRuns({ runId: 'a-2', limit: 10 }))).toEqual(['a-2']);
    expect(ids(await store.getRuns({ runId: 'a-2', taskId: 'b', limit: 10 }))).toEqual([]);
    expect(ids(await store.getRuns({ outcomes: [], limit: 10 }))).toEqual([]);
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

  it('a record that is not JSON is a SerializationError, and nothing of its batch is stored', async () => {
    const store = await started();
    const error = await rejection(
      store.appendRuns([makeRun('fine', 'a', T0), makeRun('big', 'a', T0, { args: [10n] })], 20),
    );
    expect(error).toBeInstanceOf(SerializationError);
    expect(error.message).toMatch(/^run 'big' cannot be stored: it is not JSON/);
    expect(await store.getRuns({ limit: 10 })).toEqual([]);
  });

  it('takeRunRequests returns requests oldest first, drops those older than RUN_REQUEST_MAX_AGE_MS, keeps none', async () => {
    const store = await started();
    const now = Date.now();
    await makeRequestsToTake(store, now);
    expect(await store.hasRunRequest('too-old')).toBe(true);
    const taken = await store.takeRunRequests(now);
    expect(taken).toEqual([
      makeRequest('just-in-time', now - RUN_REQUEST_MAX_AGE_MS, { args: [1], replayOf: 'x:1' }),
      makeRequest('tie-first', now - 20),
      makeRequest('tie-second', now - 20),
      makeRequest('late', now - 10),
    ]);
    expect(await store.hasRunRequest('too-old')).toBe(false);
    expect(await store.takeRunRequests(now)).toEqual([]);
  });

  it('cancelRunRequest removes a waiting request once', async () => {
    const store = await started();
    await store.requestRun(makeRequest('q', Date.now()));
    expect(await store.cancelRunRequest('q')).toBe(true);
    expect(await store.cancelRunRequest('q')).toBe(false);
    expect(await store.hasRunRequest('q')).toBe(false);
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
    const [before, during] = kind.requestsToTake;
    await request(before);
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
    await request(during);
    await signal('stop');
    const [first, second] = (await Promise.all(takers)) as [string[], string[]];
    expect(first.length).toBeGreaterThan(0);
    expect(second.length).toBeGreaterThan(0);
    expect([...first, ...second].sort()).toEqual([...made].sort());
    expect(await store.takeRunRequests(Date.now())).toEqual([]);
  }, 30_000);

  it("another process's watch: a task change and a request wake it; run history, run slots and taking requests do not", async () => {
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
    expect(await kind.revision(shared.path)).toBe(0);

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
    expect(await kind.revision(shared.path)).toBe(2);

    // Its own writes do not wake it.
    await watcher.addTask(makeRecord({ id: 'b' }));
    await watcher.requestRun(makeRequest('own', Date.now()));
    await settled();
    expect(calls).toBe(2);
  });
});
