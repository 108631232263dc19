/**
 * One process of S8's fleet (bench/s8-postgres.ts forks three): driven over IPC by the S8 child, it records every
 * run it starts (task id, scheduled time, start time on Date.now()'s timeline, sub-ms) and hands them over on
 * `collect`. Exits when its parent goes away (the runner may kill the S8 child on a timeout).
 *
 * - kairos: `new Scheduler({ stores: { default: new PostgresStore({ connectionString, schema }) }, functions:
 *   { tick }, logger: pino({ level: 'warn' }) })`, started paused; `resume`/`resumeAt`/`pause` drive it.
 * - croner: one `new Cron(date | '* * * * * *', fire)` job per task; a fire makes this process the one that runs
 *   it only if its `INSERT … ON CONFLICT DO NOTHING` into `<schema>.runs`, keyed by (task, scheduled time),
 *   inserted the row (a `pg.Pool` of 4 connections, the default size of PostgresStore's pool).
 *
 * With BENCH_TRACE set, every query of the process is timed by statement (the `pg` client's `query` is wrapped;
 * nothing else changes) and the table goes to stderr at each `collect`; BENCH_PROFILE_DIR (bench/profile.ts)
 * writes a CPU profile of each measured window.
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { calibrate, sleepUntil, wallNow } from './lib/clock.js';
import { startWindow, stopWindow } from './lib/window-profiler.js';

/** A message from the S8 child: a command and its sequence number (the reply carries it). */
interface Command {
  id: number;
  cmd: string;
  [key: string]: unknown;
}

const index = Number(process.env.S8_WORKER_INDEX ?? '0');
const tracing = process.env.BENCH_TRACE !== undefined;
const trace = (label: string) => {
  if (tracing) console.error(`S8 w${index} ${(performance.now() / 1000).toFixed(2)} s: ${label}`);
};

// ---- what ran here ----

const ids: string[] = [];
const scheduled: number[] = [];
const started: number[] = [];
/** Croner: fires of this process (each one INSERT), and those that lost the race. */
let fires = 0;
let lost = 0;
let missedEvents = 0;
let insertErrors = 0;
let firstInsertError: string | undefined;

function record(taskId: string, scheduledRunTime: number): void {
  ids.push(taskId);
  scheduled.push(scheduledRunTime);
  started.push(wallNow());
  progress();
}

/** Sends to the S8 child, unless it went away. */
function send(message: object): void {
  if (process.connected) process.send?.(message);
}

/** Tells the S8 child how many runs started here, at most every 20 ms (it only waits on the count). */
let progressTimer: NodeJS.Timeout | null = null;
function progress(): void {
  if (progressTimer !== null) return;
  progressTimer = setTimeout(() => {
    progressTimer = null;
    send({ type: 'progress', runs: ids.length });
  }, 20);
}

// ---- BENCH_TRACE: every query timed, by statement ----

interface QueryStat {
  count: number;
  totalMs: number;
  maxMs: number;
}
const queryStats = new Map<string, QueryStat>();

function statementLabel(config: unknown): string {
  if (typeof config === 'object' && config !== null) {
    const { name, text } = config as { name?: string; text?: string };
    if (typeof name === 'string') return name.replace(/^[a-z0-9_]+\./, '');
    return statementLabel(text);
  }
  return String(config).replace(/\s+/g, ' ').trim().slice(0, 60);
}

/** BENCH_TRACE, wake-up window: each query (and each notification received) with its start and end. */
let timeline: Array<{ label: string; start: number; end: number }> | null = null;

