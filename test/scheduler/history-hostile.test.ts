// Run history against hostile input: odd results and thrown values, bad getRuns/replayRun options, stores whose
// history writes fail or hang, floods of runs, and hand-edited stored records and requests.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recordError, recordResult } from '../../src/history.js';
import {
  DateTrigger,
  IntervalTrigger,
  MemoryStore,
  type RunRecord,
  Scheduler,
  type SharedTaskStore,
} from '../../src/index.js';
import { FileStore } from '../../stores/file.js';
import { type Child, killChild, spawnChild } from '../stores/children.js';
import { recordingContext, type StoreBacking, selectedStores } from '../stores/harness.js';
import { silentLogger } from '../support/events.js';
import { T0, useFakeClock } from '../support/fake-clock.js';
import { openStore } from '../support/store-open.js';

/** A pino logger that keeps every line it logs (level, msg), at debug. */
function keptLogger(): { logger: pino.Logger; lines: Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString().split('\n')) if (text !== '') lines.push(JSON.parse(text));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

function throwingGetter<T extends object>(target: T, ...names: string[]): T {
  for (const name of names) {
    Object.defineProperty(target, name, {
      configurable: true,
      get() {
        throw new Error(`getter ${name}`);
      },
    });
  }
  return target;
}

describe('recording odd thrown values and results', () => {
  it('recordError never throws, whatever was thrown', () => {
    const hostile: unknown[] = [
      throwingGetter(new Error('x'), 'message'),
      throwingGetter(new Error('x'), 'name'),
      throwingGetter(new Error('x'), 'stack'),
      throwingGetter(new Error('x'), 'stack', 'message', 'name'),
      {
        toString: () => {
          throw new Error('toString');
        },
        toJSON: () => {
          throw new Error('toJSON');
        },
      },
      Object.create(null),
      Object.assign(Object.create(null), {
        toJSON: () => {
          throw new Error('toJSON');
        },
      }),
      Symbol('s'),
      null,
      undefined,
      10n,
      () => 1,
      new Proxy(
        {},
        {
          getPrototypeOf() {
            throw new Error('proto');
          },
        },
      ),
      new Proxy(new Error('p'), {
        get() {
          throw new Error('any get');
        },
      }),
      (() => {
        const { proxy, revoke } = Proxy.revocable({}, {});
        revoke();
        return proxy;
      })(),
      Object.assign(new Error('m'), {
        name: 42,
        message: {
          toString: () => {
            throw new Error('m');
          },
        },
      }),
    ];
    for (const value of hostile) {
      const error = recordError(value);
      expect(typeof error.name).toBe('string');
      expect(typeof error.message).toBe('string');
      expect(typeof error.stack).toBe('string');
      expect(error.name.length).toBeLessThanOrEqual(201);
      expect(error.message.length).toBeLessThanOrEqual(1025);
    }
  });

  it('recordResult never throws, whatever a task returns', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const hostile: unknown[] = [
      cyclic,
      {
        toJSON: () => {
          throw new Error('toJSON');
        },
      },
      throwingGetter({}, 'x'),
      Object.defineProperty({}, 'x', {
        enumerable: true,
        get() {
          throw new Error('g');
        },
      }),
      new Proxy(
        {},
        {
          ownKeys() {
            throw new Error('keys');
          },
        },
      ),
      (() => {
        const { proxy, revoke } = Proxy.revocable({}, {});
        revoke();
        return proxy;
      })(),
      Symbol('s'),
      10n,
      [10n],
      'z'.repeat(1_000_000),
      Array.from({ length: 100_000 }, (_, i) => i),
      { toJSON: () => undefined },
      { toJSON: () => 'a'.repeat(5000) },
    ];
    for (const value of hostile) {
      const kept = recordResult(value);
      if (kept.result !== undefined) expect(JSON.stringify(kept.result).length).toBeLessThanOrEqual(1100);
    }
  });
});

