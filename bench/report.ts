/** Turns the raw results of a run into the markdown of BENCHMARKS.md (medians, ratios, targets, notes). */
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { isKairosVariant, KAIROS_VARIANTS, LIBRARIES, VARIANT_LABELS } from './adapters/adapter.js';
import { cronExpression } from './lib/cron-expressions.js';
import { median } from './lib/stats.js';

type Result = Record<string, unknown>;

export interface RunData {
  mode: 'full' | 'quick';
  runs: number;
  date: string;
  machine: Machine;
  cases: Array<{
    id: string;
    scenario: string;
    title: string;
    params: Record<string, unknown>;
    libraries: string[];
    /** Runs of this case (fewer than `runs` for the cases that need one). */
    runs: number;
  }>;
  /** By case id, then library: one result per run. */
  results: Record<string, Record<string, Result[]>>;
  durationS: number;
}

export interface Machine {
  cpu: string;
  cores: number;
  node: string;
  os: string;
  memoryGiB: number;
  heapLimitMiB: number;
}

export function machineInfo(): Machine {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((candidate) => candidate.startsWith('model name'));
    if (line !== undefined) cpu = line.slice(line.indexOf(':') + 1).trim();
  } catch {
    // not Linux: keep os.cpus()'s model
  }
  return {
    cpu,
    cores: cpus().length,
    node: process.version,
    os: `${process.platform} ${release()}`,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    heapLimitMiB: Math.round(getHeapStatistics().heap_size_limit / 2 ** 20),
  };
}

interface Metric {
  label: string;
  get: (result: Result) => number | undefined;
  better: 'lower' | 'higher' | 'none';
  /** Shown instead of the number. */
  show?: (value: number, result: Result[]) => string;
  /** Shown when a library has no value: why (e.g. the peer cannot do it). */
  missing?: (result: Result) => string | undefined;
  target?: {
    text: string;
    met: (kairos: number, bestPeer: number, context: { baseline: number }) => boolean;
  };
}

const num = (key: string) => (result: Result) =>
  typeof result[key] === 'number' ? (result[key] as number) : undefined;

