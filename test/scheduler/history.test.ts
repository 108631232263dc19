// Run history through the scheduler (API.md "Run history"): what each run leaves, getRuns, replayRun, bounds,
// and that recording never gets in the way of dispatch.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DateTrigger,
  IntervalTrigger,
  MemoryStore,
  RunLookupError,
  type RunRecord,
  Scheduler,
  type StoredRunRecord,
  TaskLookupError,
  ValueError,
} from '../../src/index.js';
import { SQLiteStore } from '../../stores/sqlite.js';
import { silentLogger } from '../support/events.js';
import { T0, useFakeClock } from '../support/fake-clock.js';

describe('run history (fake timers)', () => {
  const clock = useFakeClock();

  it('records a successful run with every field', async () => {
    const scheduler = await clock.started({ schedulerId: 'sched-1' });
    await scheduler.addTask((a: number, b: string) => ({ sum: a, b }), {
      id: 'job',
      name: 'The job',
      trigger: new DateTrigger(T0 + 1000),
      args: [2, 'x'],
    });
    await clock.advance(1000);
    const [record, ...rest] = await scheduler.getRuns();
    expect(rest).toEqual([]);
    expect(record).toEqual({
      runId: expect.stringMatching(/^sched-1:[0-9a-z]{6}-\d+$/),
      taskId: 'job',
      taskName: 'The job',
      scheduledRunTime: new Date(T0 + 1000),
      startedAt: new Date(T0 + 1000),
      endedAt: new Date(T0 + 1000),
      durationMs: 0,
      outcome: 'success',
      attempts: 1,
      args: [2, 'x'],
      result: { sum: 2, b: 'x' },
      schedulerId: 'sched-1',
      store: 'default',
    } satisfies RunRecord);
  });

  it('records the duration of an async run, and a failure after retries with its error and attempts', async () => {
    const scheduler = await clock.started();
    await scheduler.addTask(() => new Promise((resolve) => setTimeout(resolve, 250)), {
      id: 'slow',
      trigger: new DateTrigger(T0 + 10),
    });
    await scheduler.addTask(
      () => {
        throw new TypeError('bad input');
      },
      { id: 'failing', trigger: new DateTrigger(T0 + 20), retries: { max: 2, delay: 100 } },
    );
    await clock.advance(2000);
    const [failing, slow] = await scheduler.getRuns();
    expect(slow).toMatchObject({ taskId: 'slow', outcome: 'success', durationMs: 250, attempts: 1 });
    expect(slow).not.toHaveProperty('result');
    expect(failing).toMatchObject({
      taskId: 'failing',
      outcome: 'error',
      attempts: 3,
      startedAt: new Date(T0 + 20),
      endedAt: new Date(T0 + 320), // retried after 100 ms, then 200 ms (backoff 2)
      error: {
        name: 'TypeError',
        message: 'bad input',
        stack: expect.stringContaining('TypeError: bad input'),
      },
    });
  });

  it('records timeouts, and runs aborted by shutdown', async () => {
    const scheduler = await clock.started();
    await scheduler.addTask(() => new Promise(() => {}), {
      id: 'hangs',
      trigger: new DateTrigger(T0 + 10),
      timeout: 500,
    });
    await clock.advance(1000);
    expect((await scheduler.getRuns({ taskId: 'hangs' }))[0]).toMatchObject({
      outcome: 'timeout',
      durationMs: 500,
      error: { name: 'TimeoutError' },
    });

    const store = new MemoryStore();
    const other = clock.scheduler({ stores: { default: store } });
    await other.start();
    await other.addTask(() => new Promise(() => {}), { id: 'forever', trigger: new DateTrigger(T0 + 1100) });
    await clock.advance(200);
    await other.shutdown({ wait: false });
    // The store keeps what the stopped scheduler wrote; a new scheduler on it reads it.
    const reader = clock.scheduler({ stores: { default: store } });
    await reader.start();
    expect((await reader.getRuns({ taskId: 'forever' }))[0]).toMatchObject({
      outcome: 'aborted',
      error: { name: 'SchedulerNotRunningError' },
    });
  });

  it('records missed runs with their count, and runs skipped at maxInstances', async () => {
    const scheduler = await clock.started();
    await scheduler.addTask(() => {}, {
      id: 'late',
      trigger: new IntervalTrigger({ seconds: 1 }, { startAt: T0 + 1000 }),
      misfireGraceTime: 0,
      coalesce: false,
      nextRunTime: T0 + 1000,
    });
    await scheduler.pauseTask('late');
    clock.setTime(0);
    await scheduler.updateTask('late', { nextRunTime: T0 + 1000 });
    clock.setTime(5500);
    scheduler.wakeup();
    await clock.advance(0);
    const missed = await scheduler.getRuns({ taskId: 'late', outcome: 'missed' });
    expect(missed).toHaveLength(1);
    expect(missed[0]).toMatchObject({
      outcome: 'missed',
      missedCount: 5,
      scheduledRunTime: new Date(T0 + 5000),
      startedAt: null,
      durationMs: null,
      attempts: 0,
    });

    await scheduler.addTask(() => new Promise((resolve) => setTimeout(resolve, 10_000)), {
      id: 'busy',
      trigger: new IntervalTrigger({ seconds: 1 }),
    });
    await clock.advance(2100);
    const skipped = await scheduler.getRuns({ taskId: 'busy', outcome: 'skipped' });
    expect(skipped.length).toBeGreaterThanOrEqual(1);
    expect(skipped[0]).toMatchObject({ startedAt: null, durationMs: null, attempts: 0 });
  });

  it('keeps the last perTask runs of each task (20 by default)', async () => {
    const scheduler = await clock.started();
    let n = 0;
    await scheduler.addTask(() => ++n, { id: 'every', trigger: new IntervalTrigger({ seconds: 1 }) });
    await clock.advance(25_500);
    const runs = await scheduler.getRuns({ taskId: 'every' });
    expect(runs).toHaveLength(20);
    expect(runs.map((run) => run.result)).toEqual(Array.from({ length: 20 }, (_, i) => 25 - i));

    const small = await clock.started({ history: { perTask: 3 } });
    await small.addTask(() => {}, { id: 'every', trigger: new IntervalTrigger({ seconds: 1 }) });
    await clock.advance(10_000);
    expect(await small.getRuns()).toHaveLength(3);
  });

  it('records nothing with history: false', async () => {
    const scheduler = await clock.started({ history: false });
    let runs = 0;
    await scheduler.addTask(() => void runs++, { trigger: new IntervalTrigger({ seconds: 1 }) });
    await clock.advance(5500);
    expect(runs).toBe(5);
    expect(await scheduler.getRuns()).toEqual([]);
  });

  it('keeps a result only when it is JSON, and cuts a large one', async () => {
    const scheduler = await clock.started();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const results: Record<string, unknown> = {
      big: 'y'.repeat(5000),
      fn: () => 1,
      cyclic,
      bigint: 10n,
      nan: Number.NaN,
      date: new Date(T0),
    };
    for (const [id, result] of Object.entries(results)) {
      await scheduler.addTask(() => result, { id, trigger: new DateTrigger(T0 + 10) });
    }
    await clock.advance(100);
    const byId = new Map((await scheduler.getRuns()).map((run) => [run.taskId, run]));
    expect(byId.get('big')?.result).toBe(`${JSON.stringify('y'.repeat(5000)).slice(0, 1024)}…`);
    expect(byId.get('big')?.resultTruncated).toBe(true);
    for (const id of ['fn', 'cyclic', 'bigint', 'nan']) {
      expect(byId.get(id)?.outcome).toBe('success');
      expect(byId.get(id)).not.toHaveProperty('result');
    }
    expect(byId.get('date')?.result).toBe(new Date(T0).toISOString());
  });

  it('getRuns filters, limits and validates its options', async () => {
    const scheduler = await clock.started();
    await scheduler.addTask(() => {}, { id: 'ok', trigger: new IntervalTrigger({ seconds: 1 }) });
    await scheduler.addTask(
      () => {
        throw new Error('no');
      },
      { id: 'bad', trigger: new IntervalTrigger({ seconds: 2 }) },
    );
    await clock.advance(10_500);
    expect((await scheduler.getRuns({ outcome: 'error' })).every((run) => run.taskId === 'bad')).toBe(true);
    expect(await scheduler.getRuns({ outcome: ['error', 'success'], limit: 3 })).toHaveLength(3);
    const since = await scheduler.getRuns({ since: T0 + 9000 });
    expect(since.map((run) => run.endedAt.getTime())).toEqual([T0 + 10_000, T0 + 10_000, T0 + 9000]);
    await expect(scheduler.getRuns({ outcome: 'failed' as never })).rejects.toThrow(
      /getRuns: outcome must be one of .* got "failed"/,
    );
    await expect(scheduler.getRuns({ limit: 0 })).rejects.toThrow(ValueError);
    await expect(scheduler.getRuns({ since: 'yesterday' })).rejects.toThrow(ValueError);
    await expect(scheduler.getRuns({ taskID: 'ok' } as never)).rejects.toThrow(/taskID/);
    await expect(scheduler.getRuns({ store: 'nope' })).rejects.toThrow(/nope/);
  });

  it('replayRun runs the current function with the recorded args and names the run it replays', async () => {
    const scheduler = await clock.started();
    const calls: unknown[][] = [];
    await scheduler.addTask((...args: unknown[]) => void calls.push(args), {
      id: 'job',
      trigger: new DateTrigger(T0 + 100),
      args: ['first'],
    });
    await scheduler.addTask(() => {}, { id: 'keep', trigger: new DateTrigger(T0 + 60_000) });
    // A date task is removed after its run: keep one alive to replay, with its args changed since.
    await scheduler.addTask((...args: unknown[]) => void calls.push(args), {
      id: 'alive',
      trigger: new IntervalTrigger({ hours: 1 }, { startAt: T0 + 200 }),
      args: ['old'],
    });
    await clock.advance(300);
    const [original] = await scheduler.getRuns({ taskId: 'alive' });
    await scheduler.updateTask('alive', { args: ['new'] });
    const replayId = await scheduler.replayRun(original?.runId as string);
    await clock.advance(0);
    expect(calls).toEqual([['first'], ['old'], ['old']]);
    const [replay] = await scheduler.getRuns({ taskId: 'alive' });
    expect(replay).toMatchObject({
      runId: replayId,
      replayOf: original?.runId,
      args: ['old'],
      outcome: 'success',
    });

    await expect(scheduler.replayRun('no-such-run')).rejects.toThrow(RunLookupError);
    const [removedRun] = await scheduler.getRuns({ taskId: 'job' });
    await expect(scheduler.replayRun(removedRun?.runId as string)).rejects.toThrow(TaskLookupError);
    await expect(scheduler.replayRun(42 as never)).rejects.toThrow(ValueError);
  });

  it('a replay honours maxInstances: it is skipped while the task runs', async () => {
    const scheduler = await clock.started();
    await scheduler.addTask(() => new Promise((resolve) => setTimeout(resolve, 1000)), {
      id: 'long',
      trigger: new IntervalTrigger({ seconds: 10 }, { startAt: T0 + 100 }),
    });
    await clock.advance(1200);
    const [first] = await scheduler.getRuns({ taskId: 'long' });
    await clock.advance(9000); // the second run (T0 + 10.1 s) is in progress
    const replayId = await scheduler.replayRun(first?.runId as string);
    const [skipped] = await scheduler.getRuns({ taskId: 'long', outcome: 'skipped' });
    expect(skipped).toMatchObject({ runId: replayId, replayOf: first?.runId });
  });

  it('a store whose history writes fail delays only its history: dispatch goes on, records arrive later', async () => {
    const store = new MemoryStore();
    let failing = true;
    const append = store.appendRuns.bind(store);
    store.appendRuns = (records: readonly StoredRunRecord[], perTask: number) =>
      failing ? Promise.reject(new Error('disk full')) : append(records, perTask);
    const scheduler = await clock.started({ stores: { default: store } });
    let runs = 0;
    await scheduler.addTask(() => void runs++, { trigger: new IntervalTrigger({ seconds: 1 }) });
    await clock.advance(5500);
    expect(runs).toBe(5);
    failing = false;
    // The records made while the store failed were kept, and reach it.
    const kept = await scheduler.getRuns({ limit: 1000 });
    expect(kept.map((run) => run.scheduledRunTime.getTime())).toEqual(
      [5, 4, 3, 2, 1].map((s) => T0 + s * 1000),
    );
    await clock.advance(60_000);
    expect(runs).toBe(65);
    expect(await scheduler.getRuns({ limit: 1000 })).toHaveLength(20);
  });

  it('a burst larger than the failure buffer loses no record, and reaches the store in writes of at most 1,000', async () => {
    const store = new MemoryStore();
    const batches: number[] = [];
    const append = store.appendRuns.bind(store);
    store.appendRuns = (records: readonly StoredRunRecord[], perTask: number) => {
      batches.push(records.length);
      return append(records, perTask);
    };
    const scheduler = await clock.started({ stores: { default: store } });
    for (let i = 0; i < 12_000; i++) {
      // Tasks that stay (a one-shot task's records would be those of a removed task, which are capped).
      const trigger = new IntervalTrigger({ hours: 1 }, { startAt: T0 + 1000 });
      await scheduler.addTask(() => {}, { id: `t${i}`, trigger });
    }
    await clock.advance(1000);
    const runs = await scheduler.getRuns({ limit: 100_000 });
    expect(runs).toHaveLength(12_000);
    expect(new Set(runs.map((run) => run.taskId)).size).toBe(12_000);
    expect(Math.max(...batches)).toBeLessThanOrEqual(1000);
  });

  it('a history write that never settles holds no run back', async () => {
    const store = new MemoryStore();
    store.appendRuns = () => new Promise(() => {});
    const scheduler = await clock.started({ stores: { default: store } });
    let runs = 0;
    await scheduler.addTask(() => void runs++, { trigger: new IntervalTrigger({ seconds: 1 }) });
    await clock.advance(5500);
    expect(runs).toBe(5);
  });

  it('validates the history option', () => {
    expect(() => new Scheduler({ history: { perTask: 0 } })).toThrow(/history.perTask .* got 0/);
    expect(() => new Scheduler({ history: { perTask: 2.5 } })).toThrow(ValueError);
    expect(() => new Scheduler({ history: { perTask: 10_001 } })).toThrow(ValueError);
    expect(() => new Scheduler({ history: { keep: 5 } as never })).toThrow(/keep/);
    expect(() => new Scheduler({ history: true as never })).toThrow(/history must be/);
  });
});