function instrumentQueries(): void {
  type Query = (this: pg.Client, ...args: unknown[]) => unknown;
  type Emit = (this: pg.Client, event: string | symbol, ...args: unknown[]) => boolean;
  const emitter = pg.Client.prototype as unknown as { emit: Emit };
  const emit = emitter.emit;
  emitter.emit = function (this: pg.Client, event: string | symbol, ...args: unknown[]) {
    if (event === 'notification' && timeline !== null) {
      const now = wallNow();
      timeline.push({ label: 'notification', start: now, end: now });
    }
    return emit.call(this, event, ...args);
  };
  const proto = pg.Client.prototype as unknown as { query: Query };
  const original = proto.query;
  proto.query = function (this: pg.Client, ...args: unknown[]) {
    const label = statementLabel(args[0]);
    const begun = performance.now();
    const begunWall = timeline === null ? 0 : wallNow();
    const done = () => {
      const ms = performance.now() - begun;
      timeline?.push({ label, start: begunWall, end: wallNow() });
      const stat = queryStats.get(label) ?? { count: 0, totalMs: 0, maxMs: 0 };
      stat.count++;
      stat.totalMs += ms;
      stat.maxMs = Math.max(stat.maxMs, ms);
      queryStats.set(label, stat);
    };
    const last = args[args.length - 1];
    if (typeof last === 'function') {
      args[args.length - 1] = (...results: unknown[]) => {
        done();
        return (last as (...r: unknown[]) => unknown)(...results);
      };
      return original.apply(this, args);
    }
    const result = original.apply(this, args);
    if (result instanceof Promise) result.then(done, done);
    return result;
  };
}
if (tracing) instrumentQueries();

function queryTable(): string {
  const rows = [...queryStats.entries()].sort((a, b) => b[1].totalMs - a[1].totalMs);
  queryStats.clear();
  return rows
    .map(
      ([label, s]) =>
        `    ${String(s.count).padStart(7)} × ${(s.totalMs / s.count).toFixed(2).padStart(7)} ms avg, max ${s.maxMs.toFixed(1).padStart(7)} ms, total ${(s.totalMs / 1000).toFixed(2)} s: ${label}`,
    )
    .join('\n');
}

/** CPU seconds of this process (user + system). */
function cpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

// ---- kairos ----

type SchedulerType = import('../src/scheduler.js').Scheduler;
let scheduler: SchedulerType | null = null;

async function startKairos(connectionString: string, schema: string): Promise<void> {
  const { pino } = await import('pino');
  const { currentRun } = await import('../src/context.js');
  const { Scheduler } = await import('../src/scheduler.js');
  const { PostgresStore } = await import('../stores/postgres.js');
  scheduler = new Scheduler({
    stores: { default: new PostgresStore({ connectionString, schema }) },
    functions: {
      tick: () => {
        const run = currentRun();
        if (run !== undefined) record(run.taskId, run.scheduledRunTime.getTime());
      },
    },
    logger: pino({ level: 'warn' }),
  });
  scheduler.on('task:missed', ({ count }) => {
    missedEvents += count;
  });
  await scheduler.start({ paused: true });
}

// ---- croner ----

type CronType = import('croner').Cron;
let pool: pg.Pool | null = null;
let jobs: CronType[] = [];
let runsTable = '';

