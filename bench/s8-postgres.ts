/**
 * S8, a fleet sharing one PostgreSQL database: `workers` scheduler processes (bench/s8-worker.ts, real child
 * processes forked by this one) on one schema of their own (`kbench_<random>`, dropped at the end) of the
 * server at KAIROS_PG_URL (default postgres://postgres@127.0.0.1:5432/test). Reports "skipped" when the server
 * cannot be reached.
 *
 * kairos: each worker runs `new Scheduler({ stores: { default: new PostgresStore({ connectionString, schema }) },
 * functions: { tick }, logger: pino({ level: 'warn' }) })`; `tick` records its task id, scheduled time and start
 * time. Tasks are added by a paused scheduler in this process (its own PostgresStore on the same schema), so it
 * never runs them itself.
 * 1. wake-up: the fleet running and idle, `wakeups` times (`wakeSpacingMs` apart) this process calls
 *    `addTask('tick', { trigger: new DateTrigger(new Date()) })`; the delay is from the start of that call to the
 *    start of the run in whichever worker ran it (one machine: Date.now() timelines agree to well under 1 ms).
 * 2. burst: the fleet paused, `burst` tasks due at one instant are added (`misfireGraceTime: null`); every worker
 *    then resumes at the same instant R (each on its own timer): runs per second = burst ÷ (last run start − R).
 *    Every (task, scheduled time) must have run once: `duplicates` counts the extra runs (must be 0).
 * 3. steady: `steadyTasks` interval tasks every `steadyEveryMs` (the task defaults: coalesce, 1 s misfire grace),
 *    the fleet running; over `steadySeconds` s, the runs started in the window (a scheduler that keeps up starts
 *    as many as are offered) and their lateness (start − scheduled time).
 *
 * croner (the peer row; no shared store of its own, so it is done the way its users do it): each worker runs one
 * croner job per task and, at each fire, `INSERT INTO runs (task, scheduled, worker) … ON CONFLICT DO NOTHING`
 * (a pg.Pool of 4 connections per process, PostgresStore's default); the process whose row went in runs the task
 * (see s8-worker.ts). The burst is `burst` one-shot jobs at one instant in every process (the instant is set
 * after a pilot, so that every process has made its jobs by then); the steady phase offers the same runs per
 * second on croner's finest grid, one second: steadyTasks × 1000 ÷ steadyEveryMs jobs `* * * * * *` per process.
 * Wake-up: not possible without extra code (a job added in one process is unknown to the others).
 *
 * Alongside each measured window: the CPU seconds used by the workers, by this fleet's PostgreSQL backends (found
 * by application_name, set to the schema's name in the workers' connection string) and by the whole machine
 * (/proc/stat), and the load average: on a 2-core machine the database and the fleet share the cores, and other
 * work on the machine shows as the difference. BENCH_TRACE prints to stderr each phase, each worker's queries by
 * statement (count, mean, max), the database's counters for the schema (tuples, scans, dead tuples; commits and
 * WAL of the whole server), the wake-up step by step, and the steady window second by second.
 *
 * If this process is killed (the runner's timeout), worker 0 drops the schema as the workers exit.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { sleep, sleepUntil, wallNow } from './lib/clock.js';
import { summary } from './lib/stats.js';

export interface S8Params {
  workers: number;
  burst: number;
  steadyTasks: number;
  steadyEveryMs: number;
  steadySeconds: number;
  wakeups: number;
  wakeSpacingMs: number;
}

export const DEFAULT_PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

const trace = (label: string) => {
  if (process.env.BENCH_TRACE) console.error(`S8 ${(performance.now() / 1000).toFixed(2)} s: ${label}`);
};

/** What a worker hands over at `collect`. */
interface Collected {
  ids: string[];
  scheduled: Float64Array;
  started: Float64Array;
  fires: number;
  lost: number;
  missedEvents: number;
  insertErrors: number;
  firstInsertError?: string;
  backlog: number;
  cpuS: number;
  /** BENCH_TRACE, wake-up window: the worker's queries and notifications, on Date.now()'s timeline. */
  timeline?: Array<{ label: string; start: number; end: number }>;
}

