/**
 * A child process for test/stores/multiprocess.test.ts:
 * `node --import tsx test/support/store-worker.ts <file|sqlite|postgres> <location> <schedulerId>`.
 * Runs a Scheduler on the shared store with one function, `record(workMs)`, which prints a JSON line
 * `{ event: 'run', taskId, scheduled, pid }` when a run starts and then works for `workMs`.
 * Prints `{ event: 'started' }` once running; on SIGTERM shuts down and prints `{ event: 'stopped' }`.
 */
import { pino } from 'pino';
import { currentRun } from '../../src/context.js';
import { Scheduler } from '../../src/scheduler.js';
import { openStore } from './store-open.js';

const [kind, path, schedulerId] = process.argv.slice(2);
if (kind === undefined || path === undefined || schedulerId === undefined) {
  throw new Error('usage: store-worker.ts <file|sqlite|postgres> <location> <schedulerId>');
}

const print = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);

const scheduler = new Scheduler({
  stores: { default: openStore(kind, path) },
  functions: {
    record: async (workMs: number) => {
      const run = currentRun();
      print({
        event: 'run',
        taskId: run?.taskId,
        scheduled: run?.scheduledRunTime.getTime(),
        pid: process.pid,
      });
      await new Promise((resolve) => setTimeout(resolve, workMs));
    },
  },
  schedulerId,
  logger: pino({ level: process.env.KAIROS_LOG_LEVEL ?? 'silent' }, pino.destination(2)),
});

process.on('SIGTERM', () => {
  void scheduler.shutdown().then(() => {
    print({ event: 'stopped' });
    process.exit(0);
  });
});
await scheduler.start();
print({ event: 'started' });
