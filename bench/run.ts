/**
 * `npm run bench`: kairos against node-schedule, croner, toad-scheduler and cron, side by side in one run.
 *
 * src/, stores/ and bench/ are first compiled with TypeScript's emitter (bench/build.ts; what users get from
 * `npm run build`) into bench/results/build/. Every (case, library, run) is then a fresh child process
 * (`node --expose-gc bench/results/build/bench/child.js <scenario> <library> <params>`), run one after
 * another (never two at once), killed after the case's timeout. The medians of the runs go into
 * a table: bench/results/latest.md and .json always, and BENCHMARKS.md after a full run of every case.
 *
 * Flags:
 *   --quick          smaller sizes, one run: a smoke run in well under a minute (for CI)
 *   --runs N         runs per case (default 3; --quick: 1)
 *   --only S2,S3     only these scenarios (or case ids such as S1-100k); does not rewrite BENCHMARKS.md
 *   --libs a,b       only these libraries (kairos includes its variants, e.g. kairos-nohistory: history off in
 *                    S2 and S7); does not rewrite BENCHMARKS.md
 *   --profile        also write a V8 CPU profile of each kairos child to bench/results/profiles/
 *   --no-write       do not rewrite BENCHMARKS.md even after a full run
 *   --report         run nothing: re-render the report from bench/results/latest.json
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { isKairosVariant } from './adapters/adapter.js';
import { buildForBench } from './build.js';
import { type Case, cases } from './config.js';
import { machineInfo, type RunData, renderReport } from './report.js';

const RESULT_MARK = '@@RESULT ';

/** The V8 heap limit of a child (the default of this machine). */
function heapLimitMiB(): number {
  return Math.round(getHeapStatistics().heap_size_limit / 2 ** 20);
}
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const resultsDir = join(root, 'bench', 'results');

interface Options {
  quick: boolean;
  runs: number;
  only: string[] | null;
  libs: string[] | null;
  profile: boolean;
  write: boolean;
  report: boolean;
}

