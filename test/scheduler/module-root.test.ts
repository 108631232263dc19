// A store row is code: through the public API, a module reference outside `moduleRoot` is refused at
// addTask/updateTask, and a row written straight into a shared SQLite database that points outside the root
// is reported once (task:error with SerializationError), never imported, and kept byte for byte.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { IntervalTrigger, Scheduler, SerializationError } from '../../src/index.js';
import { SQLiteStore } from '../../stores/sqlite.js';
import { payloads, recordEvents, silentLogger } from '../support/events.js';

/** The temp tree: `root/` (moduleRoot), `outside/` beside it, and the database. */
let base: string;
let root: string;
let outside: string;
let database: string;
/** Written by the outside module if it is ever imported. */
let marker: string;
const schedulers: Scheduler[] = [];

beforeEach(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'kairos-module-root-')));
  root = join(base, 'root');
  outside = join(base, 'outside');
  database = join(base, 'tasks.db');
  marker = join(base, 'imported.marker');
  await mkdir(join(root, 'jobs'), { recursive: true });
  await mkdir(outside);
  await writeFile(join(root, 'jobs', 'ok.mjs'), 'export function job() { return 1; }\n');
  await writeFile(
    join(outside, 'evil.mjs'),
    `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'imported');\nexport function job() {}\n`,
  );
  await symlink(join(outside, 'evil.mjs'), join(root, 'jobs', 'linked.mjs'));
});
afterEach(async () => {
  for (const scheduler of schedulers.splice(0))
    if (scheduler.running) await scheduler.shutdown({ wait: false });
  await rm(base, { recursive: true, force: true });
});

/** A scheduler on the SQLite database, with `moduleRoot` given explicitly. */
function makeScheduler(): Scheduler {
  const scheduler = new Scheduler({
    stores: { default: new SQLiteStore({ path: database }) },
    moduleRoot: root,
    logger: silentLogger,
  });
  schedulers.push(scheduler);
  return scheduler;
}

/** `path#job`, relative to the working directory (as module references are resolved). */
function reference(path: string): string {
  return `${relative(process.cwd(), path)}#job`;
}

/** Runs `work` on the database file directly, as another writer of a shared store could. */
function withDatabase<T>(work: (db: Database.Database) => T): T {
  const db = new Database(database, { timeout: 5000 });
  try {
    return work(db);
  } finally {
    db.close();
  }
}

/** The raw stored row of one task. */
function rawRow(id: string): string {
  return JSON.stringify(
    withDatabase((db) => db.prepare('SELECT id, next_run_time, data FROM kairos_tasks WHERE id = ?').get(id)),
  );
}

describe('moduleRoot through the Scheduler (SQLiteStore)', () => {
  it('addTask and updateTask refuse a reference outside moduleRoot with SerializationError', async () => {
    const scheduler = makeScheduler();
    await scheduler.start();
    const trigger = new IntervalTrigger({ minutes: 1 });
    await expect(scheduler.addTask('../../../../tmp/x.js#y', { id: 'x', trigger })).rejects.toThrow(
      SerializationError,
    );
    await expect(
      scheduler.addTask(`${join(outside, 'evil.mjs')}#job`, { id: 'abs', trigger }),
    ).rejects.toThrow(/outside the module root/);
    await expect(
      scheduler.addTask(reference(join(root, 'jobs', 'linked.mjs')), { id: 'link', trigger }),
    ).rejects.toThrow(SerializationError);
    expect(await scheduler.getTasks()).toEqual([]);

    const ok = reference(join(root, 'jobs', 'ok.mjs'));
    await scheduler.addTask(ok, { id: 'ok', trigger, nextRunTime: null });
    await expect(scheduler.updateTask('ok', { fn: '../../../../tmp/x.js#y' })).rejects.toThrow(
      SerializationError,
    );
    expect((await scheduler.getTask('ok'))?.fn).toBe(ok);
    expect(withDatabase((db) => db.prepare('SELECT count(*) AS n FROM kairos_tasks').get())).toEqual({
      n: 1,
    });
    expect(existsSync(marker)).toBe(false);
  });

  it('a stored row pointing outside moduleRoot is reported once, never imported, and kept byte for byte', async () => {
    const writer = makeScheduler();
    await writer.start();
    const trigger = new IntervalTrigger({ seconds: 1 });
    const ok = reference(join(root, 'jobs', 'ok.mjs'));
    await writer.addTask(ok, { id: 'escape', trigger, nextRunTime: null });
    await writer.addTask(ok, { id: 'symlink', trigger, nextRunTime: null });
    await writer.shutdown();

    const targets = {
      escape: `${relative(process.cwd(), join(root, 'jobs'))}/../../outside/evil.mjs#job`,
      symlink: reference(join(root, 'jobs', 'linked.mjs')),
    };
    withDatabase((db) => {
      const rewrite = db.prepare(
        "UPDATE kairos_tasks SET data = json_set(data, '$.fn', ?), next_run_time = ? WHERE id = ?",
      );
      for (const [id, fn] of Object.entries(targets)) rewrite.run(fn, Date.now() - 100, id);
    });
    const before = { escape: rawRow('escape'), symlink: rawRow('symlink') };
    expect(before.escape).toContain('outside/evil.mjs#job');

    const scheduler = makeScheduler();
    const seen = recordEvents(scheduler, 'task:error', 'task:submitted', 'task:executed', 'task:removed');
    await scheduler.start();
    await vi.waitFor(() => expect(payloads(seen, 'task:error')).toHaveLength(2), {
      timeout: 5000,
    });
    for (let i = 0; i < 3; i++) {
      scheduler.wakeup();
      await new Promise((done) => setTimeout(done, 100));
    }
    await scheduler.shutdown();

    const errors = payloads(seen, 'task:error');
    expect(errors.map((event) => event.taskId).sort()).toEqual(['escape', 'symlink']);
    for (const event of errors) {
      expect(event.error).toBeInstanceOf(SerializationError);
      expect((event.error as Error).message).toContain(targets[event.taskId as keyof typeof targets]);
      expect((event.error as Error).message).toContain(root);
    }
    expect(seen.map(([name]) => name)).toEqual(['task:error', 'task:error']);
    expect(existsSync(marker)).toBe(false);
    expect({ escape: rawRow('escape'), symlink: rawRow('symlink') }).toEqual(before);
  });
});