describe('hostile runs (fake timers)', () => {
  const clock = useFakeClock();

  it('a run that throws an error with throwing getters, or an odd non-error, still leaves its record', async () => {
    const { logger } = keptLogger();
    const scheduler = await clock.started({ logger });
    const thrown: Record<string, () => unknown> = {
      getters: () => throwingGetter(new Error('x'), 'stack', 'message', 'name'),
      toString: () => ({
        toString() {
          throw new Error('toString');
        },
        toJSON() {
          throw new Error('toJSON');
        },
      }),
      nullProto: () => Object.create(null),
      symbol: () => Symbol('s'),
      nothing: () => undefined,
      null: () => null,
    };
    for (const [id, make] of Object.entries(thrown)) {
      await scheduler.addTask(
        () => {
          throw make();
        },
        { id, trigger: new DateTrigger(T0 + 10) },
      );
      await scheduler.addTask(() => Promise.reject(make()), {
        id: `${id}-async`,
        trigger: new DateTrigger(T0 + 10),
      });
    }
    await clock.advance(100);
    const runs = await scheduler.getRuns();
    expect(runs.map((run) => run.taskId).sort()).toEqual(
      Object.keys(thrown)
        .flatMap((id) => [id, `${id}-async`])
        .sort(),
    );
    for (const run of runs) {
      expect(run.outcome).toBe('error');
      expect(typeof run.error?.message).toBe('string');
    }
    expect(runs.find((run) => run.taskId === 'symbol')?.error).toMatchObject({
      name: 'symbol',
      message: 'Symbol(s)',
    });
  });
});

/** A memory store whose history writes reject, hang or throw synchronously. */
function brokenHistoryStore(how: 'reject' | 'hang' | 'throw'): MemoryStore & { appends: number } {
  const store = new MemoryStore() as MemoryStore & { appends: number };
  store.appends = 0;
  store.appendRuns = () => {
    store.appends++;
    if (how === 'reject') return Promise.reject(new Error('disk full'));
    if (how === 'throw') throw new Error('sync boom');
    return new Promise(() => {});
  };
  return store;
}

describe('a store whose history writes fail (fake timers)', () => {
  const clock = useFakeClock();

  for (const how of ['reject', 'hang', 'throw'] as const) {
    it(`${how}: a flood of runs goes on, the buffer stays bounded, and the failure is not logged per record`, async () => {
      const { logger, lines } = keptLogger();
      const store = brokenHistoryStore(how);
      const scheduler = await clock.started({ logger, stores: { default: store } });
      let runs = 0;
      // 30,000 runs in 3 s of fake time: three times the buffer.
      for (let i = 0; i < 30; i++) {
        await scheduler.addTask(() => void runs++, {
          id: `t${i}`,
          trigger: new IntervalTrigger({ milliseconds: 100 }),
          coalesce: false,
        });
      }
      for (let step = 0; step < 100; step++) {
        for (let i = 0; i < 30; i++) await scheduler.runTaskNow(`t${i}`);
        for (let k = 0; k < 9; k++) for (let i = 0; i < 30; i++) await scheduler.runTaskNow(`t${i}`);
        await clock.advance(30);
      }
      expect(runs).toBeGreaterThanOrEqual(30_000);
      const history = lines.filter((line) => /run history/.test(line.msg));
      // One line when the writes start failing, one when records start being dropped: not one per record or per retry.
      expect(history.length).toBeLessThanOrEqual(10);
      expect(store.appends).toBeLessThan(50);
    });
  }
});