/** One fire of a croner job: this process runs the task only if its row went in first. */
async function claimAndRun(taskId: string, scheduledRunTime: number): Promise<void> {
  fires++;
  try {
    const { rowCount } = await (pool as pg.Pool).query(
      `INSERT INTO ${runsTable} (task, scheduled, worker) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
      [taskId, scheduledRunTime, index],
    );
    if (rowCount === 1) record(taskId, scheduledRunTime);
    else lost++;
  } catch (error) {
    insertErrors++;
    firstInsertError ??= (error as Error).message;
  }
}

async function cronerJobs(command: Command): Promise<number> {
  const { Cron } = await import('croner');
  const n = command.n as number;
  const prefix = command.prefix as string;
  const begun = performance.now();
  if (command.kind === 'once') {
    const at = command.at as number;
    for (let i = 0; i < n; i++) {
      const taskId = `${prefix}${i}`;
      jobs.push(new Cron(new Date(at), () => claimAndRun(taskId, at)));
    }
  } else {
    // Every second from startAt; croner does not expose the scheduled time of a fire (its currentRun() is the
    // moment it fired), so a fire counts for the whole second it falls in (it fires a few ms after it).
    const startAt = new Date(command.startAt as number);
    for (let i = 0; i < n; i++) {
      const taskId = `${prefix}${i}`;
      jobs.push(
        new Cron('* * * * * *', { startAt }, () => claimAndRun(taskId, Math.floor(Date.now() / 1000) * 1000)),
      );
    }
  }
  return performance.now() - begun;
}

// ---- commands ----

/** The schema of the run, and whether the S8 child said `stop` (else a disconnect means it was killed). */
let runSchema: string | null = null;
let runConnectionString = '';
let stopped = false;

let windowStartedCpu = 0;
let windowName = '';

async function handle(command: Command): Promise<unknown> {
  switch (command.cmd) {
    case 'start': {
      const connectionString = command.connectionString as string;
      const schema = command.schema as string;
      runSchema = schema;
      runConnectionString = connectionString;
      if (command.library === 'kairos') await startKairos(connectionString, schema);
      else {
        runsTable = `"${schema}".runs`;
        pool = new pg.Pool({ connectionString, max: 4, application_name: 'kbench-croner' });
        // One connection at once, so that the first fires do not wait for it.
        await Promise.all([1, 2, 3, 4].map(() => pool!.query('SELECT 1')));
      }
      return { pid: process.pid };
    }
    case 'resume':
      scheduler?.resume();
      return {};
    case 'resumeAt': {
      // Every process resumes at the same instant, on its own timer (the S8 child sends this well before).
      await sleepUntil(command.at as number);
      while (Date.now() < (command.at as number)) {
        // the last millisecond
      }
      scheduler?.resume();
      return { resumedAt: wallNow() };
    }
    case 'pause':
      scheduler?.pause();
      return {};
    case 'window': {
      windowName = command.name as string;
      windowStartedCpu = cpuSeconds();
      timeline = tracing && windowName === 'wakeup' ? [] : null;
      calibrate();
      await startWindow();
      return {};
    }
    case 'cpu':
      return { cpuS: cpuSeconds() - windowStartedCpu };
    case 'jobs':
      return { createMs: await cronerJobs(command), heapMiB: process.memoryUsage().heapUsed / 2 ** 20 };
    case 'stopJobs': {
      for (const job of jobs) job.stop();
      jobs = [];
      return {};
    }
    case 'collect': {
      await stopWindow(`S8-${windowName}-w${index}`);
      const result = {
        // Croner: fires whose INSERT had not come back yet (queued for a connection of the pool, or in flight).
        backlog: fires - ids.length - lost - insertErrors,
        ids: ids.splice(0),
        scheduled: Float64Array.from(scheduled.splice(0)),
        started: Float64Array.from(started.splice(0)),
        fires,
        lost,
        missedEvents,
        insertErrors,
        firstInsertError,
        cpuS: cpuSeconds() - windowStartedCpu,
        timeline: timeline ?? undefined,
      };
      timeline = null;
      fires = 0;
      lost = 0;
      missedEvents = 0;
      insertErrors = 0;
      firstInsertError = undefined;
      if (tracing) trace(`${windowName}: ${result.ids.length} runs, queries:\n${queryTable()}`);
      return result;
    }
    case 'stop': {
      stopped = true;
      for (const job of jobs) job.stop();
      jobs = [];
      if (scheduler?.running) await scheduler.shutdown({ wait: false, timeout: { seconds: 5 } });
      await pool?.end();
      return {};
    }
    default:
      throw new Error(`unknown command ${command.cmd}`);
  }
}

process.on('message', (message: Command) => {
  handle(message).then(
    (result) => send({ type: 'reply', id: message.id, result }),
    (error: unknown) =>
      send({
        type: 'reply',
        id: message.id,
        error:
          error instanceof Error
            ? `${error.message} (${(error.stack ?? '').split('\n')[1]?.trim()})`
            : String(error),
      }),
  );
});
/**
 * The S8 child went away: nothing here may outlive it. If it was killed (the runner's timeout) before it could drop
 * the run's schema, worker 0 drops it (its own schema, `kbench_<random>`, made for this run), within 10 s.
 */
process.on('disconnect', () => {
  if (stopped || index !== 0 || runSchema === null) process.exit(0);
  setTimeout(() => process.exit(1), 10_000).unref();
  scheduler?.pause();
  for (const job of jobs) job.stop();
  // The other workers exit meanwhile, releasing their locks on the schema's tables.
  const client = new pg.Client({ connectionString: runConnectionString });
  client
    .connect()
    .then(() => client.query('SET lock_timeout = 8000'))
    .then(() => client.query(`DROP SCHEMA IF EXISTS "${runSchema}" CASCADE`))
    .catch((error: unknown) => console.error(`S8 worker 0: could not drop schema ${runSchema}: ${error}`))
    .finally(() => process.exit(0));
});
trace('up');
send({ type: 'up' });
