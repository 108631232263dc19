/**
 * The scenarios S1–S6 and S1-cron, each a function of one adapter; S7 and S9 (SQLite, kairos only) are in
 * s7-sqlite.ts and s9-sqlite.ts, S8 (PostgreSQL) in s8-postgres.ts.
 * Every scenario returns a plain JSON object; the runner takes medians and writes the table.
 */
import { getHeapStatistics } from 'node:v8';
import type { Adapter, Fire } from './adapters/adapter.js';
import { calibrate, sleep, sleepUntil, wallNow } from './lib/clock.js';
import { cronExpression, DISTINCT_CRON_EXPRESSIONS } from './lib/cron-expressions.js';
import { slope, summary } from './lib/stats.js';
import { startWindow, stopWindow } from './lib/window-profiler.js';

const noop: Fire = () => {};

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect === undefined) throw new Error('run the child with --expose-gc');
  collect();
  collect();
}

function memory(): { heap: number; rss: number } {
  gc();
  const usage = process.memoryUsage();
  return { heap: usage.heapUsed, rss: usage.rss };
}

/** `adapter.once`, awaited only if it returned a promise (kairos' addTask is async, the peers' are not). */
async function addOnce(adapter: Adapter, key: number, at: number, fire: Fire): Promise<void> {
  const result = adapter.once?.(key, at, fire);
  if (result !== undefined) await result;
}

/**
 * A one-shot task at `at` (for toad-scheduler the one its users build: `onceHow`), or for a library with neither an
 * interval whose first run is then. Returns how.
 */
async function addFarAhead(adapter: Adapter, key: number, at: number, fire: Fire): Promise<string> {
  if (adapter.once !== undefined) {
    await addOnce(adapter, key, at, fire);
    return adapter.onceHow ?? 'one-shot';
  }
  if (adapter.intervalFromNow !== undefined) {
    const result = adapter.intervalFromNow(key, at - Date.now(), fire);
    if (result !== undefined) await result;
    return 'interval job';
  }
  throw new Error(`${adapter.name} has neither one-shot nor interval tasks`);
}

export interface S1Params {
  n: number;
  /** Also add n tasks again and remove them one by one. */
  removeEach: boolean;
}

/** S1, schedule cost: add n one-shot tasks due in an hour (one per ms), measure time and memory; remove them. */
export async function s1(adapter: Adapter, { n, removeEach }: S1Params) {
  if (adapter.once === undefined) return { na: 'no one-shot tasks' };
  await adapter.start();
  const base = Date.now() + 3_600_000;
  const before = memory();
  await startWindow();
  let started = performance.now();
  const heapLimit = getHeapStatistics().heap_size_limit;
  for (let key = 0; key < n; key++) {
    await addOnce(adapter, key, base + key, noop);
    // A library that needs more memory than the heap has would thrash the GC for minutes before crashing.
    if (key % 1000 === 999 && getHeapStatistics().used_heap_size > 0.8 * heapLimit) {
      const mib = Math.round(heapLimit / 2 ** 20);
      throw new Error(`out of memory: the V8 heap passed 80% of its ${mib} MiB limit after ${key + 1} tasks`);
    }
  }
  const addMs = performance.now() - started;
  await stopWindow('S1-add');
  const after = memory();
  await startWindow();
  started = performance.now();
  await adapter.removeAll();
  const removeAllMs = performance.now() - started;
  await stopWindow('S1-removeAll');
  const result: Record<string, number | string> = {
    n,
    addMs,
    addUsPerTask: (addMs * 1000) / n,
    heapBytesPerTask: (after.heap - before.heap) / n,
    rssBytesPerTask: (after.rss - before.rss) / n,
    removeAllMs,
    removeAllHow: adapter.removeAllHow,
  };
  if (adapter.onceHow !== undefined) result.onceHow = adapter.onceHow;
  if (removeEach) {
    const base2 = Date.now() + 3_600_000;
    for (let key = 0; key < n; key++) await addOnce(adapter, n + key, base2 + key, noop);
    await startWindow();
    started = performance.now();
    for (let key = 0; key < n; key++) {
      const removed = adapter.remove(n + key);
      if (removed !== undefined) await removed;
    }
    result.removeEachMs = performance.now() - started;
    await stopWindow('S1-removeEach');
  }
  await adapter.shutdown();
  return result;
}

export interface S1CronParams {
  n: number;
  timezone: string;
  /** The next run times of this many tasks (the first ones) go into the result, to compare libraries. */
  sample: number;
}

