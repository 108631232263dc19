// better-sqlite3 and pg are optional peer dependencies: importing kairos (or a store's module) must not load them,
// and a store's start() explains how to install its driver when it is missing. Checked in child processes with a
// clean module cache.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { dropSchema, freshSchema, PG_URL, withClient } from '../support/postgres.js';

const run = promisify(execFile);
const support = (name: string) => fileURLToPath(new URL(`../support/${name}`, import.meta.url));

/** Runs a test/support script under tsx and parses the JSON line it prints. */
async function runChild(script: string, ...args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', support(script), ...args], {
    timeout: 15_000,
  });
  return JSON.parse(stdout.trim()) as Record<string, unknown>;
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kairos-driver-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What store-loaded-modules.ts reports, from one child process shared by the tests that read it. */
let loadedModules: Promise<Record<string, unknown>> | undefined;
function loaded(): Promise<Record<string, unknown>> {
  if (loadedModules === undefined) {
    const childDir = mkdtemp(join(tmpdir(), 'kairos-driver-loaded-'));
    loadedModules = childDir.then(async (path) => {
      try {
        return await runChild('store-loaded-modules.ts', join(path, 'tasks.db'));
      } finally {
        await rm(path, { recursive: true, force: true });
      }
    });
  }
  return loadedModules;
}

describe('the optional better-sqlite3 driver', () => {
  it('is loaded neither by importing kairos nor kairos/stores/sqlite, only by SQLiteStore.start()', async () => {
    const report = await loaded();
    expect({
      afterIndex: (report.afterIndex as { sqlite: unknown }).sqlite,
      afterSqliteModule: (report.afterSqliteModule as { sqlite: unknown }).sqlite,
      afterSqliteStart: (report.afterSqliteStart as { sqlite: unknown }).sqlite,
    }).toEqual({
      afterIndex: { javascript: false, native: false },
      afterSqliteModule: { javascript: false, native: false },
      afterSqliteStart: { javascript: true, native: true },
    });
  });

  it('missing: start() fails with a KairosError naming the package and how to install it, creating nothing', async () => {
    const failure = await runChild('store-no-driver.ts', 'sqlite', join(dir, 'tasks.db'));
    expect(failure).toMatchObject({ name: 'KairosError', kairos: true });
    expect(failure.message).toContain("'better-sqlite3'");
    expect(failure.message).toContain('npm install better-sqlite3');
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('the optional pg driver', () => {
  it('is loaded neither by importing kairos nor kairos/stores/postgres, only by PostgresStore.start()', async () => {
    const report = (await loaded()) as Record<string, { pg: boolean }>;
    expect({
      afterIndex: report.afterIndex?.pg,
      afterSqliteModule: report.afterSqliteModule?.pg,
      afterSqliteStart: report.afterSqliteStart?.pg,
      afterPostgresModule: report.afterPostgresModule?.pg,
      afterPostgresStart: report.afterPostgresStart?.pg,
    }).toEqual({
      afterIndex: false,
      afterSqliteModule: false,
      afterSqliteStart: false,
      afterPostgresModule: false,
      afterPostgresStart: true,
    });
  });

  it("missing: start() fails with a KairosError naming 'pg' and how to install it, creating nothing", async () => {
    const reachable = inject('postgresUnreachable') === null;
    const schema = freshSchema('ktnodriver');
    try {
      const failure = await runChild('store-no-driver.ts', 'postgres', PG_URL, schema);
      expect(failure).toMatchObject({ name: 'KairosError', kairos: true });
      expect(failure.message).toContain("'pg'");
      expect(failure.message).toContain('npm install pg');
      if (reachable) {
        const { rows } = await withClient((client) =>
          client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]),
        );
        expect(rows).toEqual([]);
      }
    } finally {
      if (reachable) await dropSchema(schema);
    }
  });
});