describe('a store whose history write never settles (fake timers)', () => {
  const clock = useFakeClock();

  /** Settles like `promise`, or 'pending' if it has not after `ms` of fake time. */
  async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> {
    let settled = false;
    let value: T | 'pending' = 'pending';
    let failure: unknown;
    promise.then(
      (result) => {
        settled = true;
        value = result;
      },
      (error: unknown) => {
        settled = true;
        failure = error;
      },
    );
    for (let waited = 0; !settled && waited < ms; waited += 100) await clock.advance(100);
    if (failure !== undefined) throw failure;
    return value;
  }

  it('getRuns, replayRun, removeStore and shutdown({ timeout }) still return', async () => {
    const hung = brokenHistoryStore('hang');
    const scheduler = await clock.started({ stores: { default: new MemoryStore(), hung } });
    await scheduler.addTask(() => 1, { id: 'good', trigger: new IntervalTrigger({ seconds: 1 }) });
    await scheduler.addTask(() => 2, {
      id: 'bad',
      store: 'hung',
      trigger: new IntervalTrigger({ seconds: 1 }),
    });
    await clock.advance(1500);
    // The hung store's first write is in progress, and never ends.
    expect(hung.appends).toBe(1);
    const runs = await within(scheduler.getRuns({ store: 'default' }), 60_000);
    expect(runs).not.toBe('pending');
    const all = await within(scheduler.getRuns(), 60_000);
    expect(all).not.toBe('pending');
    const [good] = runs === 'pending' ? [] : runs;
    expect(await within(scheduler.replayRun(good?.runId as string), 60_000)).not.toBe('pending');
    expect(await within(scheduler.removeStore('hung'), 60_000)).toBeUndefined();
    const other = brokenHistoryStore('hang');
    await scheduler.addStore('other', other);
    await scheduler.addTask(() => 3, {
      id: 'x',
      store: 'other',
      trigger: new IntervalTrigger({ seconds: 1 }),
    });
    await clock.advance(1500);
    expect(await within(scheduler.shutdown({ timeout: 2000 }), 3000)).toBeUndefined();
  });
});

describe('records of removed tasks (fake timers)', () => {
  const clock = useFakeClock();

  it('stay bounded under a flood of one-shot tasks, not only once an hour', async () => {
    const scheduler = await clock.started();
    // 30,000 one-shot tasks in 5 minutes: each runs once, is removed, and leaves a record.
    for (let second = 0; second < 300; second++) {
      const at = Date.now() + 10;
      for (let i = 0; i < 100; i++) await scheduler.addTask(() => i, { trigger: new DateTrigger(at) });
      await clock.advance(1000);
    }
    expect(await scheduler.getTasks()).toEqual([]);
    // At most 10,000 records of removed tasks are kept per store; pruning may lag by one batch of that size.
    expect((await scheduler.getRuns({ limit: 100_000 })).length).toBeLessThanOrEqual(20_000);
  }, 60_000);
});

describe('records returned by getRuns (fake timers)', () => {
  const clock = useFakeClock();

  it('are copies: changing one changes neither the task (MemoryStore args) nor the stored history', async () => {
    const scheduler = await clock.started();
    const seen: unknown[] = [];
    const fn = () => 42;
    await scheduler.addTask(
      (options: { n: number }, callback: () => number, list: number[]) => {
        seen.push([options.n, callback(), [...list]]);
        return { n: options.n };
      },
      { id: 'job', trigger: new IntervalTrigger({ seconds: 1 }), args: [{ n: 1 }, fn, [1, 2]] },
    );
    await clock.advance(1000);
    const run = (await scheduler.getRuns())[0] as RunRecord;
    expect(run.args).toEqual([{ n: 1 }, fn, [1, 2]]);
    run.args.push('evil');
    (run.args[0] as { n: number }).n = 999;
    (run.args[2] as number[]).length = 0;
    (run.result as { n: number }).n = 555;
    run.args.sort();
    await clock.advance(1000);
    expect(seen).toEqual([
      [1, 42, [1, 2]],
      [1, 42, [1, 2]],
    ]);
    const again = await scheduler.getRuns();
    expect(again.map((record) => [record.args, record.result])).toEqual([
      [[{ n: 1 }, fn, [1, 2]], { n: 1 }],
      [[{ n: 1 }, fn, [1, 2]], { n: 1 }],
    ]);
    // A function in the args (MemoryStore) is kept, so a replay calls the task with it.
    await scheduler.replayRun(again[1]?.runId as string);
    await clock.advance(0);
    expect(seen).toHaveLength(3);
    expect(seen[2]).toEqual([1, 42, [1, 2]]);
  });
});

