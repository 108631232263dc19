// better-sqlite3 is an optional peer dependency: importing kairos must not load it, and SQLiteStore.start()
// explains how to install it when it is missing. Both checked in child processes with a clean module cache.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const support = (name: string) => fileURLToPath(new URL(`../support/${name}`, import.meta.url));

/** Runs a test/support script under tsx and parses the JSON line it prints. */
async function runChild(script: string, ...args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', support(script), ...args], {
    timeout: 15_000,
  });
  return JSON.parse(stdout.trim()) as Record<string, unknown>;
}

describe('the optional better-sqlite3 driver', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kairos-driver-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is loaded neither by importing kairos nor kairos/stores/sqlite, only by SQLiteStore.start()', async () => {
    const loaded = await runChild('store-loaded-modules.ts', join(dir, 'tasks.db'));
    expect(loaded).toEqual({
      afterIndex: { javascript: false, native: false },
      afterStoreModule: { javascript: false, native: false },
      afterStart: { javascript: true, native: true },
    });
  });

  it('missing: start() fails with a KairosError naming the package and how to install it, creating nothing', async () => {
    const failure = await runChild('store-no-sqlite.ts', join(dir, 'tasks.db'));
    expect(failure).toMatchObject({ name: 'KairosError', kairos: true });
    expect(failure.message).toContain("'better-sqlite3'");
    expect(failure.message).toContain('npm install better-sqlite3');
    expect(await readdir(dir)).toEqual([]);
  });
});
