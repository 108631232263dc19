/**
 * S7, kairos with a persistent store: n tasks in a SQLite file. Runs only when stores/sqlite.ts exists
 * (the store is optional and written separately); otherwise reports "skipped: SQLite store not present".
 *
 * 1. populate: a paused scheduler adds n tasks due tomorrow (timed: add cost per task), and `catchUp` tasks
 *    every second whose stored next run time is `downDays` days ago; it shuts down (timed);
 * 2. start-up: a new scheduler over the file, `start()` timed;
 * 3. catch-up: from `start()` until each catch-up task has run (coalesced: once each, not 2.6 million
 *    times); then the catch-up tasks are removed;
 * 4. burst: paused, `burst` tasks due now are added; `resume()`; runs per second until the last has run;
 *    with history on, then the time until every run's record is in the file, and how many are.
 *
 * Every scheduler gets `options` (the runner passes `{ history: false }` for kairos-nohistory; run history is on
 * by default, each run's record appended to the SQLite file in batches).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep, wallNow } from './lib/clock.js';
import { startWindow, stopWindow } from './lib/window-profiler.js';

export interface S7Params {
  n: number;
  burst: number;
  catchUp: number;
  downDays: number;
}

/** With BENCH_TRACE set, phase timings go to stderr. */
const trace = (label: string) => {
  if (process.env.BENCH_TRACE) console.error(`S7 ${(performance.now() / 1000).toFixed(2)} s: ${label}`);
};

/** Runs S7 with schedulers made with `options` (e.g. `{ history: false }`); see above. */
export async function s7(params: S7Params, options: { history?: false } = {}): Promise<object> {
  // The runner's children run in the repository root; the URL form serves a run from elsewhere.
  const present =
    existsSync(join(process.cwd(), 'stores', 'sqlite.ts')) ||
    existsSync(new URL('../stores/sqlite.ts', import.meta.url));
  if (!present) return { skipped: 'SQLite store not present' };
  const { pino } = await import('pino');
  const { currentRun } = await import('../src/context.js');
  const { Scheduler } = await import('../src/scheduler.js');
  const { DateTrigger } = await import('../src/triggers/date.js');
  const { IntervalTrigger } = await import('../src/triggers/interval.js');
  const { SQLiteStore } = await import('../stores/sqlite.js');

  const dir = mkdtempSync(join(tmpdir(), 'kairos-bench-'));
  const path = join(dir, 'tasks.sqlite');

  /** The task ids seen in the phase being measured (first run of each), and when the last new one ran. */
  let prefix = '-';
  const seen = new Set<string>();
  let oldestFirstRun = Number.POSITIVE_INFINITY;
  let lastNew = 0;
  let target = Number.POSITIVE_INFINITY;
  let reached: () => void = () => {};
  const functions = {
    tick: () => {
      const run = currentRun();
      if (run === undefined || !run.taskId.startsWith(prefix) || seen.has(run.taskId)) return;
      seen.add(run.taskId);
      oldestFirstRun = Math.min(oldestFirstRun, run.scheduledRunTime.getTime());
      lastNew = wallNow();
      if (seen.size >= target) reached();
    },
    later: () => {},
  };
  const measure = (taskPrefix: string) => {
    prefix = taskPrefix;
    seen.clear();
    oldestFirstRun = Number.POSITIVE_INFINITY;
    lastNew = 0;
  };
  const waitFor = (count: number, timeoutMs: number) =>
    Promise.race([
      new Promise<void>((resolve) => {
        target = count;
        reached = resolve;
        if (seen.size >= count) resolve();
      }),
      sleep(timeoutMs),
    ]);
  const makeScheduler = () =>
    new Scheduler({
      logger: pino({ level: 'silent' }),
      stores: { default: new SQLiteStore({ path }) },
      functions,
      ...options,
    });

  try {
    trace('populating');
    const populate = makeScheduler();
    await populate.start({ paused: true });
    const tomorrow = Date.now() + 86_400_000;
    let started = performance.now();
    for (let i = 0; i < params.n; i++) {
      await populate.addTask('later', { trigger: new DateTrigger(tomorrow + i), id: `f${i}` });
    }
    const addUsPerTask = ((performance.now() - started) * 1000) / params.n;
    const then = Date.now() - params.downDays * 86_400_000;
    for (let i = 0; i < params.catchUp; i++) {
      await populate.addTask('tick', {
        trigger: new IntervalTrigger({ seconds: 1 }, { startAt: then }),
        id: `c${i}`,
        nextRunTime: then,
      });
    }
    trace('populated');
    started = performance.now();
    await populate.shutdown();
    const shutdownMs = performance.now() - started;

    trace('starting');
    const scheduler = makeScheduler();
    let missedEvents = 0;
    scheduler.on('task:missed', () => {
      missedEvents++;
    });
    measure('c');
    const restart = Date.now();
    const catchUpStart = wallNow();
    started = performance.now();
    await scheduler.start();
    const startMs = performance.now() - started;
    trace('started');
    await waitFor(params.catchUp, 60_000);
    const caughtUp = seen.size;
    const catchUpMs = lastNew - catchUpStart;
    trace('caught up');
    for (let i = 0; i < params.catchUp; i++) await scheduler.removeTask(`c${i}`);

    trace('adding the burst');
    scheduler.pause();
    const now = Date.now();
    for (let i = 0; i < params.burst; i++) {
      await scheduler.addTask('tick', { trigger: new DateTrigger(now), id: `b${i}`, misfireGraceTime: null });
    }
    measure('b');
    await startWindow();
    const burstStart = wallNow();
    const cpuBefore = process.cpuUsage();
    scheduler.resume();
    await waitFor(params.burst, 60_000);
    const cpu = process.cpuUsage(cpuBefore);
    await stopWindow('S7-burst');
    const burstRuns = seen.size;
    const burstMs = lastNew - burstStart;
    trace('burst done');
    // History on: until the burst's records are in the file (getRuns writes the buffer first), and how many are.
    let historyStoredMs: number | undefined;
    let historyRecords: number | undefined;
    if (options.history !== false) {
      await scheduler.getRuns({ limit: 1 });
      historyStoredMs = wallNow() - burstStart;
      const records = await scheduler.getRuns({ since: now, limit: 100_000 });
      historyRecords = records.filter((record) => record.taskId.startsWith('b')).length;
      trace('history stored');
    }
    // No shutdown: the file is deleted below.

    return {
      n: params.n,
      addUsPerTask,
      shutdownMs,
      startMs,
      catchUp: params.catchUp,
      caughtUp,
      catchUpMs,
      /** How many days before the restart the oldest catch-up run was scheduled: ~0 if coalesced, 30 if not. */
      oldestCatchUpRunDaysAgo: Math.max(0, restart - oldestFirstRun) / 86_400_000,
      missedEvents,
      burst: params.burst,
      burstRuns,
      burstMs,
      runsPerSecond: (burstRuns * 1000) / burstMs,
      /** CPU time (user + system) from `resume()` to the last run, µs per run. */
      cpuUsPerRun: (cpu.user + cpu.system) / burstRuns,
      historyStoredMs,
      historyRecords,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