/** Resolves once `check` returns true (checked every 20 ms), or rejects after `ms`. */
async function until(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.each(selectedStores().filter((kind) => kind.shared))('$name store: hostile run requests', (kind) => {
  let backing: StoreBacking;
  let client: SharedTaskStore;
  let scheduler: Scheduler;
  let lines: Array<{ level: number; msg: string }>;
  const calls: unknown[][] = [];

  beforeEach(async () => {
    calls.length = 0;
    backing = await kind.setUp();
    client = backing.open() as SharedTaskStore;
    await client.start(recordingContext('cli').context);
    const kept = keptLogger();
    lines = kept.lines;
    scheduler = new Scheduler({
      stores: { default: backing.open() },
      functions: { job: (...args: unknown[]) => void calls.push(args) },
      logger: kept.logger,
      schedulerId: 'a',
    });
    await scheduler.start();
    await scheduler.addTask('job', { id: 'job', trigger: new IntervalTrigger({ hours: 1 }), args: ['own'] });
  });
  afterEach(async () => {
    if (scheduler.running) await scheduler.shutdown();
    await client.close();
    await backing.cleanUp();
  });

  it('a request whose id is a run id in the history already is not run (its record would be lost)', async () => {
    await scheduler.runTaskNow('job');
    await until(() => calls.length === 1);
    const [first] = await scheduler.getRuns();
    await client.requestRun({ requestId: first?.runId as string, taskId: 'job', requestedAt: Date.now() });
    await until(async () => !(await client.hasRunRequest(first?.runId as string)));
    // A request after it is taken and run: the first was dealt with.
    await client.requestRun({ requestId: 'after', taskId: 'job', requestedAt: Date.now() });
    await until(async () => (await scheduler.getRuns()).length === 2);
    expect(calls).toHaveLength(2);
    expect((await scheduler.getRuns()).map((run) => run.runId)).toEqual(['after', first?.runId]);
    expect(lines.some((line) => line.level === 40 && line.msg.includes(first?.runId as string))).toBe(true);
  });

  it('a request older than 30 s (left by a killed command) is never run; one for a paused task is', async () => {
    await client.requestRun({ requestId: 'stale', taskId: 'job', requestedAt: Date.now() - 31_000 });
    await scheduler.pauseTask('job');
    await client.requestRun({ requestId: 'paused', taskId: 'job', requestedAt: Date.now() });
    await until(async () => (await scheduler.getRuns()).length === 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await client.hasRunRequest('stale')).toBe(false);
    expect((await scheduler.getRuns()).map((run) => run.runId)).toEqual(['paused']);
    expect(calls).toEqual([['own']]);
  });
});

describe('a FileStore document with hand-edited history', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kairos-hostile-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function open(path: string, logger = silentLogger): Scheduler {
    return new Scheduler({
      stores: { default: new FileStore({ path }) },
      functions: { job: (n: number) => n * 2 },
      logger,
      schedulerId: 'a',
    });
  }

  it('garbage entries in "runs" are skipped; tasks, new records, trimming and replay carry on', async () => {
    const path = join(dir, 'tasks.json');
    const first = open(path);
    await first.start();
    await first.addTask('job', { id: 'job', trigger: new IntervalTrigger({ hours: 1 }), args: [21] });
    await first.runTaskNow('job');
    await until(async () => (await first.getRuns()).length === 1);
    const [good] = await first.getRuns();
    await first.shutdown();

    const document = JSON.parse(await readFile(path, 'utf8')) as { runs: unknown[] };
    const valid = document.runs[0] as Record<string, unknown>;
    document.runs.push(
      null,
      'text',
      42,
      [],
      {},
      { runId: 5 },
      { ...valid, runId: 'bad-args', args: 'no' },
      { ...valid, runId: 'bad-outcome', outcome: 'exploded' },
      { ...valid, runId: 'bad-error', outcome: 'error', error: 'string' },
      { ...valid, runId: 'far-future', endedAt: 1e300 },
      { ...valid, runId: 'nan-ish', endedAt: null },
      { ...valid, runId: '__proto__' },
    );
    await writeFile(path, JSON.stringify(document));

    const { logger, lines } = keptLogger();
    const second = open(path, logger);
    await second.start();
    try {
      expect((await second.getTasks()).map((task) => task.id)).toEqual(['job']);
      const runs = await second.getRuns();
      expect(runs.map((run) => run.runId)).toContain(good?.runId);
      expect(runs.map((run) => run.runId)).not.toContain('bad-args');
      await expect(second.replayRun('bad-args')).rejects.toThrow(/no run/);
      await second.replayRun(good?.runId as string);
      await until(async () =>
        (await second.getRuns({ taskId: 'job' })).some((run) => run.replayOf !== undefined),
      );
      for (let i = 0; i < 25; i++) await second.runTaskNow('job');
      await until(async () => (await second.getRuns({ taskId: 'job' })).length === 20);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const kept = await second.getRuns({ taskId: 'job', limit: 1000 });
      expect(kept.length).toBeLessThanOrEqual(20);
      expect(kept.every((run) => run.outcome === 'success')).toBe(true);
      expect(lines.filter((line) => /cannot be read back/.test(line.msg)).length).toBeLessThan(20);
    } finally {
      await second.shutdown();
    }
  });

  // JSON.parse reads nesting deeper than JSON.stringify can write back: such an entry is kept as read and skipped,
  // and its RangeError never stops the store from opening.
  it('a "runs" entry nested deeper than JSON.stringify goes does not stop the store from opening', async () => {
    const path = join(dir, 'tasks.json');
    const first = open(path);
    await first.start();
    await first.addTask('job', { id: 'job', trigger: new IntervalTrigger({ hours: 1 }), args: [21] });
    await first.shutdown();
    const document = JSON.parse(await readFile(path, 'utf8')) as { runs: unknown[] };
    document.runs.push('DEEP');
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    await writeFile(path, JSON.stringify(document).replace('"DEEP"', deep));
    const second = open(path);
    await second.start();
    try {
      expect((await second.getTasks()).map((task) => task.id)).toEqual(['job']);
      expect(await second.getRuns()).toEqual([]);
    } finally {
      if (second.running) await second.shutdown();
    }
  });

  // As SQLite and PostgreSQL do, FileStore drops an unreadable request with a log line, never refusing the file.
  it('a malformed run request in the document does not stop the store from opening', async () => {
    const path = join(dir, 'tasks.json');
    const first = open(path);
    await first.start();
    await first.addTask('job', { id: 'job', trigger: new IntervalTrigger({ hours: 1 }), args: [21] });
    await first.shutdown();
    const document = JSON.parse(await readFile(path, 'utf8')) as { runRequests: Record<string, unknown> };
    document.runRequests.hand = { taskId: 'job', requestedAt: Date.now(), args: 'not a list' };
    await writeFile(path, JSON.stringify(document));
    const second = open(path);
    await second.start();
    try {
      expect((await second.getTasks()).map((task) => task.id)).toEqual(['job']);
    } finally {
      if (second.running) await second.shutdown();
    }
  });
});

