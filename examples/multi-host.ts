/**
 * Two schedulers, two processes ("host A" and "host B"), one PostgreSQL database:
 *
 *   KAIROS_PG_URL=postgres://postgres@127.0.0.1:5432/test npx tsx examples/multi-host.ts
 *
 * Both hosts declare the same tasks at boot, and each scheduled time runs on exactly one of them. A task that
 * host A adds runs within milliseconds, on whichever host gets it first. Then host A is killed with SIGKILL,
 * and host B carries on alone. The demo ends by itself after about 20–25 s with a summary worked out from the
 * lines the hosts print. Its tables live in the schema `kairos_example`, which is dropped at start and at end.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { CronTrigger, currentRun, DateTrigger, IntervalTrigger, Scheduler } from '../src/index.js';
import { PostgresStore } from '../stores/postgres.js';

const PG_URL = process.env.KAIROS_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SCHEMA = 'kairos_example';

// ─── A host: one scheduler in a process of its own (`multi-host.ts host A`) ─────────────────────────────────

const HOST = process.argv[2] === 'host' ? process.argv[3] : undefined;

/** Prints one line for the demo to read: `host A  <text>`. */
function say(text: string): void {
  console.log(`host ${HOST}  ${text}`);
}

/** Prints the run in progress: its task, its scheduled time, and how late it started. */
function sayRan(task: string, extra = ''): void {
  const scheduled = currentRun()?.scheduledRunTime ?? new Date();
  const late = Date.now() - scheduled.getTime();
  say(`ran ${task.padEnd(9)} for ${scheduled.toISOString()} (+${late} ms)${extra}`);
}

// A stored task names its function, so every host registers the same functions under the same names.
const functions = {
  /** Takes a second, so that a host can die in the middle of a run. */
  heartbeat: async () => {
    sayRan('heartbeat');
    await sleep(1000);
  },
  report: () => {
    const scheduled = currentRun()?.scheduledRunTime ?? new Date();
    const local = scheduled.toLocaleTimeString('en-US', { timeZone: 'America/New_York', hour12: false });
    sayRan('report', `  = ${local} in New York`);
  },
  oneOff: (addedAt: number, addedBy: string) =>
    sayRan('one-off', `  ${Date.now() - addedAt} ms after host ${addedBy} added it`),
};

async function runHost(host: string): Promise<void> {
  const scheduler = new Scheduler({
    stores: { default: new PostgresStore({ connectionString: PG_URL, schema: SCHEMA }) },
    functions,
    leaseTime: { seconds: 5 }, // how long a dead host's leases outlive it (default 30 s)
  });
  scheduler.on('task:max-instances', ({ taskId, scheduledRunTime }) =>
    say(`skipped ${taskId} for ${scheduledRunTime.toISOString()}: a run is still in progress somewhere`),
  );
  scheduler.on('task:error', ({ taskId, error }) => say(`task ${taskId} failed: ${error}`));
  await scheduler.start();

  // Declarations, made by every host at boot: the first adds each task, the others keep its stored schedule.
  await scheduler.addTask('heartbeat', {
    id: 'heartbeat',
    trigger: new IntervalTrigger({ seconds: 2 }),
    maxInstances: 1, // counts the runs in progress on every host
    replaceExisting: true,
  });
  await scheduler.addTask('report', {
    id: 'report',
    trigger: new CronTrigger('*/10 * * * * *', { timezone: 'America/New_York' }),
    replaceExisting: true,
  });
  say('ready');

  // Told by the demo: add a task that runs once, now.
  process.on('message', (message) => {
    if (message !== 'add-one-off') return;
    say('adds a one-off task, to run now');
    const trigger = new DateTrigger(Date.now());
    scheduler
      .addTask('oneOff', { id: 'one-off', trigger, args: [Date.now(), host] })
      .catch((error: Error) => say(`could not add the one-off task: ${error.message}`));
  });
  // SIGTERM: a graceful shutdown (SIGKILL, of course, leaves no chance for one).
  process.once('SIGTERM', () => {
    scheduler
      .shutdown({ wait: true, timeout: 5000 })
      .then(() => say('shut down gracefully'))
      .finally(() => process.disconnect());
  });
}