function metricsFor(scenario: string, params: Record<string, unknown>, data: RunData): Metric[] {
  switch (scenario) {
    case 'S1': {
      const metrics: Metric[] = [
        { label: 'add all (ms)', get: num('addMs'), better: 'lower' },
        {
          label: 'add, µs per task',
          get: num('addUsPerTask'),
          better: 'lower',
          target: { text: '≤ 0.5× best peer', met: (k, best) => k <= 0.5 * best },
        },
        {
          label: 'heap, bytes per task',
          get: num('heapBytesPerTask'),
          better: 'lower',
          target: { text: '≤ 0.5× best peer', met: (k, best) => k <= 0.5 * best },
        },
        { label: 'RSS, bytes per task', get: num('rssBytesPerTask'), better: 'lower' },
        { label: 'remove all (ms)', get: num('removeAllMs'), better: 'lower' },
      ];
      if (params.removeEach)
        metrics.push({ label: 'remove one by one (ms)', get: num('removeEachMs'), better: 'lower' });
      return metrics;
    }
    case 'S1-cron':
      return [
        { label: 'add all (ms)', get: num('addMs'), better: 'lower' },
        { label: 'add, µs per task', get: num('addUsPerTask'), better: 'lower' },
        { label: 'heap, bytes per task', get: num('heapBytesPerTask'), better: 'lower' },
        { label: 'RSS, bytes per task', get: num('rssBytesPerTask'), better: 'lower' },
        { label: 'remove all (ms)', get: num('removeAllMs'), better: 'lower' },
      ];
    case 'S2':
      return [
        {
          label: 'last fire after the due instant (ms)',
          get: num('lastFireMs'),
          better: 'lower',
          target: { text: '≤ 0.5× best peer', met: (k, best) => k <= 0.5 * best },
        },
        { label: 'lateness p50 (ms)', get: num('p50'), better: 'lower' },
        {
          label: 'lateness p99 (ms)',
          get: num('p99'),
          better: 'lower',
          target: { text: '≤ 5 ms', met: (k) => k <= 5 },
        },
        { label: `fired (of ${params.n})`, get: num('fired'), better: 'higher' },
        { label: 'fired early', get: num('early'), better: 'lower' },
        { label: 'CPU time in the burst, µs per task', get: num('cpuUsPerTask'), better: 'lower' },
      ];
    case 'S3':
      return [
        { label: 'lateness p50 (ms)', get: num('p50'), better: 'lower' },
        {
          label: 'lateness p99 (ms)',
          get: num('p99'),
          better: 'lower',
          target: { text: '≤ 2 ms', met: (k) => k <= 2 },
        },
        { label: 'lateness max (ms)', get: num('max'), better: 'lower' },
        {
          label: `drift: p50 of last ${driftEdge(params)} s − first ${driftEdge(params)} s (ms)`,
          get: num('driftP50'),
          better: 'none',
          target: { text: '≤ 1 ms (no drift)', met: (k) => k <= 1 },
        },
        { label: 'lateness trend (ms per s)', get: num('slopeMsPerS'), better: 'none' },
        {
          label: `fires missed (of ${Number(params.n) * Number(params.seconds)})`,
          get: num('missed'),
          better: 'lower',
        },
        { label: 'fired early', get: num('early'), better: 'lower' },
      ];
    case 'S4': {
      const baseline = median((data.results.S4?.none ?? []).map((r) => num('cpuMs')(r) ?? Number.NaN));
      return [
        {
          label: `CPU time during the hold (ms; node without a scheduler: ${fmt(baseline)})`,
          get: num('cpuMs'),
          better: 'lower',
          target: { text: '≈ 0: ≤ baseline + 5 ms', met: (k, _best, context) => k <= context.baseline + 5 },
        },
        {
          label: 'timer wake-ups per second',
          get: num('wakeupsPerSecond'),
          better: 'lower',
          target: { text: '0 (no polling)', met: (k) => k === 0 },
        },
        { label: 'fired (should be 0)', get: num('fired'), better: 'lower' },
      ];
    }
    case 'S5': {
      const zones = s5Zones(params);
      return zones.flatMap((zone) =>
        ((params.expressions as string[]) ?? []).map((expression) => ({
          label: `${zones.length > 1 ? `${zone}: ` : ''}\`${expression}\`, fire times per second`,
          get: (result: Result) => s5Entry(result, zone, expression)?.opsPerSec,
          better: 'higher' as const,
        })),
      );
    }
    case 'S6':
      return [
        {
          label: 'arms a 30-day timer correctly',
          get: num('correct'),
          better: 'none',
          show: (value) => (value === 1 ? '✓' : '✗'),
          target: { text: 'correct', met: (k) => k === 1 },
        },
        {
          label: 'longest setTimeout delay asked (days)',
          get: (r) => (num('maxDelayMs')(r) ?? Number.NaN) / 86_400_000,
          better: 'none',
        },
      ];
    case 'S7':
      return [
        { label: 'add, µs per task (the SQLite insert included)', get: num('addUsPerTask'), better: 'lower' },
        { label: 'shutdown with the tasks stored (ms)', get: num('shutdownMs'), better: 'lower' },
        { label: 'start-up with the tasks stored (ms)', get: num('startMs'), better: 'lower' },
        {
          label: `catch-up after ${params.downDays} days down: until each of ${params.catchUp} per-second tasks ran (ms)`,
          get: num('catchUpMs'),
          better: 'lower',
        },
        { label: 'catch-up: tasks that ran', get: num('caughtUp'), better: 'none' },
        {
          label: `catch-up: oldest fire time run, in days before the restart (${params.downDays} if replayed)`,
          get: num('oldestCatchUpRunDaysAgo'),
          better: 'none',
        },
        {
          label: `burst of ${params.burst} due tasks: runs per second`,
          get: num('runsPerSecond'),
          better: 'higher',
        },
        { label: 'burst: CPU time, µs per run', get: num('cpuUsPerRun'), better: 'lower' },
        {
          label: 'burst, history on: until every run record is stored (ms)',
          get: num('historyStoredMs'),
          better: 'lower',
        },
        { label: 'burst, history on: run records stored', get: num('historyRecords'), better: 'none' },
      ];
    case 'S8': {
      const wakeupNa = (r: Result) => (typeof r.wakeupNa === 'string' ? r.wakeupNa : undefined);
      const steady = `${params.steadyTasks} tasks every ${params.steadyEveryMs} ms for ${params.steadySeconds} s`;
      return [
        {
          label: `burst of ${params.burst} due at once: runs per second through one database`,
          get: num('runsPerSecond'),
          better: 'higher',
          target: { text: '≥ 10,000 runs/s', met: (k) => k >= 10_000 },
        },
        { label: 'burst: last run start after the due instant (ms)', get: num('burstMs'), better: 'lower' },
        { label: `burst: tasks run (of ${params.burst})`, get: num('burstRuns'), better: 'higher' },
        {
          label: 'burst: duplicate runs of a (task, time)',
          get: num('burstDuplicates'),
          better: 'lower',
          target: { text: '0', met: (k) => k === 0 },
        },
        {
          label: 'wake-up delay p50: add on another process → run start (ms)',
          get: num('wakeupP50'),
          better: 'lower',
          missing: wakeupNa,
        },
        {
          label: 'wake-up delay p99 (ms)',
          get: num('wakeupP99'),
          better: 'lower',
          missing: wakeupNa,
          target: { text: '≤ 50 ms', met: (k) => k <= 50 },
        },
        { label: 'wake-up delay max (ms)', get: num('wakeupMax'), better: 'lower', missing: wakeupNa },
        {
          label: `steady (${steady}): runs per second offered`,
          get: num('steadyOfferedPerSecond'),
          better: 'none',
        },
        { label: 'steady: runs per second done', get: num('steadyDonePerSecond'), better: 'higher' },
        { label: 'steady: lateness p50 (ms)', get: num('steadyP50'), better: 'lower' },
        { label: 'steady: lateness p99 (ms)', get: num('steadyP99'), better: 'lower' },
        { label: 'steady: duplicate runs', get: num('steadyDuplicates'), better: 'lower' },
      ];
    }
    case 'S9': {
      const due = Number(params.due);
      return [
        {
          label: `start() → first due task submitted (ms)`,
          get: num('firstSubmittedMs'),
          better: 'lower',
          target: { text: '≤ 100 ms', met: (k) => k <= 100 },
        },
        {
          label: `start() → ${fmt(due)}th due task submitted (ms)`,
          get: num('lastSubmittedMs'),
          better: 'lower',
        },
        { label: 'start() resolved (ms)', get: num('startMs'), better: 'lower' },
        {
          label: 'process start → first due task submitted (ms; Node and module loading included)',
          get: num('firstSubmittedSinceProcessStartMs'),
          better: 'lower',
        },
        { label: `due tasks submitted (of ${fmt(due)})`, get: num('submitted'), better: 'higher' },
        { label: 'tasks submitted that were not due', get: num('submittedNotDue'), better: 'lower' },
        { label: 'store alone: store.start(), opening the file (ms)', get: num('openMs'), better: 'lower' },
        {
          label: `store alone: acquireDueTasks hands out the ${fmt(due)} due tasks, cold (ms)`,
          get: num('acquireMs'),
          better: 'lower',
          target: { text: '≤ 50 ms', met: (k) => k <= 50 },
        },
        { label: 'store alone: the same again, warm (ms)', get: num('acquireWarmMs'), better: 'lower' },
        {
          label: 'setup, not measured: writing the file, µs per task',
          get: num('populateUsPerTask'),
          better: 'none',
        },
      ];
    }
    default:
      return [];
  }
}