/** One worker process and the replies it owes. */
class Worker {
  readonly index: number;
  readonly child: ChildProcess;
  /** Runs started in it since the last `collect` (its progress messages). */
  runs = 0;
  #sequence = 0;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (e: Error) => void }>();
  readonly up: Promise<void>;

  constructor(index: number, env: NodeJS.ProcessEnv) {
    this.index = index;
    // From the compiled build (the runner) a .js file; from source (tsx) the .ts, through tsx's loader.
    const fromSource = import.meta.url.endsWith('.ts');
    const script = fileURLToPath(new URL(fromSource ? './s8-worker.ts' : './s8-worker.js', import.meta.url));
    this.child = fork(script, [], {
      execArgv: fromSource ? ['--import', 'tsx'] : [],
      env: { ...env, S8_WORKER_INDEX: String(index) },
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let ready: () => void = () => {};
    this.up = new Promise<void>((resolve) => {
      ready = resolve;
    });
    this.child.on(
      'message',
      (message: { type: string; id?: number; runs?: number; result?: unknown; error?: string }) => {
        if (message.type === 'up') ready();
        else if (message.type === 'progress') this.runs = message.runs ?? 0;
        else if (message.type === 'reply' && message.id !== undefined) {
          const waiter = this.#pending.get(message.id);
          this.#pending.delete(message.id);
          if (message.error !== undefined) waiter?.reject(new Error(`worker ${index}: ${message.error}`));
          else waiter?.resolve(message.result);
        }
      },
    );
    this.child.on('exit', (code, signal) => {
      for (const waiter of this.#pending.values())
        waiter.reject(new Error(`worker ${index} exited (${code ?? signal})`));
      this.#pending.clear();
    });
  }

  call<T = Record<string, unknown>>(
    cmd: string,
    body: Record<string, unknown> = {},
    timeoutMs = 120_000,
  ): Promise<T> {
    const id = ++this.#sequence;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`worker ${this.index}: '${cmd}' got no reply in ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as T);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.child.send({ id, cmd, ...body });
    });
  }
}

/** CPU seconds (user + system) of each of these postgres backends, by pid (Linux /proc; none elsewhere). */
function postgresCpu(pids: ReadonlySet<number>): Map<number, number> {
  const tick = 100; // USER_HZ on Linux
  const byPid = new Map<number, number>();
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      byPid.set(pid, (Number(fields[11]) + Number(fields[12])) / tick);
    } catch {
      // gone meanwhile, or not Linux
    }
  }
  return byPid;
}

/** Core-seconds the whole machine spent busy (not idle, not waiting for I/O) since boot (Linux /proc/stat). */
function machineBusy(): number {
  try {
    const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const total = fields.reduce((sum, value) => sum + value, 0);
    return (total - (fields[3] ?? 0) - (fields[4] ?? 0)) / 100;
  } catch {
    return Number.NaN;
  }
}

function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return '?';
  }
}

/** The connection string with this run's application_name, so that its backends can be told apart. */
function tagged(connectionString: string, name: string): string {
  try {
    const url = new URL(connectionString);
    url.searchParams.set('application_name', name);
    return url.toString();
  } catch {
    return connectionString;
  }
}