/**
 * S1-cron, schedule cost of cron tasks: add n cron tasks with distinct expressions (lib/cron-expressions.ts) in
 * `timezone`, each with the library's own cron jobs; time and memory as S1's; then remove them all.
 */
export async function s1cron(adapter: Adapter, { n, timezone, sample }: S1CronParams) {
  if (adapter.cron === undefined) return { na: 'no cron engine of its own' };
  if (n > DISTINCT_CRON_EXPRESSIONS)
    throw new Error(`at most ${DISTINCT_CRON_EXPRESSIONS} distinct expressions`);
  await adapter.start();
  const expressions = Array.from({ length: n }, (_, i) => cronExpression(i));
  const before = memory();
  await startWindow();
  let started = performance.now();
  const heapLimit = getHeapStatistics().heap_size_limit;
  for (let key = 0; key < n; key++) {
    const added = adapter.cron(key, expressions[key] as string, timezone, noop);
    if (added !== undefined) await added;
    if (key % 1000 === 999 && getHeapStatistics().used_heap_size > 0.8 * heapLimit) {
      const mib = Math.round(heapLimit / 2 ** 20);
      throw new Error(`out of memory: the V8 heap passed 80% of its ${mib} MiB limit after ${key + 1} tasks`);
    }
  }
  const addMs = performance.now() - started;
  await stopWindow('S1-cron-add');
  const after = memory();
  const nextRuns: Array<number | null> = [];
  for (let key = 0; key < Math.min(sample, n); key++) nextRuns.push((await adapter.nextRun(key)) ?? null);
  await startWindow();
  started = performance.now();
  await adapter.removeAll();
  const removeAllMs = performance.now() - started;
  await stopWindow('S1-cron-removeAll');
  await adapter.shutdown();
  return {
    n,
    timezone,
    addMs,
    addUsPerTask: (addMs * 1000) / n,
    heapBytesPerTask: (after.heap - before.heap) / n,
    rssBytesPerTask: (after.rss - before.rss) / n,
    removeAllMs,
    removeAllHow: adapter.removeAllHow,
    /** The library's next run time of tasks 0, 1, … (epoch ms; null if it does not tell). */
    nextRuns,
  };
}

export interface S2Params {
  n: number;
  /** At most this long between adding the first task and the due instant (see the pilot below). */
  leadMs: number;
  timeoutMs: number;
}

/** S2, burst: n one-shot tasks due at the same instant; lateness of each fire after that instant. */
export async function s2(adapter: Adapter, { n, leadMs, timeoutMs }: S2Params) {
  if (adapter.once === undefined) return { na: 'no one-shot tasks' };
  await adapter.start();
  // Pilot: time adding a tenth of the tasks (due in a day, then removed) to choose a lead long enough to add
  // all n before the due instant, but no longer than needed.
  // The cost may grow faster than linearly (sorted-array inserts): fit the exponent on the pilot's two halves.
  const pilot = Math.max(200, Math.floor(n / 10));
  const pilotDue = Date.now() + 86_400_000;
  const pilotStart = performance.now();
  let halfMs = 0;
  for (let key = 0; key < pilot; key++) {
    if (key === pilot / 2) halfMs = performance.now() - pilotStart;
    await addOnce(adapter, n + key, pilotDue, noop);
  }
  const pilotMs = performance.now() - pilotStart;
  await adapter.removeAll();
  const exponent = Math.min(2, Math.max(1, Math.log2(pilotMs / Math.max(halfMs, 0.001))));
  const estimateMs = pilotMs * (n / pilot) ** exponent;
  const lead = Math.min(leadMs, Math.max(800, 500 + 2 * estimateMs));
  const due = Date.now() + Math.round(lead);
  const lateness = new Float64Array(n);
  let fired = 0;
  let early = 0;
  let finish: () => void = () => {};
  const allFired = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const fire: Fire = () => {
    const now = wallNow();
    if (Date.now() < due) early++;
    if (fired < n) lateness[fired] = now - due;
    fired++;
    if (fired === n) finish();
  };
  const started = performance.now();
  for (let key = 0; key < n; key++) await addOnce(adapter, key, due, fire);
  const addMs = performance.now() - started;
  const marginMs = due - Date.now();
  if (marginMs < 100) {
    await adapter.shutdown();
    return { error: `adding ${n} tasks took ${addMs.toFixed(0)} ms, past the due instant; raise leadMs` };
  }
  gc();
  await sleep(Math.max(0, due - Date.now() - 300));
  calibrate();
  await startWindow();
  // CPU time as well as lateness: on a machine shared with other work, wall time measures the other work too.
  const cpuBefore = process.cpuUsage();
  await Promise.race([allFired, sleep(due + timeoutMs - Date.now())]);
  const cpu = process.cpuUsage(cpuBefore);
  await stopWindow('S2-burst');
  const stats = summary(lateness.subarray(0, Math.min(fired, n)));
  await adapter.shutdown();
  return {
    n,
    fired: Math.min(fired, n),
    early,
    lastFireMs: fired >= n ? stats.max : Number.NaN,
    p50: stats.p50,
    p99: stats.p99,
    max: stats.max,
    addMs,
    leadMs: lead,
    /** CPU time (user + system, µs) from ~300 ms before the due instant to the last fire, per task. */
    cpuUsPerTask: fired >= n ? (cpu.user + cpu.system) / n : Number.NaN,
    onceHow: adapter.onceHow,
  };
}