/** The zones of an S5 case (one, `timezone`, in runs made before S5 had several). */
function s5Zones(params: Record<string, unknown>): string[] {
  if (Array.isArray(params.timezones)) return params.timezones as string[];
  return typeof params.timezone === 'string' ? [params.timezone] : [];
}

/** One (zone, expression) of an S5 result (`zones`, or `expressions` in runs made before S5 had several zones). */
function s5Entry(
  result: Result,
  zone: string,
  expression: string,
): { opsPerSec?: number; first?: number[] } | undefined {
  type Entries = Record<string, { opsPerSec?: number; first?: number[] }>;
  const zones = result.zones as Record<string, Entries> | undefined;
  if (zones !== undefined) return zones[zone]?.[expression];
  return result.timezone === zone ? (result.expressions as Entries | undefined)?.[expression] : undefined;
}

/** Cases of kairos alone: no peer columns, no "kairos ÷ best peer". */
const KAIROS_ONLY = new Set(['S7', 'S9']);

/**
 * What run history costs on a metric: kairos' median (history on) against kairos-nohistory's, as the extra time
 * per unit with history on: on ÷ off − 1 for times, off ÷ on − 1 for counts per second; '' for the others.
 */
function historyCost(metric: Metric, on: number | undefined, off: number | undefined): string {
  if (on === undefined || off === undefined || metric.better === 'none') return '';
  const [numerator, denominator] = metric.better === 'lower' ? [on, off] : [off, on];
  if (denominator === 0) return numerator === 0 ? '–' : '';
  const percent = (numerator / denominator - 1) * 100;
  return `${percent >= 0 ? '+' : '−'}${fmt(Math.abs(percent))} %`;
}

function driftEdge(params: Record<string, unknown>): number {
  return Math.max(1, Math.min(2, Math.floor(Number(params.seconds) / 3)));
}

/** Three significant digits, thousands separated; '–' for NaN. */
export function fmt(value: number): string {
  if (!Number.isFinite(value)) return '–';
  if (Number.isInteger(value)) return value.toLocaleString('en');
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1 || abs === 0) return value.toFixed(2);
  return value.toPrecision(2);
}

const PEERS = LIBRARIES.filter((name) => name !== 'kairos');