describe.each(['file', 'sqlite'] as const)('%s store: processes recording history', (kind) => {
  let dir: string;
  let location: string;
  const children: Child[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kairos-hostile-'));
    location = join(dir, kind === 'file' ? 'tasks.json' : 'tasks.db');
  });
  afterEach(async () => {
    for (const child of children.splice(0)) {
      killChild(child);
      await child.exited;
    }
    await rm(dir, { recursive: true, force: true });
  });

  function spawn(schedulerId: string, history: string, tasks = 10): Child {
    const child = spawnChild('history-child.ts', [kind, location, schedulerId, history, String(tasks)]);
    children.push(child);
    return child;
  }

  /** Every record in the store, read by a scheduler of this process (which starts nothing: it has no tasks due). */
  async function readBack(): Promise<{ tasks: string[]; runs: RunRecord[] }> {
    const reader = new Scheduler({
      stores: { default: openStore(kind, location, { lockStale: 2000 }) },
      functions: { tick: () => undefined },
      logger: silentLogger,
      schedulerId: 'reader',
    });
    await reader.start({ paused: true });
    try {
      const tasks = (await reader.getTasks()).map((task) => task.id).sort();
      return { tasks, runs: await reader.getRuns({ limit: 100_000 }) };
    } finally {
      await reader.shutdown();
    }
  }

  it('SIGKILL in the middle of history writes leaves a store that opens, tasks intact, no duplicate record', async () => {
    const printed = new Set<string>();
    for (let round = 0; round < 4; round++) {
      const child = spawn(`k${round}`, '10000', 20);
      await child.waitFor((line) => line.event === 'ready', 20_000);
      const from = child.lines.length;
      await child.waitFor((line) => line.event === 'run', 10_000, from);
      await new Promise((resolve) => setTimeout(resolve, 150 + Math.random() * 400));
      killChild(child);
      await child.exited;
      for (const line of child.lines) if (line.event === 'run') printed.add(line.result as string);
    }
    const { tasks, runs } = await readBack();
    expect(tasks).toEqual(Array.from({ length: 20 }, (_, i) => `t${i}`).sort());
    expect(runs.length).toBeGreaterThan(0);
    expect(new Set(runs.map((run) => run.runId)).size).toBe(runs.length);
    // Missed and skipped records (fire times the killed processes let pass) have no result.
    for (const run of runs.filter((record) => record.outcome === 'success')) {
      expect(printed.has(run.result as string), run.result as string).toBe(true);
    }
  }, 120_000);

  it('history: false and perTask: 1 on one process, 20 on another: nothing from the first, each task bounded', async () => {
    const off = spawn('off', 'off', 4);
    await off.waitFor((line) => line.event === 'ready', 20_000);
    const one = spawn('one', '1', 4);
    await one.waitFor((line) => line.event === 'ready', 20_000);
    const twenty = spawn('twenty', '20', 4);
    await twenty.waitFor((line) => line.event === 'ready', 20_000);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    for (const child of [off, one, twenty]) child.process.kill('SIGTERM');
    await Promise.all(
      [off, one, twenty].map((child) => child.waitFor((line) => line.event === 'stopped', 20_000)),
    );
    expect(off.lines.filter((line) => line.event === 'run').length).toBeGreaterThan(0);
    const { runs } = await readBack();
    expect(runs.filter((run) => run.schedulerId === 'off')).toEqual([]);
    const perTask = new Map<string, number>();
    for (const run of runs) perTask.set(run.taskId, (perTask.get(run.taskId) ?? 0) + 1);
    // Each write trims the tasks it names to its writer's perTask: the smallest perTask of the processes wins
    // (a design point, reported), but never more than the largest is kept.
    for (const count of perTask.values()) expect(count).toBeLessThanOrEqual(20);
  }, 60_000);

  it('two schedulers recording on one store lose no record and write none twice', async () => {
    const a = spawn('a', '10000');
    await a.waitFor((line) => line.event === 'ready', 20_000);
    const b = spawn('b', '10000');
    await b.waitFor((line) => line.event === 'ready', 20_000);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    for (const child of [a, b]) child.process.kill('SIGTERM');
    await Promise.all([a, b].map((child) => child.waitFor((line) => line.event === 'stopped', 20_000)));
    const printed = [a, b].flatMap((child) =>
      child.lines.filter((line) => line.event === 'run').map((line) => line.result as string),
    );
    const { runs } = await readBack();
    expect(new Set(runs.map((run) => run.runId)).size).toBe(runs.length);
    const succeeded = runs.filter((run) => run.outcome === 'success');
    expect(succeeded.map((run) => run.result as string).sort()).toEqual(printed.sort());
    expect(new Set(runs.map((run) => run.schedulerId))).toEqual(new Set(['a', 'b']));
  }, 60_000);
});