/** S3: a fire this much before a grid instant is matched to it (and counted early), not to the one before. */
const EARLY_TOLERANCE_MS = 50;

export interface S3Params {
  n: number;
  seconds: number;
}

/**
 * S3, steady precision: n tasks every second; lateness of every fire whose scheduled instant lies in a
 * window of `seconds` seconds, per second of the window (to see drift).
 */
export async function s3(adapter: Adapter, { n, seconds }: S3Params) {
  if (adapter.everySecond === undefined) return { na: 'no interval or per-second cron tasks' };
  await adapter.start();
  const capacity = n * (seconds + 4);
  const keys = new Int32Array(capacity);
  const times = new Float64Array(capacity);
  let count = 0;
  const origins = new Float64Array(n);
  const makeFire =
    (key: number): Fire =>
    () => {
      if (count < capacity) {
        keys[count] = key;
        times[count] = wallNow();
      }
      count++;
    };
  for (let key = 0; key < n; key++) {
    const origin = adapter.everySecond(key, makeFire(key));
    origins[key] = typeof origin === 'number' ? origin : await origin;
  }
  const windowStart = Math.ceil((Date.now() + 400) / 1000) * 1000;
  const windowEnd = windowStart + seconds * 1000;
  gc();
  await sleepUntil(windowStart - 300);
  calibrate();
  await startWindow();
  await sleepUntil(windowEnd + 600);
  await stopWindow('S3-window');
  await adapter.shutdown();

  const lateness: number[] = [];
  const perSecond: number[][] = Array.from({ length: seconds }, () => []);
  const seen = new Set<number>();
  let early = 0;
  let duplicates = 0;
  const xs: number[] = [];
  for (let i = 0; i < Math.min(count, capacity); i++) {
    const key = keys[i] as number;
    const time = times[i] as number;
    const origin = origins[key] as number;
    // The grid instant at or before the fire (a fire up to EARLY_TOLERANCE_MS early counts as early):
    // lateness may reach most of a second without being mistaken for an early fire of the next instant.
    const step = Math.floor((time - origin + EARLY_TOLERANCE_MS) / 1000);
    const scheduled = origin + step * 1000;
    if (scheduled < windowStart - 0.5 || scheduled >= windowEnd - 0.5) continue;
    const late = time - scheduled;
    const mark = key * 100_000 + (step % 100_000);
    if (seen.has(mark)) {
      duplicates++;
      continue;
    }
    seen.add(mark);
    if (late < 0) early++;
    lateness.push(late);
    xs.push(scheduled - windowStart);
    const second = Math.min(seconds - 1, Math.max(0, Math.floor((scheduled - windowStart + 0.5) / 1000)));
    (perSecond[second] as number[]).push(late);
  }
  const stats = summary(lateness);
  const edge = Math.max(1, Math.min(2, Math.floor(seconds / 3)));
  const firstSeconds = perSecond.slice(0, edge).flat();
  const lastSeconds = perSecond.slice(seconds - edge).flat();
  const first = summary(firstSeconds);
  const last = summary(lastSeconds);
  return {
    n,
    seconds,
    expected: n * seconds,
    fired: lateness.length,
    missed: n * seconds - lateness.length,
    duplicates,
    early,
    p50: stats.p50,
    p99: stats.p99,
    max: stats.max,
    driftP50: last.p50 - first.p50,
    driftP99: last.p99 - first.p99,
    /** ms of lateness gained per second of the window (least squares over every fire). */
    slopeMsPerS: slope(xs, lateness) * 1000,
    perSecondP50: perSecond.map((values) => summary(values).p50),
    perSecondP99: perSecond.map((values) => summary(values).p99),
  };
}

