/**
 * Running the built `kairos` command (dist/src/cli/main.js) as a child process, for test/cli/. `ensureBuilt()`
 * builds it first (`tsc -p tsconfig.build.json`, incrementally) when src/ or stores/ changed since the tests last
 * built it, once at a time across the test files running in parallel.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The built command. */
export const CLI = join(ROOT, 'dist/src/cli/main.js');

const LOCK = join(ROOT, 'dist/.cli-test-build.lock');
/** Written after each build of the tests, its modification time set to when that build started. */
const STAMP = join(ROOT, 'dist/.cli-test-built');
/** tsc's incremental state for the tests' builds: a rebuild emits only what changed. */
const BUILD_INFO = join(ROOT, 'dist/.cli-test.tsbuildinfo');
/** A build lock older than this was left by a test run that died. */
const STALE_LOCK_MS = 120_000;

/** What one run of the command did. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `kairos <args>` (the built one) and resolves when it exits. */
export function kairos(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  const env = { ...process.env, ...options.env };
  for (const [key, value] of Object.entries(options.env ?? {})) if (value === undefined) delete env[key];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env, cwd: options.cwd ?? ROOT, timeout: options.timeoutMs ?? 20_000, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The newest modification time of the `.ts` files under these folders. */
function newestSource(folders: readonly string[]): number {
  let newest = 0;
  const visit = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) visit(path);
      else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  for (const folder of folders) visit(join(ROOT, folder));
  return newest;
}

function mtimeOf(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

const isStale = () => mtimeOf(STAMP) < newestSource(['src', 'stores']) || mtimeOf(CLI) === 0;

/** Runs tsc on tsconfig.build.json, incrementally; type errors elsewhere in the repository do not stop it emitting. */
function build(): string {
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  const args = [tsc, '-p', 'tsconfig.build.json', '--incremental', '--tsBuildInfoFile', BUILD_INFO];
  const result = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });
  return `${result.stdout}${result.stderr}`;
}

/**
 * Builds dist when it is older than the sources, once at a time across the test files running in parallel (an
 * incremental build: seconds when little changed). Test files call it in `beforeAll`.
 */
export async function ensureBuilt(): Promise<void> {
  const deadline = Date.now() + 180_000;
  while (isStale()) {
    if (Date.now() > deadline) throw new Error('ensureBuilt: waited too long for another build of dist');
    if (!takeLock()) {
      // Another test file builds: wait for it, then look again.
      await new Promise((resolve) => setTimeout(resolve, 250));
      continue;
    }
    try {
      if (!isStale()) return;
      const started = new Date();
      let output = build();
      if (mtimeOf(CLI) === 0) {
        // dist was removed under the incremental state: build everything.
        rmSync(BUILD_INFO, { force: true });
        output = build();
      }
      if (mtimeOf(CLI) === 0) throw new Error(`ensureBuilt: tsc did not write ${CLI}:\n${output}`);
      writeFileSync(STAMP, '');
      utimesSync(STAMP, started, started);
      // Built from the sources as they were; files changed since (others at work) wait for the next run.
      return;
    } finally {
      rmSync(LOCK, { recursive: true, force: true });
    }
  }
}

function takeLock(): boolean {
  try {
    mkdirSync(LOCK, { recursive: false });
    return true;
  } catch {
    try {
      if (Date.now() - statSync(LOCK).mtimeMs > STALE_LOCK_MS) rmSync(LOCK, { recursive: true, force: true });
    } catch {
      // Gone meanwhile.
    }
    return false;
  }
}

/** Asserts-free check used by tests: the stderr of a failure is exactly one `kairos: ` line without a stack. */
export function isOneErrorLine(stderr: string): boolean {
  const lines = stderr.split('\n').filter((line) => line !== '');
  return lines.length === 1 && /^kairos: \S/.test(lines[0] as string) && !/\n\s+at /.test(stderr);
}

/**
 * Runs the command line in this process (src/cli/program.ts, the code the built command runs), with stdout and
 * stderr captured: for the many small parsing cases, which need no process of their own.
 */
export async function kairosInProcess(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<CliResult> {
  const { Writable } = await import('node:stream');
  const { runCli } = await import('../../src/cli/program.js');
  let stdout = '';
  let stderr = '';
  const capture = (append: (text: string) => void) =>
    new Writable({
      write(chunk, _encoding, done) {
        append(String(chunk));
        done();
      },
    }) as unknown as NodeJS.WriteStream;
  const code = await runCli(args, {
    stdout: capture((text) => {
      stdout += text;
    }),
    stderr: capture((text) => {
      stderr += text;
    }),
    env,
  });
  return { code, stdout, stderr };
}