export function renderReport(data: RunData): string {
  const lines: string[] = [];
  const notes: string[] = [];
  const targets: Array<{ what: string; target: string; kairos: string; ratio: string; met: boolean | null }> =
    [];
  const { machine } = data;

  lines.push('# Benchmarks: kairos against the Node schedulers', '');
  lines.push(
    '> Generated by `npm run bench` (bench/run.ts); do not edit by hand: re-run it. ' +
      '`npm run bench -- --quick` is a smoke run with smaller sizes that writes only bench/results/latest.md.',
    '',
  );
  lines.push(
    `**Run:** ${data.date.slice(0, 16).replace('T', ' ')} UTC, ${data.mode} mode, median of ${data.runs} run(s) ` +
      `per case unless its heading says otherwise, ${Math.round(data.durationS)} s in all.  `,
    `**Machine:** ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB RAM (V8 heap limit ${machine.heapLimitMiB} MiB), ${machine.os}, Node ${machine.node}.  `,
    `**Versions:** ${versions(data)}.`,
    '',
  );
  lines.push('## Results', '');
  lines.push(
    'Each cell is the median over the runs of one fresh child process per library and run. ' +
      '"kairos ÷ best peer" divides kairos\' median by the best peer\'s (lower is better for times, bytes and ' +
      'lateness; higher for counts per second). N/A: the library has no such feature. ' +
      '"kairos (history off)" is kairos with `history: false` (S2, S7); "cost of history" is the extra time with ' +
      'history on, the default: kairos ÷ kairos (history off) − 1 for times, the inverse for counts per second.',
    '',
  );

  for (const testCase of data.cases) {
    const byLibrary = data.results[testCase.id] ?? {};
    if (Object.keys(byLibrary).length === 0) continue;
    const variants = KAIROS_VARIANTS.filter((variant) => testCase.libraries.includes(variant));
    const shownLibraries = (
      KAIROS_ONLY.has(testCase.scenario)
        ? ['kairos']
        : testCase.scenario === 'S8'
          ? ['kairos', 'croner']
          : [...LIBRARIES]
    ).flatMap((library) => (library === 'kairos' ? [library, ...variants] : [library]));
    const historyOff = variants.includes('kairos-nohistory');
    const runsNote =
      testCase.runs === data.runs
        ? ''
        : testCase.runs === 1
          ? ' (one run)'
          : ` (median of ${testCase.runs} runs)`;
    lines.push(`### ${testCase.title}${runsNote}`, '');
    const kairosResults = byLibrary.kairos ?? [];
    const skipped = kairosResults.find((r) => typeof r.skipped === 'string');
    if (skipped !== undefined) {
      lines.push(`skipped: ${String(skipped.skipped)}`, '');
      continue;
    }
    const header = [
      'metric',
      ...shownLibraries.map((library) => (isKairosVariant(library) ? VARIANT_LABELS[library] : library)),
      ...(KAIROS_ONLY.has(testCase.scenario) ? [] : ['kairos ÷ best peer']),
      ...(historyOff ? ['cost of history (on vs off)'] : []),
      'target',
      'met',
    ];
    lines.push(
      `| ${header.join(' | ')} |`,
      `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    );
    const baseline = median((data.results.S4?.none ?? []).map((r) => num('cpuMs')(r) ?? Number.NaN));
    for (const metric of metricsFor(testCase.scenario, testCase.params, data)) {
      const medians = new Map<string, number>();
      const cells: string[] = [];
      for (const library of shownLibraries) {
        const results = byLibrary[library];
        if (!testCase.libraries.includes(library) || results === undefined) {
          cells.push('N/A');
          continue;
        }
        const na = results.find((r) => typeof r.na === 'string');
        if (na !== undefined) {
          cells.push('N/A');
          continue;
        }
        const values = results.map((r) => metric.get(r) ?? Number.NaN);
        const value = median(values);
        if (!Number.isFinite(value)) {
          const errored = results.find((r) => typeof r.error === 'string');
          const error = String(errored?.error ?? '');
          const why = results.map((r) => metric.missing?.(r)).find((text) => text !== undefined);
          cells.push(
            errored === undefined
              ? (why ?? '–')
              : error.includes('out of memory')
                ? 'out of memory'
                : error.startsWith('timeout')
                  ? 'timeout'
                  : 'error',
          );
          continue;
        }
        medians.set(library, value);
        cells.push(metric.show ? metric.show(value, results) : fmt(value));
      }
      const kairos = medians.get('kairos');
      const peerValues = PEERS.map((peer) => medians.get(peer)).filter((v): v is number => v !== undefined);
      let best = Number.NaN;
      if (metric.better !== 'none' && peerValues.length > 0) {
        best = metric.better === 'lower' ? Math.min(...peerValues) : Math.max(...peerValues);
      }
      let ratio = '';
      if (kairos !== undefined && Number.isFinite(best) && metric.better !== 'none') {
        ratio = best === 0 ? (kairos === 0 ? '–' : '∞') : `${fmt(kairos / best)}×`;
      }
      let met: boolean | null = null;
      if (metric.target !== undefined && kairos !== undefined) {
        met = metric.target.met(kairos, best, { baseline: Number.isFinite(baseline) ? baseline : 0 });
        if (metric.target.text.includes('best peer') && !Number.isFinite(best)) met = null;
      }
      const row = [metric.label, ...cells];
      if (!KAIROS_ONLY.has(testCase.scenario)) row.push(ratio);
      if (historyOff) row.push(historyCost(metric, kairos, medians.get('kairos-nohistory')));
      row.push(metric.target?.text ?? '', met === null ? '' : met ? '✓' : '✗');
      lines.push(`| ${row.join(' | ')} |`);
      if (metric.target !== undefined) {
        targets.push({
          what: `${testCase.id}: ${metric.label}`,
          target: metric.target.text,
          kairos: kairos === undefined ? 'error' : metric.show ? metric.show(kairos, []) : fmt(kairos),
          ratio,
          met,
        });
      }
    }
    lines.push('');
    for (const [library, results] of Object.entries(byLibrary)) {
      const errors = [
        ...new Set(results.filter((r) => typeof r.error === 'string').map((r) => String(r.error))),
      ];
      for (const error of errors) {
        notes.push(
          `${testCase.id}, ${library}: ${(error.split(' | ')[0] ?? error).replace(/^Error: /, '').slice(0, 300)}`,
        );
      }
    }
    caseNotes(testCase, byLibrary, lines);
  }

  lines.push('## Targets', '');
  lines.push('| target | kairos | kairos ÷ best peer | met |', '|---|---:|---:|:---:|');
  for (const t of targets)
    lines.push(
      `| ${t.what}: ${t.target} | ${t.kairos} | ${t.ratio} | ${t.met === null ? '–' : t.met ? '✓' : '✗'} |`,
    );
  lines.push('');
  if (notes.length > 0) {
    lines.push('Errors in this run:', '', ...notes.map((note) => `- ${note}`), '');
  }
  lines.push(EXPLANATION);
  return `${lines.join('\n')}\n`;
}

function versions(data: RunData): string {
  const seen = new Map<string, string>();
  for (const byLibrary of Object.values(data.results)) {
    for (const [library, results] of Object.entries(byLibrary)) {
      for (const result of results) if (typeof result.version === 'string') seen.set(library, result.version);
    }
  }
  if (seen.size === 0) return LIBRARIES.join(', ');
  return [...LIBRARIES].map((library) => `${library} ${seen.get(library) ?? '?'}`).join(', ');
}

/** Where two sequences differ (as far as both go): how often and first where; null if they agree. */
function compareSequences(
  reference: readonly number[],
  other: readonly number[],
): { differ: number; at: number; length: number } | null {
  const length = Math.min(reference.length, other.length);
  let differ = 0;
  let at = -1;
  for (let i = 0; i < length; i++) {
    if (reference[i] !== other[i] && !(Number.isNaN(reference[i]) && Number.isNaN(other[i]))) {
      differ++;
      if (at < 0) at = i;
    }
  }
  return differ === 0 ? null : { differ, at, length };
}

/** Per-case footnotes: how a library was driven where it differs, S5 agreement, S6 details. */
function caseNotes(
  testCase: RunData['cases'][number],
  byLibrary: Record<string, Result[]>,
  lines: string[],
): void {
  const out: string[] = [];
  if (testCase.scenario === 'S1') {
    const how = Object.entries(byLibrary)
      .map(
        ([library, results]) =>
          [library, results.find((r) => typeof r.removeAllHow === 'string')?.removeAllHow] as const,
      )
      .filter(([, value]) => value !== undefined)
      .map(([library, value]) => `${library}: ${value}`);
    if (how.length > 0) out.push(`Remove all: ${how.join('; ')}.`);
    const cronerHeap = median((byLibrary.croner ?? []).map((r) => num('heapBytesPerTask')(r) ?? Number.NaN));
    if (cronerHeap > 50_000) {
      out.push(
        `croner needs ~${fmt(cronerHeap / 1000)} KB per one-shot job (each parsed pattern holds two 10,000-entry year ` +
          'arrays), so 100,000 jobs exhaust the default V8 heap.',
      );
    }
  }
  if (['S1', 'S2', 'S4', 'S6'].includes(testCase.scenario)) {
    const toad = byLibrary['toad-scheduler']?.find(
      (r) => typeof r.onceHow === 'string' || typeof r.how === 'string',
    );
    if (toad !== undefined && typeof toad.onceHow !== 'string' && toad.how === 'interval job') {
      // A run made before toad-scheduler had its one-shot: an interval job, not stopped after its first run.
      out.push(
        'toad-scheduler has no one-shot task: it runs an interval job whose first run is at that time.',
      );
    } else if (toad !== undefined) {
      out.push(
        `toad-scheduler has no one-shot task: its one-shot is the one its users build, ${String(toad.onceHow ?? toad.how)}.`,
      );
    }
  }
  if (testCase.scenario === 'S6') {
    for (const [library, results] of Object.entries(byLibrary)) {
      const r = results[0];
      if (r === undefined || typeof r.error === 'string') continue;
      const parts = [
        `fired ${r.fired}`,
        `overflow warnings ${r.overflowWarnings}`,
        `setTimeout delays > 2^31−1 ms: ${r.overflowDelays}`,
        `own next run: ${r.reportedNextRun ?? 'not exposed'}${r.reportedOk === false ? ' (wrong)' : ''}`,
      ];
      out.push(`${library}: ${parts.join(', ')}.`);
    }
  }
  if (testCase.scenario === 'S5') {
    const expressions = (testCase.params.expressions as string[]) ?? [];
    const zones = s5Zones(testCase.params);
    const first = byLibrary.kairos?.[0];
    const budget = Number(testCase.params.budgetMs);
    const hows = Object.entries(byLibrary)
      .map(([library, results]) => [library, results.find((r) => typeof r.how === 'string')?.how] as const)
      .filter(([, how]) => how !== undefined)
      .map(([library, how]) => `${library}: ${how}`);
    out.push(
      `Stepping from 2026-01-01 00:00 on the wall clock of ${zones.length > 1 ? 'each zone' : zones[0]} to 2030 and ` +
        `round again${Number.isFinite(budget) ? `, for ${fmt(budget)} ms per ${zones.length > 1 ? '(zone, expression)' : 'expression'}` : ''}. ` +
        `APIs: ${hows.join('; ')}.`,
    );
    for (const zone of zones) {
      for (const expression of expressions) {
        const reference = first === undefined ? undefined : s5Entry(first, zone, expression)?.first;
        if (reference === undefined) continue;
        for (const peer of PEERS) {
          const result = byLibrary[peer]?.[0];
          const other = result === undefined ? undefined : s5Entry(result, zone, expression)?.first;
          if (other === undefined) continue;
          const diff = compareSequences(reference, other);
          if (diff === null) continue;
          const show = (value: number | undefined) =>
            value === undefined ? 'none' : new Date(value).toISOString().slice(0, 16);
          out.push(
            `${zones.length > 1 ? `${zone}, ` : ''}\`${expression}\`: ${peer} differs from kairos in ${diff.differ} of the first ${diff.length} ` +
              `fire times compared; first at #${diff.at + 1}: kairos ${show(reference[diff.at])}Z, ${peer} ${show(other[diff.at])}Z.`,
          );
        }
      }
    }
  }
  if (testCase.scenario === 'S1-cron') {
    const how = Object.entries(byLibrary)
      .map(
        ([library, results]) =>
          [library, results.find((r) => typeof r.removeAllHow === 'string')?.removeAllHow] as const,
      )
      .filter(([, value]) => value !== undefined)
      .map(([library, value]) => `${library}: ${value}`);
    if (how.length > 0) out.push(`Remove all: ${how.join('; ')}.`);
    const nextRuns = (library: string) => {
      const value = byLibrary[library]?.find((r) => Array.isArray(r.nextRuns))?.nextRuns as
        | Array<number | null>
        | undefined;
      return value?.map((at) => at ?? Number.NaN);
    };
    const reference = nextRuns('kairos');
    for (const peer of PEERS) {
      const other = nextRuns(peer);
      if (reference === undefined || other === undefined) continue;
      const diff = compareSequences(reference, other);
      if (diff === null) continue;
      const show = (value: number | undefined) =>
        value === undefined || !Number.isFinite(value)
          ? 'none'
          : `${new Date(value).toISOString().slice(0, 16)}Z`;
      out.push(
        `Next run time of the first ${diff.length} tasks: ${peer} differs from kairos for ${diff.differ}; first task ` +
          `${diff.at} (\`${String(cronExpression(diff.at))}\`): kairos ${show(reference[diff.at])}, ${peer} ${show(other[diff.at])}.`,
      );
    }
  }
  if (testCase.scenario === 'S9') {
    const r = byLibrary.kairos?.[0];
    const repeats = Array.isArray(r?.repeats) ? (r.repeats as Result[]) : [];
    if (repeats.length > 1) {
      const each = (key: string) => repeats.map((repeat) => fmt(num(key)(repeat) ?? Number.NaN)).join(' / ');
      out.push(
        `Medians of ${repeats.length} measurements, each a fresh process on a fresh copy of the file. Each one: ` +
          `start() → first ${each('firstSubmittedMs')} ms, → ${fmt(Number(r?.due))}th ${each('lastSubmittedMs')} ms; ` +
          `acquireDueTasks cold ${each('acquireMs')} ms, warm ${each('acquireWarmMs')} ms.`,
      );
    }
  }
  if (testCase.scenario === 'S8') {
    for (const [library, results] of Object.entries(byLibrary)) {
      const r = results[0];
      if (r === undefined || typeof r.error === 'string' || typeof r.skipped === 'string') continue;
      const split = (key: string) => (Array.isArray(r[key]) ? (r[key] as number[]).join(' / ') : '?');
      const cpu = (key: string) => {
        const c = r[key] as Record<string, number | string> | undefined;
        if (c === undefined) return '?';
        const cores = Number(r.cores) * Number(c.wallS);
        return (
          `the ${r.workers} processes ${fmt(Number(c.workersCpuS))} s, their PostgreSQL backends ` +
          `${fmt(Number(c.postgresFleetCpuS))} s, the whole machine ${fmt(Number(c.machineBusyCpuS))} of ${fmt(cores)} core-s (load ${c.load})`
        );
      };
      const how =
        library === 'croner'
          ? `one croner job per task in each process, one \`INSERT … ON CONFLICT DO NOTHING\` per fire (${fmt(Number(r.burstFires))} in the burst); steady on croner's 1 s grid, ${r.steadyTasks} jobs \`* * * * * *\` per process`
          : `steady: ${r.steadyTasks} interval tasks every ${r.steadyEveryMs} ms`;
      out.push(
        `${library}: ${how}. Runs per process: burst ${split('burstSplit')}` +
          `${r.wakeupSplit === undefined ? '' : `, wake-up ${split('wakeupSplit')}`}, steady ${split('steadySplit')}. ` +
          `CPU in the burst: ${cpu('burstCpu')}; in the steady window: ${cpu('steadyCpu')}.` +
          (typeof r.steadyBacklog === 'number' && r.steadyBacklog > 0
            ? ` Fires whose INSERT had not come back 1.5 s after the steady window: ${fmt(r.steadyBacklog)}.`
            : ''),
      );
    }
  }
  if (out.length > 0) lines.push(...out.map((line) => `- ${line}`), '');
}

