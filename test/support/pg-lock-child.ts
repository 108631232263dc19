/**
 * A child process for test/postgres/lock.test.ts, printing JSON lines on stdout (read with spawnChild):
 * - `pg-lock-child.ts hold <url> <key>`: takes the PostgresLock (trying every 50 ms; prints
 *   `{ event: 'refused' }` after its first try if that fails), prints `{ event: 'acquired' }`, and
 *   `{ event: 'compromised' }` if it is lost; on SIGUSR2 releases it and prints `{ event: 'released' }`.
 * - `pg-lock-child.ts scheduler <url> <key>`: a Scheduler on a MemoryStore with the scheduler option
 *   `lock: new PostgresLock(url, key)` and a 100 ms interval task that prints `{ event: 'fire' }`; prints
 *   `{ event: 'ready' }` once started.
 * - `pg-lock-child.ts no-driver <url> <key>`: hides `pg` (a module resolve hook fails to find it, as when it is not
 *   installed), imports stores/postgres-lock.ts, makes a lock (`{ event: 'constructed' }`), tries it and prints the
 *   error: `{ event: 'error', name, kairos, message }`.
 * Every line also carries `pid` and `at` (epoch ms).
 */
import { register } from 'node:module';

const [mode, url, key] = process.argv.slice(2);
if (url === undefined || key === undefined) throw new Error('usage: pg-lock-child.ts <mode> <url> <key>');

const report = (event: string, fields: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ event, pid: process.pid, at: Date.now(), ...fields })}\n`);

if (mode === 'hold') {
  const { PostgresLock } = await import('../../stores/postgres-lock.js');
  const lock = new PostgresLock(url, key);
  lock.on('compromised', () => report('compromised'));
  let refused = false;
  while (!(await lock.tryAcquire())) {
    if (!refused) report('refused');
    refused = true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  report('acquired');
  process.on('SIGUSR2', () => void lock.release().then(() => report('released')));
} else if (mode === 'scheduler') {
  const { PostgresLock } = await import('../../stores/postgres-lock.js');
  const { IntervalTrigger, Scheduler } = await import('../../src/index.js');
  const scheduler = new Scheduler({ lock: new PostgresLock(url, key) });
  await scheduler.start();
  await scheduler.addTask(() => report('fire'), { trigger: new IntervalTrigger({ milliseconds: 100 }) });
  report('ready');
} else if (mode === 'no-driver') {
  const HIDE_PG = `
export async function resolve(specifier, context, next) {
  if (specifier === 'pg' || specifier.startsWith('pg/')) {
    throw Object.assign(new Error("Cannot find package 'pg'"), { code: 'ERR_MODULE_NOT_FOUND' });
  }
  return next(specifier, context);
}`;
  register(`data:text/javascript,${encodeURIComponent(HIDE_PG)}`);
  const { KairosError } = await import('../../src/errors.js');
  const { PostgresLock } = await import('../../stores/postgres-lock.js');
  const lock = new PostgresLock(url, key);
  report('constructed');
  try {
    await lock.tryAcquire();
    report('error', { name: null });
  } catch (error) {
    const { name, message } = error as Error;
    report('error', { name, kairos: error instanceof KairosError, message });
  }
} else {
  throw new Error(`pg-lock-child.ts: unknown mode ${mode}`);
}