function parseArgs(argv: string[]): Options {
  const options: Options = {
    quick: false,
    runs: 0,
    only: null,
    libs: null,
    profile: false,
    write: true,
    report: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = () => {
      const inline = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      if (inline === undefined) throw new Error(`${arg} needs a value`);
      return inline;
    };
    if (arg === '--quick') options.quick = true;
    else if (arg.startsWith('--runs')) options.runs = Number(value());
    else if (arg.startsWith('--only')) options.only = value().split(',');
    else if (arg.startsWith('--libs')) options.libs = value().split(',');
    else if (arg === '--profile') options.profile = true;
    else if (arg === '--no-write') options.write = false;
    else if (arg === '--report') options.report = true;
    else if (arg === '--help' || arg === '-h') {
      console.log(
        'usage: npm run bench -- [--quick] [--runs N] [--only S1,S2] [--libs kairos,croner] [--profile] [--no-write]',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${arg}`);
  }
  if (options.runs === 0) options.runs = options.quick ? 1 : 3;
  if (!Number.isInteger(options.runs) || options.runs < 1)
    throw new Error('--runs must be a positive integer');
  return options;
}

/**
 * Whether `--libs` selects `library`: named, a kairos variant when kairos is named (so that history on and off
 * run side by side), or S4's no-scheduler baseline.
 */
function selectedLibrary(libs: string[], library: string): boolean {
  return (
    libs.includes(library) || library === 'none' || (isKairosVariant(library) && libs.includes('kairos'))
  );
}

/** The child running now: killed if the runner is interrupted, so that no child outlives it. */
let current: ChildProcess | null = null;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    current?.kill('SIGKILL');
    process.exit(130);
  });
}

interface ChildOutcome {
  result: Record<string, unknown>;
  ms: number;
}

/** Runs one child; resolves with its result, or an error result on crash, bad output or timeout. */
function runChild(
  testCase: Case,
  library: string,
  run: number,
  options: Options,
  build: string,
): Promise<ChildOutcome> {
  const args = ['--expose-gc'];
  if (options.profile && (library === 'kairos' || isKairosVariant(library))) {
    // One directory per child: the main thread's profile is the CPU.*.<pid>.0.*.cpuprofile in it (thread 0).
    args.push(
      '--cpu-prof',
      `--cpu-prof-dir=${join(resultsDir, 'profiles', `${testCase.id}-${library}-${run}`)}`,
    );
  }
  args.push(join(build, 'bench', 'child.js'), testCase.scenario, library, JSON.stringify(testCase.params));
  const started = performance.now();
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    current = child;
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, testCase.timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      current = null;
      const ms = performance.now() - started;
      const line = stdout.split('\n').find((candidate) => candidate.startsWith(RESULT_MARK));
      if (timedOut) {
        resolvePromise({ result: { error: `timeout: killed after ${testCase.timeoutMs / 1000} s` }, ms });
      } else if (line === undefined) {
        const tail = stderr.trim().split('\n').slice(-3).join(' | ');
        const error = /heap out of memory|Allocation failed/.test(stderr)
          ? `out of memory: the V8 heap limit (${heapLimitMiB()} MiB) was reached`
          : `exit ${code ?? signal} without a result: ${tail}`;
        resolvePromise({ result: { error }, ms });
      } else {
        try {
          resolvePromise({
            result: JSON.parse(line.slice(RESULT_MARK.length)) as Record<string, unknown>,
            ms,
          });
        } catch (error) {
          resolvePromise({ result: { error: `bad result line: ${(error as Error).message}` }, ms });
        }
      }
    });
  });
}

/** Writes the report of `data`: bench/results/latest.md always, BENCHMARKS.md for a complete full run. */
function writeReport(data: RunData, options: Options, complete: boolean): string {
  const markdown = renderReport(data);
  writeFileSync(join(resultsDir, 'latest.md'), markdown);
  if (complete && options.write) writeFileSync(join(root, 'BENCHMARKS.md'), markdown);
  return markdown;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  if (options.report) {
    // Re-render the last run's results (e.g. after a change to the report), without running anything.
    const data = JSON.parse(readFileSync(join(resultsDir, 'latest.json'), 'utf8')) as RunData & {
      complete?: boolean;
    };
    writeReport(data, options, data.complete === true);
    console.log(
      `re-rendered bench/results/latest.md${data.complete && options.write ? ' and BENCHMARKS.md' : ''}`,
    );
    return;
  }
  const selected = cases(options.quick).filter(
    (testCase) =>
      options.only === null || options.only.includes(testCase.scenario) || options.only.includes(testCase.id),
  );
  const jobs: Array<{ testCase: Case; library: string; run: number }> = [];
  for (let run = 1; run <= options.runs; run++) {
    for (const testCase of selected) {
      if (run > (testCase.runs ?? options.runs)) continue;
      for (const library of testCase.libraries) {
        if (options.libs !== null && !selectedLibrary(options.libs, library)) continue;
        // The no-scheduler baseline of S4 is a noise floor: one run is enough.
        if (library === 'none' && run > 1) continue;
        jobs.push({ testCase, library, run });
      }
    }
  }
  mkdirSync(resultsDir, { recursive: true });
  if (options.profile) mkdirSync(join(resultsDir, 'profiles'), { recursive: true });

  const building = performance.now();
  const build = buildForBench(root);
  const machine = machineInfo();
  console.log(
    `kairos bench: ${options.quick ? 'quick' : 'full'}, ${options.runs} run(s), ${jobs.length} child processes, one at a time`,
  );
  console.log(`machine: ${machine.cpu} ×${machine.cores}, Node ${machine.node}`);
  console.log(
    `compiled src/, stores/ and bench/ with tsc's emitter in ${((performance.now() - building) / 1000).toFixed(1)} s\n`,
  );
  const started = performance.now();
  const data: RunData = {
    mode: options.quick ? 'quick' : 'full',
    runs: options.runs,
    date: new Date().toISOString(),
    machine,
    cases: selected.map(({ id, scenario, title, params, libraries, runs }) => ({
      id,
      scenario,
      title,
      params,
      libraries,
      runs: Math.min(runs ?? options.runs, options.runs),
    })),
    results: {},
    durationS: 0,
  };
  let index = 0;
  for (const { testCase, library, run } of jobs) {
    index++;
    const label = `[${String(index).padStart(String(jobs.length).length)}/${jobs.length}] ${testCase.id.padEnd(8)} ${library.padEnd(16)} run ${run}`;
    const byCase = data.results[testCase.id] ?? {};
    data.results[testCase.id] = byCase;
    const earlier = byCase[library] ?? [];
    // A library that crashed or timed out in a case is not run again for it: it would only fail again, slowly.
    const failed = earlier.find((result) => typeof result.error === 'string');
    if (failed !== undefined) {
      console.log(`${label} … skipped: failed in an earlier run`);
      continue;
    }
    process.stdout.write(`${label} … `);
    const { result, ms } = await runChild(testCase, library, run, options, build);
    byCase[library] = [...earlier, result];
    console.log(
      `${(ms / 1000).toFixed(1)} s${'error' in result ? `  ERROR ${String(result.error).slice(0, 200)}` : ''}`,
    );
  }
  data.durationS = (performance.now() - started) / 1000;

  const complete = !options.quick && options.only === null && options.libs === null && options.runs >= 3;
  writeFileSync(join(resultsDir, 'latest.json'), `${JSON.stringify({ ...data, complete }, null, 2)}\n`);
  const markdown = writeReport(data, options, complete);
  console.log(
    `\n${markdown.slice(markdown.indexOf('## Results'), markdown.indexOf('## What the numbers mean'))}`,
  );
  console.log(
    `done in ${data.durationS.toFixed(0)} s; wrote bench/results/latest.md${complete && options.write ? ' and BENCHMARKS.md' : ''}`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