/** Counts timers armed and timer callbacks run (installed before the library loads, for S4 and S6). */
export interface TimerProbe {
  armed: number;
  callbacks: number;
  maxDelay: number;
  overflowDelays: number;
  warnings: string[];
}

export function installTimerProbe(): TimerProbe {
  const probe: TimerProbe = { armed: 0, callbacks: 0, maxDelay: 0, overflowDelays: 0, warnings: [] };
  const wrap = <F extends (...args: never[]) => unknown>(original: F): F =>
    function (this: unknown, callback: unknown, delay?: unknown, ...rest: unknown[]) {
      probe.armed++;
      const ms = Number(delay ?? 0);
      if (ms > probe.maxDelay) probe.maxDelay = ms;
      if (ms > 2 ** 31 - 1) probe.overflowDelays++;
      const wrapped =
        typeof callback === 'function'
          ? function (this: unknown, ...args: unknown[]) {
              probe.callbacks++;
              return (callback as (...a: unknown[]) => unknown).apply(this, args);
            }
          : callback;
      return (original as unknown as (...a: unknown[]) => unknown).call(this, wrapped, delay, ...rest);
    } as unknown as F;
  globalThis.setTimeout = Object.assign(wrap(globalThis.setTimeout), {
    __promisify__: undefined,
  }) as typeof setTimeout;
  globalThis.setInterval = wrap(globalThis.setInterval) as typeof setInterval;
  process.on('warning', (warning) => probe.warnings.push(warning.name));
  return probe;
}

export interface S4Params {
  n: number;
  holdMs: number;
}

/** S4, idle: n tasks due tomorrow, then hold: CPU time and timer wake-ups while nothing is due. */
export async function s4(adapter: Adapter, { n, holdMs }: S4Params, probe: TimerProbe) {
  await adapter.start();
  const at = Date.now() + 86_400_000;
  let fired = 0;
  const fire: Fire = () => {
    fired++;
  };
  let how = 'none';
  if (adapter.name !== ('none' as never)) {
    for (let key = 0; key < n; key++) how = await addFarAhead(adapter, key, at + key, fire);
  }
  gc();
  await sleep(300);
  const callbacks = probe.callbacks;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await sleep(holdMs);
  const used = process.cpuUsage(cpu);
  const heldMs = performance.now() - started;
  // The hold's own sleep timer is one wake-up; report the library's.
  const wakeups = probe.callbacks - callbacks - 1;
  await adapter.shutdown();
  return {
    n,
    holdMs: heldMs,
    cpuMs: (used.user + used.system) / 1000,
    wakeups,
    wakeupsPerSecond: (wakeups * 1000) / heldMs,
    fired,
    how,
  };
}

export interface S5Params {
  expressions: string[];
  /** The zones, each measured in turn (older runs: `timezone`, one zone). */
  timezones?: string[];
  timezone?: string;
  /** Stepping time per (zone, expression). */
  budgetMs: number;
  /** How many of the first fire times to return for the cross-library comparison. */
  sample: number;
}

type S5Entry = { opsPerSec: number; steps: number; first: number[] } | { error: string };

/** Epoch ms of midnight starting `year-month-day` (month 1–12) on the wall clock of `timezone`. */
export function zoneMidnight(timezone: string, year: number, month: number, day: number): number {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone: timezone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  const wall = (at: number) => {
    const parts = Object.fromEntries(format.formatToParts(at).map((part) => [part.type, part.value]));
    const fields = [parts.year, parts.month, parts.day, parts.hour, parts.minute, parts.second].map(Number);
    const [y, mo, d, h, mi, s] = fields as [number, number, number, number, number, number];
    return Date.UTC(y, mo - 1, d, h, mi, s);
  };
  const target = Date.UTC(year, month - 1, day);
  let at = target;
  // Two corrections: the offset at the first guess may differ from the offset at midnight.
  for (let i = 0; i < 2; i++) at += target - wall(at);
  return at;
}

