/**
 * S9 ("S8-sqlite" in issue #18), kairos with an SQLite file of cron tasks, cold: how soon a fresh process
 * dispatches the tasks that are due when it starts. Runs only when stores/sqlite.ts exists (as S7).
 *
 * 1. setup (not measured): a paused scheduler over a `SQLiteStore` file adds n cron tasks with distinct
 *    expressions (lib/cron-expressions.ts) in `timezone`; `due` of them (every n/due-th) are given a next run time
 *    a minute in the past and no misfire grace time (any lateness is fine), so that they are due at start; the
 *    others' next run time is their first fire time. The file is then copied, one copy per measurement;
 * 2. read (a fresh process, bench/s9-worker.ts): `store.start()`, then one `acquireDueTasks({ limit: due })`
 *    timed: the due rows read through the index and leased, each task's trigger rebuilt from its stored JSON
 *    (a `CronTrigger`, its expression parsed);
 * 3. start (another fresh process): a scheduler over the other copy; from `scheduler.start()` being called to
 *    the first `task:submitted`, to the `due`-th, and to `start()` resolving.
 * Steps 2 and 3 are done `repeats` times (the file is written once: writing 100,000 cron tasks takes ~15 s); the
 * result has the median of each figure, and every repeat's in `repeats`.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cronExpression, DISTINCT_CRON_EXPRESSIONS } from './lib/cron-expressions.js';
import { median } from './lib/stats.js';

export interface S9Params {
  n: number;
  due: number;
  timezone: string;
  /** Measurements (each pair of fresh processes on fresh copies of the file), for medians. */
  repeats: number;
}

/** What the worker prints before its JSON result. */
export const S9_MARK = '@@S9 ';

/** The id of task i: `d<i>` for the due ones, `c<i>` for the others. */
export function s9TaskId(i: number, n: number, due: number): string {
  return isDue(i, n, due) ? `d${i}` : `c${i}`;
}

function isDue(i: number, n: number, due: number): boolean {
  const every = Math.max(1, Math.floor(n / due));
  return i % every === 0 && i / every < due;
}

/** With BENCH_TRACE set, phase timings go to stderr. */
const trace = (label: string) => {
  if (process.env.BENCH_TRACE) console.error(`S9 ${(performance.now() / 1000).toFixed(2)} s: ${label}`);
};

/** Writes the tasks into the file at `path` (not measured); returns µs per task. */
async function populate(path: string, { n, due, timezone }: S9Params): Promise<number> {
  const { pino } = await import('pino');
  const { Scheduler } = await import('../src/scheduler.js');
  const { CronTrigger } = await import('../src/triggers/cron.js');
  const { SQLiteStore } = await import('../stores/sqlite.js');
  const scheduler = new Scheduler({
    logger: pino({ level: 'silent' }),
    stores: { default: new SQLiteStore({ path }) },
    functions: { tick: () => {} },
  });
  await scheduler.start({ paused: true });
  const past = Date.now() - 60_000;
  const started = performance.now();
  // A few adds in flight at once: the store writes them one after another, the trigger work overlaps nothing,
  // but the awaits between them cost less.
  const inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const trigger = new CronTrigger(cronExpression(i), { timezone });
    const id = s9TaskId(i, n, due);
    inFlight.push(
      isDue(i, n, due)
        ? scheduler.addTask('tick', { trigger, id, nextRunTime: past, misfireGraceTime: null })
        : scheduler.addTask('tick', { trigger, id }),
    );
    if (inFlight.length >= 256) await Promise.all(inFlight.splice(0));
  }
  await Promise.all(inFlight);
  const usPerTask = ((performance.now() - started) * 1000) / n;
  await scheduler.shutdown();
  return usPerTask;
}

/** Copies the database (and its WAL, if one is left) to `to`. */
function copyDatabase(from: string, to: string): void {
  copyFileSync(from, to);
  for (const suffix of ['-wal', '-shm']) {
    if (existsSync(from + suffix)) copyFileSync(from + suffix, to + suffix);
  }
}

/** Runs bench/s9-worker in a fresh process; resolves with its result. */
function fresh(mode: 'read' | 'start', path: string, params: S9Params): Record<string, unknown> {
  const fromSource = import.meta.url.endsWith('.ts');
  const script = fileURLToPath(new URL(fromSource ? './s9-worker.ts' : './s9-worker.js', import.meta.url));
  // The worker gets this process's Node flags (tsx's loader when run from source; a profile directory).
  const child = spawnSync(
    process.execPath,
    [...process.execArgv, script, mode, path, JSON.stringify(params)],
    {
      encoding: 'utf8',
      timeout: 60_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const line = child.stdout.split('\n').find((candidate) => candidate.startsWith(S9_MARK));
  if (line === undefined) {
    const tail = `${child.stderr}`.trim().split('\n').slice(-3).join(' | ');
    throw new Error(
      `S9 ${mode} worker: ${child.error?.message ?? `exit ${child.status ?? child.signal}`} without a result: ${tail}`,
    );
  }
  const result = JSON.parse(line.slice(S9_MARK.length)) as Record<string, unknown>;
  if (typeof result.error === 'string') throw new Error(`S9 ${mode} worker: ${result.error}`);
  return result;
}

export async function s9(params: S9Params): Promise<object> {
  const present =
    existsSync(join(process.cwd(), 'stores', 'sqlite.ts')) ||
    existsSync(new URL('../stores/sqlite.ts', import.meta.url));
  if (!present) return { skipped: 'SQLite store not present' };
  if (params.n > DISTINCT_CRON_EXPRESSIONS)
    throw new Error(`S9: at most ${DISTINCT_CRON_EXPRESSIONS} distinct expressions`);
  const dir = mkdtempSync(join(tmpdir(), 'kairos-bench-s9-'));
  const path = join(dir, 'tasks.sqlite');
  try {
    trace('populating');
    const populateUsPerTask = await populate(path, params);
    trace('populated');
    const repeats: Array<Record<string, unknown>> = [];
    for (let repeat = 0; repeat < Math.max(1, params.repeats ?? 1); repeat++) {
      const readPath = join(dir, `read-${repeat}.sqlite`);
      const startPath = join(dir, `start-${repeat}.sqlite`);
      copyDatabase(path, readPath);
      copyDatabase(path, startPath);
      const read = fresh('read', readPath, params);
      trace(`read ${repeat + 1}`);
      const start = fresh('start', startPath, params);
      trace(`started ${repeat + 1}`);
      repeats.push({ ...read, ...start });
      rmSync(readPath, { force: true });
      rmSync(startPath, { force: true });
    }
    // The median of each number over the repeats (counts too: they should not vary).
    const medians: Record<string, number> = {};
    for (const key of Object.keys(repeats[0] ?? {})) {
      const values = repeats.map((r) => r[key]).filter((v): v is number => typeof v === 'number');
      if (values.length > 0) medians[key] = median(values);
    }
    return {
      n: params.n,
      due: params.due,
      timezone: params.timezone,
      populateUsPerTask,
      ...medians,
      repeats,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
