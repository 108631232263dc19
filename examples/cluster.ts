/**
 * A node:cluster service: 4 workers, one SQLite store, both ways to run a lifecycle task in several processes.
 *
 *   npx tsx examples/cluster.ts
 *
 * Every worker declares the same two tasks at boot, each firing every second:
 * - `db-ticker`, pattern 1 ("per process, tick once"): the generator `dbTicker`, added *by name* to the shared
 *   SQLite store. Every worker sets up its own instance (its own "connection"); each fire resumes the instance of
 *   the one worker that dispatched it, so each second ticks once in the whole cluster.
 * - `leader`, pattern 2 ("one instance in the fleet"): a generator function with a `lock`. Only the worker holding
 *   the lock sets it up and runs its fires; the others keep trying.
 * After a few seconds the primary kills the leader's worker with SIGKILL and another worker takes over; at the
 * end it sends SIGTERM, and every worker shuts down gracefully (its cleanup runs). The demo ends by itself after
 * about 15–20 s with a summary worked out from the lines the workers print. Its files live in a temp directory,
 * removed at the end.
 */
import cluster, { type Worker } from 'node:cluster';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { FileLock, IntervalTrigger, MemoryStore, type RunContext, Scheduler } from '../src/index.js';
import { SQLiteStore } from '../stores/sqlite.js';

// ─── A worker: one scheduler per process ───────────────────────────────────────────────────────────────────

const WORKER = cluster.isWorker ? `w${cluster.worker?.id}` : '';

/** Prints one line for the primary to read: `w3  <text>`. */
function say(text: string): void {
  console.log(`${WORKER}  ${text}`);
}

const hhmmss = (date: Date) => date.toISOString().slice(11, 19);

/** Pattern 1: registered by name, so a shared store can hold it; one instance per worker. */
async function* dbTicker() {
  const connection = { worker: WORKER, queries: 0 }; // setup: "open a connection", once per worker
  say('dbTicker set up: connection opened');
  try {
    for (;;) {
      const run = (yield connection.queries) as RunContext;
      connection.queries++;
      say(`dbTicker tick ${hhmmss(run.scheduledRunTime)}  (query #${connection.queries} on this connection)`);
    }
  } finally {
    say(`dbTicker cleanup: connection closed after ${connection.queries} queries`);
  }
}

/** Pattern 2: one instance in the whole cluster, in the worker holding the lock. */
async function* leader() {
  let ticks = 0;
  say('leader set up: this worker holds leader.lock');
  try {
    for (;;) {
      const run = (yield ticks) as RunContext;
      ticks++;
      say(`leader tick ${hhmmss(run.scheduledRunTime)}`);
    }
  } finally {
    say(`leader cleanup after ${ticks} ticks; leader.lock is released next`);
  }
}

async function runWorker(dir: string): Promise<void> {
  const scheduler = new Scheduler({
    // A locked task lives only in a store that is not persistent: `local` holds this worker's copy of `leader`.
    stores: { default: new SQLiteStore({ path: join(dir, 'tasks.db') }), local: new MemoryStore() },
    functions: { dbTicker },
    leaseTime: { seconds: 5 }, // how long a killed worker's leases in the SQLite store outlive it (default 30 s)
  });
  scheduler.on('task:error', ({ taskId, error }) => say(`task ${taskId} failed: ${error}`));
  await scheduler.start();

  // Declarations, made by every worker at boot.
  try {
    await scheduler.addTask('dbTicker', {
      id: 'db-ticker',
      trigger: new IntervalTrigger({ seconds: 1 }),
      replaceExisting: true,
    });
  } catch (error) {
    say(`pattern 1 unavailable: ${(error as Error).message}`);
  }
  await scheduler.addTask(leader, {
    id: 'leader',
    store: 'local',
    trigger: new IntervalTrigger({ seconds: 1 }),
    // A killed holder's lock is taken once stale (2 s); the others try it every `update` (1 s).
    lock: new FileLock(join(dir, 'leader.lock'), { stale: 2000, update: 1000 }),
    replaceExisting: true,
  });
  say('ready');

  // SIGTERM: a graceful shutdown (lifecycle cleanups run). SIGKILL, of course, leaves no chance for one.
  process.once('SIGTERM', () => {
    scheduler
      .shutdown({ wait: true, timeout: 5000 })
      .then(() => say('shut down gracefully'))
      .then(
        () => process.exit(0),
        (error: Error) => {
          say(`shutdown failed: ${error.message}`);
          process.exit(1);
        },
      );
  });
}