describe('run history in a persistent store', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kairos-history-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps args up to 16 KB of JSON in a persistent store; larger ones are left out, and such a run cannot be replayed', async () => {
    const path = join(dir, 'big.db');
    const scheduler = new Scheduler({
      stores: { default: new SQLiteStore({ path }) },
      functions: { job: (..._args: string[]) => {} },
      logger: silentLogger,
    });
    await scheduler.start();
    try {
      const fits = ['x'.repeat(16_000)];
      const big = ['x'.repeat(16_400)];
      await scheduler.addTask('job', { id: 'fits', trigger: new IntervalTrigger({ hours: 1 }), args: fits });
      await scheduler.addTask('job', { id: 'big', trigger: new IntervalTrigger({ hours: 1 }), args: big });
      await scheduler.runTaskNow('fits');
      await scheduler.runTaskNow('big');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const [kept] = await scheduler.getRuns({ taskId: 'fits' });
      expect(kept?.args).toEqual(fits);
      expect(kept).not.toHaveProperty('argsTruncated');
      const [cut] = await scheduler.getRuns({ taskId: 'big' });
      expect(cut).toMatchObject({ args: [], argsTruncated: true, outcome: 'success' });
      await expect(scheduler.replayRun(cut?.runId as string)).rejects.toThrow(/too large to keep/);
    } finally {
      await scheduler.shutdown();
    }
  });

  it('outlives the scheduler: a new one on the same SQLite file reads and replays the runs', async () => {
    const path = join(dir, 'jobs.db');
    const calls: unknown[] = [];
    const functions = { job: (n: number) => void calls.push(n) };
    // Both with one configured schedulerId, as a restarted service has: run ids must still never collide.
    const schedulerId = 'worker-1';
    const first = new Scheduler({
      stores: { default: new SQLiteStore({ path }) },
      functions,
      logger: silentLogger,
      schedulerId,
    });
    await first.start();
    await first.addTask('job', { id: 'job', trigger: new IntervalTrigger({ hours: 1 }), args: [7] });
    await first.runTaskNow('job');
    await new Promise((resolve) => setTimeout(resolve, 50));
    await first.shutdown();

    const second = new Scheduler({
      stores: { default: new SQLiteStore({ path }) },
      functions,
      logger: silentLogger,
      schedulerId,
    });
    await second.start();
    try {
      const [run] = await second.getRuns();
      expect(run).toMatchObject({
        taskId: 'job',
        outcome: 'success',
        args: [7],
        schedulerId: first.schedulerId,
      });
      await second.replayRun(run?.runId as string);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(calls).toEqual([7, 7]);
      const [replay, original, ...rest] = await second.getRuns();
      expect(replay).toMatchObject({ replayOf: run?.runId, args: [7] });
      expect(replay?.runId).not.toBe(run?.runId);
      expect(original).toEqual(run);
      expect(rest).toEqual([]);
    } finally {
      await second.shutdown();
    }
  });
});