/**
 * S5, next-fire-time computation: steps per second through each expression's fire times, in each zone: from
 * 2026-01-01 00:00 on the zone's wall clock to 2030, and round again. First, for every (zone, expression), its
 * first `sample` fire times (for the comparison between libraries) and a quarter of the budget of stepping,
 * untimed: the library's code is warm in every zone before any is timed (otherwise the first pairs measured
 * pay for the JIT of all). Then each pair is timed for `budgetMs`, reading the clock after batches of steps
 * that double while they take under 1 ms (a clock read per step would cost as much as a fast step).
 */
export async function s5(adapter: Adapter, { expressions, timezones, timezone, budgetMs, sample }: S5Params) {
  if (adapter.cronStepper === undefined) return { na: 'no cron engine of its own' };
  const cronStepper = adapter.cronStepper.bind(adapter);
  const zones = timezones ?? [timezone ?? 'America/New_York'];
  const byZone: Record<string, Record<string, S5Entry>> = {};
  const pairs: Array<{
    zone: string;
    expression: string;
    step: (previous: number) => number | null;
    from: number;
    until: number;
    first: number[];
  }> = [];
  const failed = (zone: string, expression: string, error: unknown) => {
    (byZone[zone] as Record<string, S5Entry>)[expression] = {
      error: String((error as Error).message ?? error).split('\n')[0] as string,
    };
  };
  /** Steps `pair` from its start for `ms`, round again at the end; returns the steps and the time taken. */
  const run = (pair: (typeof pairs)[number], ms: number) => {
    const { step, from, until } = pair;
    let previous = from;
    let steps = 0;
    let batch = 1;
    const started = performance.now();
    let elapsed = 0;
    while (elapsed < ms) {
      for (let i = 0; i < batch; i++) {
        const next = step(previous);
        previous = next === null || next > until ? from : next;
      }
      steps += batch;
      const now = performance.now() - started;
      if (now - elapsed < 1 && batch < 4096) batch *= 2;
      elapsed = now;
    }
    return { steps, elapsed };
  };
  for (const zone of zones) {
    byZone[zone] = {};
    const from = zoneMidnight(zone, 2026, 1, 1);
    const until = zoneMidnight(zone, 2030, 1, 1); // the cron package refuses dates > 8 years from now
    for (const expression of expressions) {
      try {
        const step = await cronStepper(expression, zone);
        const first: number[] = [];
        let previous = from;
        const sampling = performance.now();
        for (let i = 0; i < sample && performance.now() - sampling < Math.max(budgetMs, 300); i++) {
          const next = step(previous);
          if (next === null || next > until) break;
          first.push(next);
          previous = next;
        }
        const pair = { zone, expression, step, from, until, first };
        run(pair, budgetMs / 4);
        pairs.push(pair);
      } catch (error) {
        failed(zone, expression, error);
      }
    }
  }
  let window = 0;
  for (const pair of pairs) {
    window++;
    try {
      await startWindow();
      const { steps, elapsed } = run(pair, budgetMs);
      await stopWindow(`S5-${window}`);
      (byZone[pair.zone] as Record<string, S5Entry>)[pair.expression] = {
        opsPerSec: (steps * 1000) / elapsed,
        steps,
        first: pair.first,
      };
    } catch (error) {
      failed(pair.zone, pair.expression, error);
    }
  }
  return { timezones: zones, how: adapter.cronHow, zones: byZone };
}

export interface S6Params {
  holdMs: number;
}

/** S6, long delay: a task 30 days ahead must arm correctly: no fire, no timer overflow, right next run time. */
export async function s6(adapter: Adapter, { holdMs }: S6Params, probe: TimerProbe) {
  await adapter.start();
  const at = Date.now() + 30 * 86_400_000;
  let fired = 0;
  const how = await addFarAhead(adapter, 1, at, () => {
    fired++;
  });
  const reported = await adapter.nextRun(1);
  await sleep(holdMs);
  await sleep(0);
  const overflowWarnings = probe.warnings.filter((name) => name === 'TimeoutOverflowWarning').length;
  const reportedOk = reported === undefined ? null : Math.abs(reported - at) < 1000;
  const correct = fired === 0 && overflowWarnings === 0 && probe.overflowDelays === 0 && reportedOk !== false;
  await adapter.shutdown();
  return {
    how,
    correct: correct ? 1 : 0,
    fired,
    overflowWarnings,
    overflowDelays: probe.overflowDelays,
    maxDelayMs: probe.maxDelay,
    reportedNextRun: reported === undefined ? null : new Date(reported).toISOString(),
    reportedOk,
  };
}
