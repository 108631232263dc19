/**
 * One fresh process of S9 (bench/s9-sqlite.ts runs two, each on its own copy of the file):
 *   node s9-worker.js read  <path> '<params json>'   store.start(), then one acquireDueTasks({ limit: due }), timed
 *   node s9-worker.js start <path> '<params json>'   scheduler.start() → first and last task:submitted, timed
 * Prints one line `@@S9 <json>` on stdout. The modules are loaded before the clock starts (an application
 * imports kairos before it starts a scheduler); better-sqlite3 is loaded by `store.start()`, inside the time.
 */
import { pino } from 'pino';
import { Scheduler } from '../src/scheduler.js';
import type { StoreContext } from '../src/store.js';
import { CronTrigger } from '../src/triggers/cron.js';
import { SQLiteStore } from '../stores/sqlite.js';
import { sleep } from './lib/clock.js';
import type { S9Params } from './s9-sqlite.js';

const MARK = '@@S9 ';

/** The store alone: open the file, then hand out the due tasks (their triggers rebuilt from the stored JSON). */
async function read(path: string, { due }: S9Params): Promise<object> {
  const store = new SQLiteStore({ path });
  const context: StoreContext = {
    logger: pino({ level: 'silent' }),
    alias: 'default',
    reportBrokenRecord: (taskId, error) => {
      throw new Error(`stored task ${taskId} cannot be read: ${error.message}`);
    },
  };
  let started = performance.now();
  await store.start(context);
  const openMs = performance.now() - started;
  const acquire = () =>
    store.acquireDueTasks({ owner: 'bench', now: Date.now(), leaseMs: 60_000, limit: due });
  started = performance.now();
  const records = await acquire();
  const acquireMs = performance.now() - started;
  const cron = records.filter((record) => record.trigger instanceof CronTrigger && record.id.startsWith('d'));
  // Again, warm: the same tasks handed back due as they were, and handed out again.
  await store.releaseTasks(
    'bench',
    records.map((record) => ({ id: record.id, nextRunTime: record.nextRunTime })),
  );
  started = performance.now();
  const again = await acquire();
  const acquireWarmMs = performance.now() - started;
  await store.close();
  return {
    openMs,
    acquireMs,
    acquired: records.length,
    acquiredCron: cron.length,
    acquireWarmMs,
    acquiredWarm: again.length,
  };
}

/** A scheduler over the file: from `start()` to the first and the last of the due tasks submitted. */
async function start(path: string, { due }: S9Params): Promise<object> {
  let submitted = 0;
  let submittedNotDue = 0;
  let firstMs = Number.NaN;
  let lastMs = Number.NaN;
  let t0 = 0;
  let done: () => void = () => {};
  const allDue = new Promise<void>((resolve) => {
    done = resolve;
  });
  const scheduler = new Scheduler({
    logger: pino({ level: 'silent' }),
    stores: { default: new SQLiteStore({ path }) },
    functions: { tick: () => {} },
  });
  scheduler.on('task:submitted', ({ taskId }) => {
    const now = performance.now();
    if (!taskId.startsWith('d')) {
      submittedNotDue++;
      return;
    }
    submitted++;
    if (submitted === 1) firstMs = now - t0;
    if (submitted === due) {
      lastMs = now - t0;
      done();
    }
  });
  t0 = performance.now();
  await scheduler.start();
  const startMs = performance.now() - t0;
  const firstSinceProcessStart = () => firstMs + t0;
  await Promise.race([allDue, sleep(30_000)]);
  // A little longer: no other task may run.
  await sleep(50);
  await scheduler.shutdown({ wait: false });
  return {
    startMs,
    firstSubmittedMs: firstMs,
    lastSubmittedMs: lastMs,
    /** From the process's start (Node's own start-up and the module loading included) to the first dispatch. */
    firstSubmittedSinceProcessStartMs: firstSinceProcessStart(),
    submitted,
    submittedNotDue,
  };
}

async function main(): Promise<object> {
  const [mode, path, paramsJson] = process.argv.slice(2);
  if (path === undefined || paramsJson === undefined)
    throw new Error('usage: s9-worker <read|start> <path> <params>');
  const params = JSON.parse(paramsJson) as S9Params;
  if (mode === 'read') return read(path, params);
  if (mode === 'start') return start(path, params);
  throw new Error(`unknown mode '${mode}'`);
}

main().then(
  (result) => process.stdout.write(`${MARK}${JSON.stringify(result)}\n`, () => process.exit(0)),
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stdout.write(`${MARK}${JSON.stringify({ error: message.split('\n')[0] })}\n`, () =>
      process.exit(1),
    );
  },
);