// ─── The demo: starts both hosts, drives the timeline, reads their lines ────────────────────────────────────

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(4)} s`;

/** A run (or a skipped run) as a host printed it. */
interface Run {
  host: string;
  task: string;
  scheduled: string;
  seenAt: number;
}
const runs: Run[] = [];
const skips: Run[] = [];
/** Called with every line a host prints. */
const lineWatchers = new Set<(line: string) => void>();

/** Forks this file as host `name` (with the same tsx loader), and echoes and records what it prints. */
function startHost(name: string): ChildProcess {
  // The hosts print the events this demo is about; KAIROS_LOG_LEVEL=warn adds the scheduler's own log (stderr).
  const env = { ...process.env, KAIROS_LOG_LEVEL: process.env.KAIROS_LOG_LEVEL ?? 'error' };
  const child = fork(import.meta.filename, ['host', name], {
    env,
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    console.log(`${elapsed()}  ${line}`);
    const match = /^host (\w+) +(ran|skipped) (\S+) +for ([\d:.TZ-]+)/.exec(line);
    if (match) {
      const [, host = '', outcome, task = '', scheduled = ''] = match;
      (outcome === 'ran' ? runs : skips).push({ host, task, scheduled, seenAt: Date.now() });
    }
    for (const watcher of lineWatchers) watcher(line);
  });
  return child;
}

/** Resolves true when a host prints a line that `test` accepts; false after `timeoutMs` or if `child` exits. */
function waitForLine(
  test: (line: string) => boolean,
  timeoutMs: number,
  child: ChildProcess,
): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (found: boolean) => {
      lineWatchers.delete(watcher);
      child.off('exit', onExit);
      clearTimeout(timer);
      resolve(found);
    };
    const watcher = (line: string) => test(line) && done(true);
    const onExit = () => done(false);
    const timer = setTimeout(() => done(false), timeoutMs);
    lineWatchers.add(watcher);
    child.once('exit', onExit);
  });
}

/** Waits for host `name` to print `ready`; its own error, if any, is on stderr above. */
async function whenReady(name: string, child: ChildProcess): Promise<void> {
  if (!(await waitForLine((line) => line === `host ${name}  ready`, 30_000, child)))
    throw new Error(`host ${name} did not start`);
}

/** Drops the example's schema (left by an earlier run, or by this one); fails at once without a database. */
async function dropSchema(): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  } catch (error) {
    const cause = error instanceof AggregateError ? error.errors[0] : error; // 'localhost': IPv4 and IPv6
    throw new Error(`cannot use the database at ${PG_URL}: ${(cause as Error).message}`);
  } finally {
    await client.end().catch(() => {});
  }
}

/** The timeline: both hosts run; A adds a one-off task; A is killed; B carries on, then stops. Returns the kill time. */
async function demo(a: ChildProcess, b: ChildProcess): Promise<number> {
  await Promise.all([whenReady('A', a), whenReady('B', b)]);
  console.log(`${elapsed()}  -- both hosts run the same tasks; each scheduled time runs on one of them`);
  await sleep(5000);

  console.log(`${elapsed()}  -- host A adds a one-off task`);
  a.send('add-one-off');
  await sleep(3000);

  // Kill A in the middle of a heartbeat if it gets one soon: it then dies holding the task's run slot.
  await waitForLine((line) => line.startsWith('host A  ran heartbeat'), 4000, a);
  a.kill('SIGKILL');
  const killedAt = Date.now();
  console.log(`${elapsed()}  -- host A killed with SIGKILL; host B takes over within the lease time (5 s)`);
  await sleep(10_000);

  console.log(`${elapsed()}  -- stopping host B with SIGTERM`);
  const exitCode = new Promise<number | null>((resolve) => b.once('exit', resolve));
  b.kill('SIGTERM');
  if ((await exitCode) !== 0) throw new Error('host B did not shut down cleanly');
  return killedAt;
}

/** Prints runs per host, whether any scheduled time ran twice, and how host B took over; false if one did. */
function summarize(killedAt: number): boolean {
  console.log('\nsummary');
  for (const host of ['A', 'B']) {
    const counts = new Map<string, number>();
    for (const run of runs) if (run.host === host) counts.set(run.task, (counts.get(run.task) ?? 0) + 1);
    const total = [...counts.values()].reduce((sum, n) => sum + n, 0);
    const perTask = [...counts].map(([task, n]) => `${task} ${n}`).join(', ');
    console.log(`  host ${host}: ${total} runs (${perTask})`);
  }
  const keys = runs.map((run) => `${run.task} ${run.scheduled}`);
  const twice = keys.filter((key, i) => keys.indexOf(key) !== i);
  console.log(
    twice.length === 0
      ? `  ${keys.length} runs of ${new Set(keys).size} distinct scheduled times: none ran twice`
      : `  RAN TWICE: ${twice.join(', ')}`,
  );
  for (const task of ['heartbeat', 'report']) {
    const next = runs.find((run) => run.task === task && run.seenAt > killedAt);
    const skipped = skips.filter((skip) => skip.task === task && skip.seenAt > killedAt).length;
    const when = next
      ? `ran on host ${next.host} ${((next.seenAt - killedAt) / 1000).toFixed(1)} s`
      : 'never ran';
    const why = skipped > 0 ? `, ${skipped} skipped before (host A's unfinished run held its slot)` : '';
    console.log(`  ${task}: first ${when} after the kill${why}`);
  }
  return twice.length === 0;
}

async function main(): Promise<void> {
  await dropSchema(); // a fresh start, and one clear error if the database cannot be reached
  const a = startHost('A');
  const b = startHost('B');
  try {
    const killedAt = await demo(a, b);
    if (!summarize(killedAt)) process.exitCode = 1;
  } finally {
    for (const child of [a, b])
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await dropSchema();
  }
}

if (HOST !== undefined) {
  await runHost(HOST).catch((error: Error) => {
    console.error(`host ${HOST}: ${error.message}`);
    process.exit(1);
  });
} else {
  await main().catch((error: Error) => {
    console.error(`multi-host example failed: ${error.message}`);
    process.exitCode = 1;
  });
}
