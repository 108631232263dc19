/**
 * Profiles one scenario of one library with V8's CPU profiler and prints where the time goes, by
 * TypeScript file:line (a development tool; `npm run bench` does not use it).
 *
 *   npx tsx bench/profile.ts <S1..S9 or S1-cron> [params json] [--lib kairos] [--top 30] [--filter src/] [--whole]
 *
 * It prints the profiles of the scenario's measured windows (S1's add and remove loops, S2's burst, S3's
 * window: sampled every 100 µs), or with --whole (or for other scenarios) the whole process's.
 *
 * Runs the same compiled JavaScript as `npm run bench` (bench/build.ts, with source maps, so that positions map
 * back to the TypeScript). The profiles go to bench/results/profiles/<scenario>-<lib>-<time>/.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildForBench } from './build.js';
import { cases } from './config.js';
import { printSummary } from './profile-summary.js';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const args = process.argv.slice(2);
const option = (name: string) => {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : undefined;
};
const positional = args.filter((arg, i) => !arg.startsWith('--') && !(args[i - 1] ?? '').startsWith('--'));
const scenario = positional[0];
if (scenario === undefined) {
  console.error(
    'usage: profile.ts <S1..S9 or S1-cron> [params json] [--lib kairos] [--top N] [--filter text]',
  );
  process.exit(1);
}
const library = option('--lib') ?? 'kairos';
const params =
  positional[1] ?? JSON.stringify(cases(false).find((c) => c.scenario === scenario)?.params ?? {});

const outdir = buildForBench(root);

const profileDir = join(root, 'bench', 'results', 'profiles', `${scenario}-${library}-${Date.now()}`);
mkdirSync(profileDir, { recursive: true });
const child = spawnSync(
  process.execPath,
  [
    '--expose-gc',
    '--cpu-prof',
    `--cpu-prof-dir=${profileDir}`,
    join(outdir, 'bench', 'child.js'),
    scenario,
    library,
    params,
  ],
  {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    env: { ...process.env, BENCH_PROFILE_DIR: profileDir },
  },
);
const line = child.stdout.split('\n').find((candidate) => candidate.startsWith('@@RESULT '));
console.log(line ?? child.stdout);
// The scenario's measured windows (S1 add/remove, S2 burst, S3 window) if it wrote any, else the whole process.
const files = readdirSync(profileDir);
const windows = files.filter((name) => /^S\d-.*\.cpuprofile$/.test(name));
const main = files.find((name) => /\.\d+\.0\.\d+\.cpuprofile$/.test(name));
const chosen = windows.length > 0 && !args.includes('--whole') ? windows : main === undefined ? [] : [main];
if (chosen.length === 0) throw new Error(`no profile in ${profileDir}`);
for (const name of chosen) {
  console.log();
  printSummary(join(profileDir, name), Number(option('--top') ?? 30), option('--filter') ?? '');
}