const EXPLANATION = `## Where kairos loses, and what bounds it

- **S2 burst (last fire ≤ toad-scheduler's: not met).** Every kairos run starts inside the wake-up with no
  promise hop: a run slot counted in the scheduler (a non-shared store), the task called synchronously through
  the executor in its \`currentRun()\` context, its next run time computed by the same trigger call that planned
  it, and events built only when someone listens. Measured on this machine (the burst alone, median of 9 fresh
  processes): last fire 87 ms with history on, 67 ms with it off; the fourth burst of the same process, warm,
  30–45 ms on and 20 ms off, against toad-scheduler's 40–45 ms in a fresh process. What a fresh process adds is
  V8: the 10,000 runs of one burst execute in the interpreter and baseline tiers until the run path is
  optimised (\`--trace-opt\`: during the burst), about 5–7 µs a run against 2 µs warm; and run history keeps one
  record per run until it is written after the burst, which young-generation collections copy (+15–20 ms; off:
  \`history: false\`). toad-scheduler's runs are Node's own timer callbacks, compiled once for every timer. p99 ≤
  5 ms for 10,000 due at once cannot be met by any serial dispatcher: the 9,900th run starts at least 9,900 × the
  cost of a run after the first.
- **S3 steady precision (p99 ≤ toad-scheduler's: not met; p50 and drift met).** Node's \`setTimeout\` fires
  1–2.5 ms late, so kairos sets its timer 2 ms early and waits the rest in event-loop turns: the first run of each
  second starts 0.4–2 ms late. The p99 over the 10 s window is set by the first seconds of a fresh process:
  dispatching one second's 1,000 runs takes 7–27 ms in seconds 1–7 and 2 ms from the 8th on (timed inside the
  wake-up), as V8 optimises the run path over the first few thousand runs (\`--trace-opt\`: seconds 1–4); from
  the 8th second on, kairos' per-second p99 is 1.3–2.4 ms against toad-scheduler's 5–10 ms, whose timers cost
  the same from the first second and drift later (its p50 rises 2–3 ms over the window). p99 ≤ 2 ms with 1,000
  runs due in the same millisecond would need each run to start in under 2 µs from cold.
- **S1 against toad-scheduler (add: about even; remove one by one: not met).** A plain task added to or removed
  from an idle \`MemoryStore\` is now done before \`addTask\`/\`removeTask\` returns (no promise round trips; each
  task knows its place in the due heap, so a removal takes it out in O(log n) and leaves nothing stale), and an add
  validates its options once, builds the stored record and the returned \`Task\` snapshot. Removing 10,000 one by
  one went from 37–42 ms to 22–28 ms (croner and toad-scheduler: 11–15 ms); what is left is the first thousand calls, interpreted (3–5 ms), a
  young-generation collection in the window that copies the 10,000 tasks just added (5–9 ms), and the await of
  an async API (~0.4 µs a call) that a synchronous \`job.stop()\` or \`removeById\` does not pay. kairos holds
  30–35 % less heap per task than toad-scheduler and removes all tasks faster.
- **S9 SQLite cold start: the read of 1,000 due cron tasks (≤ 50 ms) is not met; the first dispatch (≤ 100 ms) is.**
  A wake-up of a persistent store reads 64 due tasks first and four times more each query after, so the first
  runs start after a few dozen stored tasks are rebuilt. cron-parser now parses each distinct field once (a field
  cache; 1,000 distinct expressions share about 100 fields), which took the cold read from 245 ms to 130–160 ms.
  Timed inside the store, the rest is reading and rebuilding the 1,000 rows (80 ms cold, 18 ms warm), the lease
  statement (9 ms) and SQLite's commit of the 1,000 leased rows, which lie on about 1,000 different pages of the
  31 MB file (25 ms warm, 45 ms cold): the same read in a warm process takes 48–58 ms. Reaching 50 ms cold needs
  the leases out of the task rows (a lease table: a schema change), left for a later round.
- **S7 SQLite burst (no target).** The run slots claimed and freed in one tick go through one transaction
  (they used to cost two write transactions per run); what is left per run is the slot rows themselves and
  the task lease rows of each batch of 2,048.

## What the numbers mean

- **S1 schedule cost.** One child adds *n* one-shot tasks due an hour ahead (each 1 ms after the previous one,
  so none fires), with each library's one-shot API (kairos \`addTask(fn, { trigger: new DateTrigger(at), id })\`, awaited
  one by one; node-schedule \`scheduleJob(date, fn)\`; croner \`new Cron(date, fn)\`; cron \`CronJob.from({ cronTime: date,
  start: true })\`; toad-scheduler, which has no one-shot task, the one its users build: a \`SimpleIntervalJob\` whose
  interval is the delay until the due time and whose task stops it after its first run with
  \`scheduler.removeById(id)\`). *µs per task* is the wall time of the loop divided by *n*; *bytes per task* is the growth of the
  V8 heap (\`heapUsed\`) and of the resident set after two forced GCs (\`--expose-gc\`), divided by *n*: the memory a
  pending task costs. *Remove all* empties the scheduler in the library's own way (footnote); *one by one* removes
  each task by its handle or id (toad-scheduler: \`removeById\`, which stops the job's timer and unregisters it,
  but leaves it in its engine's list of jobs, which toad-scheduler 4 never shortens).
- **S1-cron schedule cost of cron tasks.** As S1, with *n* cron tasks in America/New_York, each with its own
  expression: no two alike (\`m h * M d\`, \`m h D * *\` and \`m h D M *\` in turn, minute and hour counting up:
  bench/lib/cron-expressions.ts), so that no library can share one parsed pattern between tasks. Each library's
  own cron jobs: kairos \`addTask(fn, { trigger: new CronTrigger(expr, { timezone }), id })\` on its MemoryStore;
  node-schedule \`scheduleJob({ rule: expr, tz }, fn)\`; croner \`new Cron(expr, { timezone }, fn)\`; cron
  \`CronJob.from({ cronTime: expr, onTick, start: true, timeZone })\`. toad-scheduler's cron jobs are croner's: N/A.
  The footnote lists where a peer's next run time of the first tasks differs from kairos'.
- **S2 burst.** *n* one-shot tasks are all due at one instant, set just far enough ahead to add them all (a pilot
  of *n*/10 adds, then removed, sizes the lead). Lateness is the
  moment the task function is called (a sub-millisecond clock on \`Date.now()\`'s timeline) minus that instant;
  *last fire* is the lateness of the last of the *n*: how long the burst takes to drain. *Fired early* counts calls
  made while \`Date.now()\` was still before the due instant (must be 0). *CPU time* is the process's
  (\`process.cpuUsage()\`, all threads) from ~300 ms before the instant to the last fire, ÷ *n*: less
  sensitive than lateness to other work on the machine. toad-scheduler's one-shot is the self-stopping interval
  job of S1. kairos runs it twice: with run history on (the
  default: each run's record buffered and appended to the memory store in batches) and off (\`history: false\`).
- **S3 steady precision.** *n* tasks each fire every second (kairos \`IntervalTrigger({ seconds: 1 })\` on whole
  seconds; node-schedule, croner and cron a \`* * * * * *\` cron job; toad-scheduler \`SimpleIntervalJob({ seconds: 1 })\`,
  whose grid starts when the job is added). Every fire is matched to the grid instant at or before it (a fire up
  to 50 ms before an instant counts as an early fire of that instant); the fires of the instants within a window of
  whole seconds count, with lateness as in S2. *Drift* is the median lateness in the last seconds of the window minus that in
  the first: a scheduler that re-arms from the time its callback ran (setInterval) accumulates lateness here, and the
  *trend* is the least-squares slope of lateness over the window. Missed fires count grid instants with no call.
- **S4 idle.** *n* tasks due tomorrow, then the process holds still: \`process.cpuUsage()\` over the hold, and the
  number of timer callbacks that ran (setTimeout and setInterval are wrapped before the library loads). A scheduler
  that polls shows both; one that sleeps on one timer until the earliest task shows neither. The baseline is the same
  child process with no scheduler loaded.
- **S5 next fire time.** Each library's own cron engine computes the fire time after the previous one, again and
  again, for a few expressions in three zones: America/New_York (one-hour DST changes at 02:00),
  Australia/Lord_Howe (half-hour DST changes at 02:00) and Asia/Tokyo (no DST), from 2026-01-01 00:00 on each
  zone's wall clock; the figure is fire times computed per second, single-threaded, over 100 ms of stepping per
  (zone, expression) (300 ms when S5 had New York alone), after an untimed warm-up of every pair (its first 200 fire
  times, compared below, and a quarter of the budget of stepping), so that the first pairs timed do not pay for
  the JIT of all; the clock is read after batches of steps (doubling while a batch takes under 1 ms), not per step. The footnotes list where a peer's fire times differ from kairos' (DST rules differ:
  kairos shifts a time skipped by spring-forward by the gap and fires once on fall-back, as documented).
- **S6 long delay.** One task 30 days ahead (beyond setTimeout's 2^31−1 ms ≈ 24.8 days). No fake clock: the child
  watches for ~2 s that nothing fires, that no \`TimeoutOverflowWarning\` is emitted, that the library never asks
  setTimeout for more than 2^31−1 ms (Node would clamp it to 1 ms and fire at once), and, where the library reports a
  next run time, that it is the right one. Correct only if all hold.
- **S7 SQLite store** (kairos only: the peers have no persistent store; with run history on, the default, whose
  records go to the SQLite file in batches, and off, \`history: false\`). *n* tasks due tomorrow are
  added one by one to a \`SQLiteStore\` file in the OS temp dir by a paused scheduler (*add*: µs per task, of
  which an autocommit SQLite insert on this disk is most), with the catch-up tasks: interval tasks every second
  whose stored next run time is 30 days in the past (2.6 million missed fire times each). That scheduler
  shuts down (timed). A new scheduler's \`start()\` is timed (*start-up*), and *catch-up* is the time from
  \`start()\` until each catch-up task has run; coalescing makes that one run each, for a fire time within the
  last second (the *oldest fire time run* shows it), not millions. Then, paused, a burst of tasks due now is
  added; \`resume()\`; *runs per second* from then until the last of them has run (and the process's CPU
  time over that span, per run); with history on, then the time from \`resume()\` until every run's record
  is in the file (\`getRuns\` writes what is buffered), and how many are.

- **S8 PostgreSQL fleet** (kairos, and croner as its users would do it; one run). Three scheduler processes (real
  child processes) share one schema of their own (\`kbench_<random>\`, dropped at the end) of the server at
  \`KAIROS_PG_URL\` (default \`postgres://postgres@127.0.0.1:5432/test\`; skipped if unreachable), each with
  \`new PostgresStore({ connectionString, schema })\`. *Burst*: the fleet paused, *n* tasks due at one instant are
  added by a paused scheduler in the parent; every process resumes at the same instant (its own timer); *runs per
  second* is *n* ÷ the time from then to the last run's start; every (task, scheduled time) must run once
  (*duplicates* counts the extra runs). *Wake-up delay*: the fleet running and idle, the parent's paused scheduler
  adds a task due now, 50 ms apart; from the start of \`addTask\` to the run's start in whichever process ran it
  (one machine, one clock). *Steady*: interval tasks, the task defaults (coalesce, 1 s grace); the runs of the
  window done of those offered, and their lateness. croner has no shared store: each process runs one croner job
  per task, and at each fire the process whose \`INSERT … ON CONFLICT DO NOTHING\` into a runs table keyed by
  (task, scheduled time) went in runs it; its steady load is the same runs per second on its finest grid (1 s); a
  task added in one process is unknown to the others, so it has no wake-up delay to measure. The notes give the
  CPU used by the processes, by their PostgreSQL backends and by the whole machine: on a small machine the database
  and the fleet share the cores.

- **S9 SQLite cold start** ("S8-sqlite" in issue #18; kairos only, one run of the case). Not measured: a paused
  scheduler writes *n* cron tasks (distinct expressions, as S1-cron's, in America/New_York) to a \`SQLiteStore\`
  file in the OS temp dir; 1,000 of them (every *n*/1,000-th) get a next run time a minute in the past and no
  misfire grace time, so that they are due when the next scheduler starts. The file is copied, and each copy is
  opened by a fresh \`node\` process (bench/s9-worker.ts, modules loaded before the clock starts):
  *store alone*: \`store.start()\` (opening the file: better-sqlite3 is loaded then), and one
  \`acquireDueTasks({ limit: 1000 })\`: the due rows read through the index and leased, each task's
  \`CronTrigger\` rebuilt from its stored JSON (cold; then the same tasks handed back due and handed out again,
  warm). *start()*: a scheduler over the other copy, with history on (the default); the time from calling
  \`scheduler.start()\` to the first \`task:submitted\` of a due task (the first dispatch) and to the 1,000th, and
  to \`start()\` resolving. *Process start* counts from the process's own start instead (Node and the module
  loading included). The OS page cache holds the file (just written): a first start after a reboot reads it
  from disk too. Medians of 3 such pairs of processes (1 with \`--quick\`, which stores 10,000 tasks).

## How it runs

\`npm run bench\` (about 7 minutes on the machine above) compiles src/, stores/ and bench/ with TypeScript's own
emitter (bench/build.ts: what \`npm run build\` ships, so kairos is measured as its users run it, not through tsx)
into bench/results/build/, then runs every (case, library, run) as a fresh \`node --expose-gc\` child process, one
at a time, each killed after its case's timeout (bench/config.ts holds the sizes and timeouts). A library that
crashes or times out in a case is not run again for that case. The medians go into this file (a full run only) and
into bench/results/latest.md; every raw result is in bench/results/latest.json. Nothing is installed at run time:
the peers are devDependencies.

- \`npm run bench -- --quick\`: smaller sizes, one run, under a minute (a smoke run for CI); writes only
  bench/results/latest.md.
- \`--runs N\`, \`--only S2,S3\` (or a case id such as \`S1-100k\`), \`--libs kairos,croner\` (kairos brings its
  history-off variant, \`kairos-nohistory\`, along): partial runs, which do not rewrite this file.
- \`npx tsx bench/profile.ts S2\` (any scenario, optional params JSON, \`--lib\`): a V8 CPU profile of one child,
  printed by function and source line of the TypeScript (the measured windows only: S1's loops, S2's burst,
  S3's window, S5's stepping, S7's burst; \`--whole\` for the whole process); \`--lib kairos-nohistory\` for
  history off.

Limits: one machine, one run of medians; timer lateness depends on the load of the machine at the time, and sub-ms
figures are near the resolution of Node timers (1 ms). Each library runs in a fresh process, one at a time, so no
run disturbs another. Sizes are fixed in bench/config.ts; every child is killed after its case's timeout.
`;