/** The URL without its password, for messages. */
function redact(connectionString: string): string {
  return connectionString.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

type PgClient = import('pg').Client;

/** The fleet's backends (by application_name) and their CPU, around a measured window. */
class CpuWindow {
  /** CPU seconds of each fleet backend at the start of the window. */
  #startFleet = new Map<number, number>();
  #startMachine = 0;
  #wall = 0;
  readonly #admin: PgClient;
  readonly #tag: string;
  readonly #schema: string;

  constructor(admin: PgClient, tag: string, schema: string) {
    this.#admin = admin;
    this.#tag = tag;
    this.#schema = schema;
  }

  async #fleetPids(): Promise<Set<number>> {
    const { rows } = await this.#admin.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
      [this.#tag],
    );
    return new Set(rows.map((row) => row.pid));
  }

  /** BENCH_TRACE: the database's counters for this schema (tuples, scans), commits and WAL. */
  async #counters(settle: boolean): Promise<Map<string, number>> {
    const counters = new Map<string, number>();
    if (!process.env.BENCH_TRACE) return counters;
    // Backends report their counters at most once a second (PostgreSQL 15).
    if (settle) await sleep(1100);
    await this.#admin.query('SELECT pg_stat_clear_snapshot()');
    const tables = await this.#admin.query(
      `SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del, n_dead_tup, seq_scan, seq_tup_read, idx_scan,
              autovacuum_count, autoanalyze_count
       FROM pg_stat_user_tables WHERE schemaname = $1`,
      [this.#schema],
    );
    for (const row of tables.rows as Array<Record<string, string>>)
      for (const [key, value] of Object.entries(row))
        if (key !== 'relname') counters.set(`${row.relname}.${key}`, Number(value));
    const indexes = await this.#admin.query(
      'SELECT indexrelname, idx_scan, idx_tup_read, idx_tup_fetch FROM pg_stat_user_indexes WHERE schemaname = $1',
      [this.#schema],
    );
    for (const row of indexes.rows as Array<Record<string, string>>)
      for (const [key, value] of Object.entries(row))
        if (key !== 'indexrelname') counters.set(`${row.indexrelname}.${key}`, Number(value));
    const database = await this.#admin.query(
      `SELECT d.xact_commit, w.wal_records, w.wal_bytes, w.wal_sync FROM pg_stat_database d, pg_stat_wal w
       WHERE d.datname = current_database()`,
    );
    for (const [key, value] of Object.entries(database.rows[0] as Record<string, string>))
      counters.set(`server.${key} (all sessions)`, Number(value));
    return counters;
  }

  #counted = new Map<string, number>();

  async begin(): Promise<void> {
    this.#counted = await this.#counters(false);
    this.#startFleet = postgresCpu(await this.#fleetPids());
    this.#startMachine = machineBusy();
    this.#wall = performance.now();
  }

  /** The window's figures; a backend that connected during it counts from 0. */
  async end(workersCpuS: number): Promise<Record<string, number | string>> {
    const wallS = (performance.now() - this.#wall) / 1000;
    const machineBusyCpuS = machineBusy() - this.#startMachine;
    const cpu = postgresCpu(new Set([...(await this.#fleetPids()), ...this.#startFleet.keys()]));
    let fleet = 0;
    for (const [pid, seconds] of cpu) fleet += seconds - (this.#startFleet.get(pid) ?? 0);
    const figures = {
      wallS,
      workersCpuS,
      postgresFleetCpuS: fleet,
      machineBusyCpuS,
      load: loadAverage(),
    };
    if (process.env.BENCH_TRACE) {
      const counters = await this.#counters(true);
      const lines = [...counters]
        .map(([key, value]) => [key, value - (this.#counted.get(key) ?? 0)] as const)
        .filter(([key, delta]) => delta !== 0 || key.endsWith('n_dead_tup'))
        .map(([key, delta]) => `    ${key}: ${delta.toLocaleString('en')}`);
      trace(`database counters over the window (+1.1 s):\n${lines.join('\n')}`);
    }
    return figures;
  }
}

/** Merges the workers' runs: per (task, scheduled time), the first start; the extra runs; the split. */
function merge(
  collected: readonly Collected[],
  keep: (id: string, scheduled: number, started: number) => boolean,
) {
  const first = new Map<string, { scheduled: number; started: number }>();
  let duplicates = 0;
  const split: number[] = [];
  for (const worker of collected) {
    let mine = 0;
    for (let i = 0; i < worker.ids.length; i++) {
      const id = worker.ids[i] as string;
      const scheduled = worker.scheduled[i] as number;
      const started = worker.started[i] as number;
      if (!keep(id, scheduled, started)) continue;
      mine++;
      const key = `${id}@${scheduled}`;
      const seen = first.get(key);
      if (seen === undefined) first.set(key, { scheduled, started });
      else {
        duplicates++;
        if (started < seen.started) seen.started = started;
      }
    }
    split.push(mine);
  }
  return { first, duplicates, split };
}

export async function s8(library: string, params: S8Params): Promise<object> {
  if (library !== 'kairos' && library !== 'croner') return { na: 'S8 compares kairos with croner only' };
  const connectionString = process.env.KAIROS_PG_URL ?? DEFAULT_PG_URL;
  const pg = (await import('pg')).default;
  const admin = new pg.Client({
    connectionString,
    application_name: 'kbench-admin',
    connectionTimeoutMillis: 5000,
  });
  try {
    await admin.connect();
  } catch (error) {
    return {
      skipped: `PostgreSQL not reachable at ${redact(connectionString)} (${(error as Error).message})`,
    };
  }
  const schema = `kbench_${randomBytes(5).toString('hex')}`;
  const fleetUrl = tagged(connectionString, schema);
  const cpu = new CpuWindow(admin, schema, schema);
  const workers: Worker[] = [];
  let adder: import('../src/scheduler.js').Scheduler | null = null;
  const started = performance.now();
  const result: Record<string, unknown> = {
    workers: params.workers,
    cores: cpus().length,
    loadBefore: loadAverage(),
  };
  try {
    trace(`schema ${schema}; load ${loadAverage()}`);
    await admin.query(`CREATE SCHEMA "${schema}"`);
    if (library === 'croner')
      await admin.query(
        `CREATE TABLE "${schema}".runs (task text, scheduled bigint, worker integer NOT NULL, PRIMARY KEY (task, scheduled))`,
      );
    else {
      // The adder creates the store's tables, before the fleet starts on them.
      const { pino } = await import('pino');
      const { Scheduler } = await import('../src/scheduler.js');
      const { PostgresStore } = await import('../stores/postgres.js');
      adder = new Scheduler({
        stores: { default: new PostgresStore({ connectionString, schema }) },
        functions: { tick: () => {} },
        logger: pino({ level: 'warn' }),
      });
      await adder.start({ paused: true });
    }
    for (let i = 0; i < params.workers; i++) workers.push(new Worker(i, process.env));
    await Promise.all(workers.map((worker) => worker.up));
    await Promise.all(workers.map((w) => w.call('start', { library, connectionString: fleetUrl, schema })));
    trace(`${params.workers} workers started`);

    const collect = async (): Promise<Collected[]> => {
      const collected = await Promise.all(workers.map((w) => w.call<Collected>('collect')));
      for (const worker of workers) worker.runs = 0;
      return collected;
    };
    const window = (name: string) => Promise.all(workers.map((w) => w.call('window', { name })));
    /** The workers' CPU seconds since their window began. */
    const workersCpu = async () =>
      (await Promise.all(workers.map((w) => w.call<{ cpuS: number }>('cpu')))).reduce(
        (sum, r) => sum + r.cpuS,
        0,
      );
    /** Waits until `count` runs started, or `timeoutMs` passed, or none started for 15 s (a stall: move on). */
    const waitRuns = async (count: number, timeoutMs: number) => {
      const deadline = performance.now() + timeoutMs;
      let seen = 0;
      let progressed = performance.now();
      for (;;) {
        const runs = workers.reduce((sum, w) => sum + w.runs, 0);
        if (runs !== seen) {
          seen = runs;
          progressed = performance.now();
        }
        if (runs >= count || performance.now() > deadline || performance.now() - progressed > 15_000) return;
        await sleep(10);
      }
    };

    if (library === 'kairos' && adder !== null) {
      const { DateTrigger } = await import('../src/triggers/date.js');
      const { IntervalTrigger } = await import('../src/triggers/interval.js');
      const scheduler = adder;

      // 1. Wake-up delay: the fleet running and idle; one task due now added at a time, from this process.
      await Promise.all(workers.map((w) => w.call('resume')));
      await sleep(500);
      await window('wakeup');
      await cpu.begin();
      const addStarts = new Map<string, number>();
      const addMs: number[] = [];
      for (let k = 0; k < params.wakeups; k++) {
        const id = `w${k}`;
        const begun = wallNow();
        addStarts.set(id, begun);
        await scheduler.addTask('tick', { trigger: new DateTrigger(new Date()), id, misfireGraceTime: null });
        addMs.push(wallNow() - begun);
        await sleepUntil(Math.ceil(begun + params.wakeSpacingMs));
      }
      await waitRuns(params.wakeups, 10_000);
      let collected = await collect();
      result.wakeupCpu = await cpu.end(collected.reduce((sum, w) => sum + w.cpuS, 0));
      {
        const { first, duplicates, split } = merge(collected, (id) => id.startsWith('w'));
        const delays = [...first.entries()].map(
          ([key, run]) => run.started - (addStarts.get(key.slice(0, key.indexOf('@'))) as number),
        );
        const s = summary(delays);
        Object.assign(result, {
          wakeups: params.wakeups,
          wakeupRuns: first.size,
          wakeupDuplicates: duplicates,
          wakeupSplit: split,
          wakeupP50: s.p50,
          wakeupP99: s.p99,
          wakeupMax: s.max,
          wakeupAddCallP50: summary(addMs).p50,
        });
        if (process.env.BENCH_TRACE)
          traceWakeupSteps(collected, first, addStarts, addMs, params.wakeSpacingMs);
        trace(
          `wake-up: p50 ${s.p50.toFixed(2)} p99 ${s.p99.toFixed(2)} max ${s.max.toFixed(2)} ms; split ${split}`,
        );
      }

      // 2. Burst: paused fleet, `burst` tasks due at one instant, then every worker resumes at R.
      await Promise.all(workers.map((w) => w.call('pause')));
      const due = Date.now();
      let begun = performance.now();
      for (let i = 0; i < params.burst; i++) {
        await scheduler.addTask('tick', {
          trigger: new DateTrigger(due),
          id: `b${i}`,
          misfireGraceTime: null,
        });
      }
      result.burstAddUsPerTask = ((performance.now() - begun) * 1000) / params.burst;
      trace(`burst of ${params.burst} added (${(result.burstAddUsPerTask as number).toFixed(0)} µs each)`);
      await window('burst');
      await cpu.begin();
      const resumeAt = Date.now() + 300;
      await Promise.all(workers.map((w) => w.call('resumeAt', { at: resumeAt })));
      await waitRuns(params.burst, 120_000);
      collected = await collect();
      result.burstCpu = await cpu.end(collected.reduce((sum, w) => sum + w.cpuS, 0));
      {
        const { first, duplicates, split } = merge(collected, (id) => id.startsWith('b'));
        let last = 0;
        for (const run of first.values()) last = Math.max(last, run.started);
        const ms = first.size === 0 ? Number.NaN : last - resumeAt;
        Object.assign(result, {
          burst: params.burst,
          burstRuns: first.size,
          burstDuplicates: duplicates,
          burstSplit: split,
          burstMs: ms,
          runsPerSecond: (first.size * 1000) / ms,
        });
        trace(`burst: ${first.size} runs in ${ms.toFixed(0)} ms; split ${split}; duplicates ${duplicates}`);
      }

      // 3. Steady: interval tasks, the fleet running; the window's runs done of those offered, and lateness.
      await Promise.all(workers.map((w) => w.call('pause')));
      const perAddMs = (result.burstAddUsPerTask as number) / 1000;
      const origin = Math.ceil((Date.now() + params.steadyTasks * perAddMs * 1.5 + 1500) / 1000) * 1000;
      begun = performance.now();
      for (let i = 0; i < params.steadyTasks; i++) {
        await scheduler.addTask('tick', {
          trigger: new IntervalTrigger({ milliseconds: params.steadyEveryMs }, { startAt: new Date(origin) }),
          id: `s${i}`,
        });
      }
      await Promise.all(workers.map((w) => w.call('resume')));
      // If adding ran past the origin, the window starts a second after (the first runs were a catch-up).
      const windowStart = Date.now() + 200 < origin ? origin : Math.ceil((Date.now() + 1000) / 1000) * 1000;
      const windowEnd = windowStart + params.steadySeconds * 1000;
      trace(`steady: ${params.steadyTasks} tasks added in ${(performance.now() - begun).toFixed(0)} ms`);
      await sleepUntil(windowStart);
      await window('steady');
      await cpu.begin();
      await sleepUntil(windowEnd);
      result.steadyCpu = await cpu.end(await workersCpu());
      // Runs of the window's last instants may still be starting; the misfire grace is 1 s.
      await sleep(1500);
      await Promise.all(workers.map((w) => w.call('pause')));
      collected = await collect();
      steadyResult(result, collected, params.steadyTasks, params.steadyEveryMs, windowStart, windowEnd);
    } else {
      // croner. 2. Burst: `burst` one-shot jobs at one instant T in every worker; one INSERT per fire per worker.
      result.wakeupNa = 'not possible without extra code';
      // The due instant must come after every worker made its jobs: a pilot of 500 jobs (stopped) sizes the lead.
      const pilot = await Promise.all(
        workers.map((w) =>
          w.call<{ createMs: number }>('jobs', {
            kind: 'once',
            n: 500,
            prefix: 'p',
            at: Date.now() + 3_600_000,
          }),
        ),
      );
      await Promise.all(workers.map((w) => w.call('stopJobs')));
      const lead = 2000 + 1.5 * Math.max(...pilot.map((p) => p.createMs)) * (params.burst / 500);
      const at = Math.round(Date.now() + lead);
      trace(
        `croner: pilot ${pilot.map((p) => p.createMs.toFixed(0))} ms per 500 jobs; due in ${lead.toFixed(0)} ms`,
      );
      const made = await Promise.all(
        workers.map((w) =>
          w.call<{ createMs: number }>('jobs', { kind: 'once', n: params.burst, prefix: 'b', at }),
        ),
      );
      if (Date.now() > at - 100)
        throw new Error(
          `croner: creating ${params.burst} jobs per worker ran past the due instant (lead ${lead} ms)`,
        );
      result.burstCreateMsPerWorker = made.map((m) => m.createMs);
      trace(`croner: ${params.burst} jobs made per worker in ${made.map((m) => m.createMs.toFixed(0))} ms`);
      await sleepUntil(at - 50);
      await window('burst');
      await cpu.begin();
      await waitRuns(params.burst, 120_000);
      let collected = await collect();
      result.burstCpu = await cpu.end(collected.reduce((sum, w) => sum + w.cpuS, 0));
      await Promise.all(workers.map((w) => w.call('stopJobs')));
      {
        const { first, duplicates, split } = merge(collected, (id) => id.startsWith('b'));
        let last = 0;
        for (const run of first.values()) last = Math.max(last, run.started);
        const ms = first.size === 0 ? Number.NaN : last - at;
        Object.assign(result, {
          burst: params.burst,
          burstRuns: first.size,
          burstDuplicates: duplicates,
          burstSplit: split,
          burstMs: ms,
          runsPerSecond: (first.size * 1000) / ms,
          burstFires: collected.reduce((sum, w) => sum + w.fires, 0),
          burstInsertErrors: collected.reduce((sum, w) => sum + w.insertErrors, 0),
          firstInsertError: collected.find((w) => w.firstInsertError !== undefined)?.firstInsertError,
        });
        trace(`burst: ${first.size} runs in ${ms.toFixed(0)} ms; split ${split}; duplicates ${duplicates}`);
      }

      // 3. Steady: the same runs per second offered on croner's finest grid (one second).
      const jobsPerWorker = Math.round((params.steadyTasks * 1000) / params.steadyEveryMs);
      const origin = Math.ceil((Date.now() + 1000 + lead * (jobsPerWorker / params.burst)) / 1000) * 1000;
      await Promise.all(
        workers.map((w) => w.call('jobs', { kind: 'every', n: jobsPerWorker, prefix: 's', startAt: origin })),
      );
      const windowStart = Date.now() + 200 < origin ? origin : Math.ceil((Date.now() + 1000) / 1000) * 1000;
      const windowEnd = windowStart + params.steadySeconds * 1000;
      await sleepUntil(windowStart);
      await window('steady');
      await cpu.begin();
      await sleepUntil(windowEnd);
      result.steadyCpu = await cpu.end(await workersCpu());
      await sleep(1500);
      await Promise.all(workers.map((w) => w.call('stopJobs')));
      collected = await collect();
      steadyResult(result, collected, jobsPerWorker, 1000, windowStart, windowEnd);
      result.steadyFires = collected.reduce((sum, w) => sum + w.fires, 0);
      result.steadyInsertErrors = collected.reduce((sum, w) => sum + w.insertErrors, 0);
      result.steadyBacklog = collected.reduce((sum, w) => sum + w.backlog, 0);
      result.firstInsertError ??= collected.find((w) => w.firstInsertError !== undefined)?.firstInsertError;
    }
    result.totalS = (performance.now() - started) / 1000;
    return result;
  } finally {
    await Promise.all(workers.map((w) => w.call('stop', {}, 10_000).catch(() => w.child.kill('SIGKILL'))));
    for (const worker of workers) if (worker.child.connected) worker.child.disconnect();
    if (adder?.running) await adder.shutdown({ wait: false, timeout: { seconds: 5 } }).catch(() => {});
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
    await admin.end().catch(() => {});
    trace('schema dropped');
  }
}

/**
 * BENCH_TRACE: where a wake-up's time goes, from the queries and notifications of the worker that ran it (medians
 * and p99 over the wake-ups): the add call; the notification's arrival; the worker's acquire, run-slot claim and
 * release; and the run's start.
 */
function traceWakeupSteps(
  collected: readonly Collected[],
  first: ReadonlyMap<string, { scheduled: number; started: number }>,
  addStarts: ReadonlyMap<string, number>,
  addMs: readonly number[],
  spacingMs: number,
): void {
  const steps = new Map<string, number[]>();
  const note = (step: string, ms: number) => {
    const list = steps.get(step) ?? [];
    list.push(ms);
    steps.set(step, list);
  };
  for (const ms of addMs) note('add call (INSERT + NOTIFY, commit)', ms);
  for (const [key, run] of first) {
    const id = key.slice(0, key.indexOf('@'));
    const begun = addStarts.get(id) as number;
    const worker = collected.find((w) => w.ids.includes(id));
    const events = (worker?.timeline ?? []).filter((e) => e.start >= begun && e.start < begun + spacingMs);
    const notified = events.find((e) => e.label === 'notification');
    const acquire = events.find((e) => e.label === 'acquire' && e.end <= run.started);
    const slots = events.find((e) => e.label === 'slots' && acquire !== undefined && e.start >= acquire.end);
    const release = events.find((e) => e.label === 'release' && slots !== undefined && e.start >= slots.end);
    if (notified === undefined || acquire === undefined || slots === undefined || release === undefined)
      continue;
    note('add start → notification received', notified.start - begun);
    note('notification → acquire sent', acquire.start - notified.start);
    note('acquire (round trip)', acquire.end - acquire.start);
    note('acquire → slot claim sent', slots.start - acquire.end);
    note('slot claim (round trip)', slots.end - slots.start);
    note('slot claim → release sent', release.start - slots.end);
    note('release (round trip)', release.end - release.start);
    note('release → run start', run.started - release.end);
    note('total: add start → run start', run.started - begun);
  }
  const lines = [...steps].map(([step, values]) => {
    const s = summary(values);
    return `    ${step.padEnd(38)} p50 ${s.p50.toFixed(2).padStart(6)}  p99 ${s.p99.toFixed(2).padStart(6)} ms  (${values.length})`;
  });
  trace(`wake-up, step by step (the worker that ran it):\n${lines.join('\n')}`);
}

/**
 * The steady phase's figures: the runs started during the window (of those offered in it: a scheduler that keeps
 * up starts as many), their lateness, and how many of the window's own fire times had run by the end.
 */
function steadyResult(
  result: Record<string, unknown>,
  collected: readonly Collected[],
  tasks: number,
  everyMs: number,
  windowStart: number,
  windowEnd: number,
): void {
  const { duplicates } = merge(collected, (id) => id.startsWith('s'));
  const { first, split } = merge(
    collected,
    (id, _scheduled, started) => id.startsWith('s') && started >= windowStart && started < windowEnd,
  );
  const ofWindow = merge(
    collected,
    (id, scheduled) => id.startsWith('s') && scheduled >= windowStart && scheduled < windowEnd,
  ).first.size;
  const seconds = (windowEnd - windowStart) / 1000;
  const offered = tasks * ((windowEnd - windowStart) / everyMs);
  const lateness = [...first.values()].map((run) => run.started - run.scheduled);
  const s = summary(lateness);
  Object.assign(result, {
    steadyTasks: tasks,
    steadyEveryMs: everyMs,
    steadySeconds: seconds,
    steadyOffered: offered,
    steadyDone: first.size,
    steadyOfferedPerSecond: offered / seconds,
    steadyDonePerSecond: first.size / seconds,
    steadyWindowTimesRun: ofWindow,
    steadyDuplicates: duplicates,
    steadySplit: split,
    steadyMissedEvents: collected.reduce((sum, w) => sum + w.missedEvents, 0),
    steadyP50: s.p50,
    steadyP99: s.p99,
    steadyMax: s.max,
  });
  if (process.env.BENCH_TRACE) {
    const bySecond: number[][] = [];
    for (const run of first.values()) {
      const second = Math.floor((run.started - windowStart) / 1000);
      const values = bySecond[second] ?? [];
      values.push(run.started - run.scheduled);
      bySecond[second] = values;
    }
    const line = bySecond.map(
      (values) => `${values.length}:${summary(values).p50.toFixed(0)}/${summary(values).p99.toFixed(0)}`,
    );
    trace(`steady, per second started (runs:lateness p50/p99 ms): ${line.join(' ')}`);
    // How the fleet shares one instant's runs: the processes that ran some of each scheduled instant.
    const byInstant = new Map<number, Set<number>>();
    collected.forEach((worker, index) => {
      for (let i = 0; i < worker.ids.length; i++) {
        const at = worker.scheduled[i] as number;
        if (at < windowStart || at >= windowEnd) continue;
        const set = byInstant.get(at) ?? new Set<number>();
        set.add(index);
        byInstant.set(at, set);
      }
    });
    const sharing = [0, 0, 0, 0];
    for (const set of byInstant.values())
      sharing[Math.min(3, set.size)] = (sharing[Math.min(3, set.size)] ?? 0) + 1;
    trace(
      `steady: of ${byInstant.size} instants, run by 1 process: ${sharing[1]}, 2: ${sharing[2]}, 3+: ${sharing[3]}`,
    );
  }
  trace(
    `steady: ${first.size} runs started in the window, ${offered} offered (${ofWindow} of the window's times ran); lateness p50 ${s.p50.toFixed(1)} p99 ${s.p99.toFixed(1)} ms; split ${split}`,
  );
}