// ─── The primary: forks the workers, drives the timeline, reads their lines ────────────────────────────────

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(4)} s`;

/** A line a worker printed, with when the primary saw it. */
interface Line {
  worker: string;
  text: string;
  at: number;
}
const lines: Line[] = [];
const lineWatchers = new Set<(line: Line) => void>();

/** Forks one worker and echoes and records what it prints. */
function fork(dir: string): Worker {
  // The workers print what this demo is about; KAIROS_LOG_LEVEL=info adds the scheduler's own log (stderr).
  const worker = cluster.fork({
    KAIROS_CLUSTER_DIR: dir,
    KAIROS_LOG_LEVEL: process.env.KAIROS_LOG_LEVEL ?? 'error',
  });
  createInterface({ input: worker.process.stdout! }).on('line', (text) => {
    console.log(`${elapsed()}  ${text}`);
    const match = /^(w\d+) {2}(.*)$/.exec(text);
    if (!match) return;
    const line = { worker: match[1] ?? '', text: match[2] ?? '', at: Date.now() };
    lines.push(line);
    for (const watcher of lineWatchers) watcher(line);
  });
  return worker;
}

/** Resolves with the first line `test` accepts, or undefined after `timeoutMs`. */
function waitForLine(test: (line: Line) => boolean, timeoutMs: number): Promise<Line | undefined> {
  const seen = lines.find(test);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve) => {
    const done = (line: Line | undefined) => {
      lineWatchers.delete(watcher);
      clearTimeout(timer);
      resolve(line);
    };
    const watcher = (line: Line) => test(line) && done(line);
    const timer = setTimeout(() => done(undefined), timeoutMs);
    lineWatchers.add(watcher);
  });
}

const exited = (worker: Worker) =>
  worker.process.exitCode !== null || worker.process.signalCode !== null
    ? Promise.resolve(worker.process.exitCode)
    : new Promise<number | null>((resolve) => worker.once('exit', (code) => resolve(code)));

/** The timeline; returns the kill time, the killed worker, and the takeover line (if any). */
async function demo(workers: Worker[]) {
  for (const worker of workers) {
    const ready = await waitForLine(
      (line) => line.worker === `w${worker.id}` && line.text === 'ready',
      30_000,
    );
    if (!ready) throw new Error(`worker w${worker.id} did not start`);
  }
  console.log(
    `${elapsed()}  -- 4 workers ready: each has a dbTicker instance; one of them holds leader.lock`,
  );
  await sleep(6000);

  const holder = [...lines].reverse().find((line) => line.text.startsWith('leader set up'))?.worker;
  const victim = workers.find((worker) => `w${worker.id}` === holder);
  if (!victim) throw new Error('no worker holds leader.lock');
  victim.process.kill('SIGKILL');
  const killedAt = Date.now();
  console.log(`${elapsed()}  -- ${holder} (leader.lock holder) killed with SIGKILL: no cleanup runs there`);
  const takeover = await waitForLine(
    (line) => line.at >= killedAt && line.worker !== holder && line.text.startsWith('leader set up'),
    15_000,
  );
  console.log(
    takeover
      ? `${elapsed()}  -- ${takeover.worker} took over leader.lock ${((takeover.at - killedAt) / 1000).toFixed(1)} s after the kill`
      : `${elapsed()}  -- NO TAKEOVER within 15 s`,
  );
  await sleep(4000);

  const alive = workers.filter((worker) => worker !== victim);
  console.log(`${elapsed()}  -- SIGTERM to ${alive.map((w) => `w${w.id}`).join(', ')}: graceful shutdown`);
  const codes = alive.map(exited);
  for (const worker of alive) worker.process.kill('SIGTERM');
  const exitCodes = await Promise.all(codes);
  if (exitCodes.some((code) => code !== 0))
    throw new Error(`a worker did not shut down cleanly: ${exitCodes}`);
  return { killedAt, holder, takeover };
}

/** Prints who set up and ran what; false if a scheduled time ran twice or the takeover did not happen. */
function summarize({ killedAt, holder, takeover }: Awaited<ReturnType<typeof demo>>): boolean {
  let ok = takeover !== undefined;
  console.log('\nsummary');
  for (const task of ['dbTicker', 'leader']) {
    const setUps = lines.filter((line) => line.text.startsWith(`${task} set up`)).map((line) => line.worker);
    const cleanups = lines
      .filter((line) => line.text.startsWith(`${task} cleanup`))
      .map((line) => line.worker);
    const ticks = lines.flatMap((line) => {
      const time = new RegExp(`^${task} tick (\\S+)`).exec(line.text)?.[1];
      return time === undefined ? [] : [{ worker: line.worker, time, at: line.at }];
    });
    const perWorker = new Map<string, number>();
    for (const tick of ticks) perWorker.set(tick.worker, (perWorker.get(tick.worker) ?? 0) + 1);
    const times = ticks.map((tick) => tick.time);
    const twice = times.filter((time, i) => times.indexOf(time) !== i);
    if (twice.length > 0) ok = false;
    const pattern = task === 'dbTicker' ? 'pattern 1, per process' : 'pattern 2, one in the fleet';
    console.log(`  ${task} (${pattern}):`);
    if (task === 'dbTicker' && setUps.length === 0) {
      const why =
        lines.find((line) => line.text.startsWith('pattern 1 unavailable'))?.text ?? 'no setup seen';
      console.log(`    NOT EXERCISED: ${why}`);
      continue;
    }
    console.log(`    set up in ${setUps.join(', ')}; cleaned up in ${cleanups.join(', ') || 'none'}`);
    const spread = [...perWorker].map(([worker, n]) => `${worker} ${n}`).join(', ');
    console.log(`    ${ticks.length} ticks (${spread}), ${new Set(times).size} distinct seconds`);
    console.log(twice.length === 0 ? '    no second ticked twice' : `    TICKED TWICE: ${twice.join(', ')}`);
    if (task === 'leader' && takeover) {
      const before = ticks.filter((tick) => tick.at < killedAt).at(-1);
      const after = ticks.find((tick) => tick.at > killedAt);
      const seconds = (time: string) => Date.parse(`1970-01-01T${time}Z`) / 1000;
      const missed = before && after ? seconds(after.time) - seconds(before.time) - 1 : 0;
      const gap =
        before && after ? `: last tick ${before.time}, next ${after.time} (${missed} fires missed)` : '';
      console.log(`    takeover: ${holder} -> ${takeover.worker}${gap}`);
    }
  }
  return ok;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kairos-cluster-'));
  // cluster.fork() runs this file again with the primary's execArgv, which under tsx holds tsx's loader
  // (`--require …/preflight.cjs --import …/loader.mjs`): the workers run the TypeScript as is. stdout is piped
  // so that the primary can read the workers' lines; their stderr (the scheduler's log) goes straight through.
  cluster.setupPrimary({ stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const workers = Array.from({ length: 4 }, () => fork(dir));
  try {
    const outcome = await demo(workers);
    if (!summarize(outcome)) process.exitCode = 1;
  } finally {
    for (const worker of workers) if (!worker.isDead()) worker.process.kill('SIGKILL');
    await Promise.all(workers.map(exited));
    await rm(dir, { recursive: true, force: true });
  }
}

if (cluster.isWorker) {
  await runWorker(process.env.KAIROS_CLUSTER_DIR ?? '').catch((error: Error) => {
    say(`failed: ${error.message}`);
    process.exit(1);
  });
} else {
  await main().catch((error: Error) => {
    console.error(`cluster example failed: ${error.message}`);
    process.exitCode = 1;
  });
}
