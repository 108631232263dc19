// One process of a fleet sharing a lifecycle task by name in a shared store (API.md "Lifecycle tasks across
// processes", per process, tick once):
// `node --import tsx test/support/shared-lifecycle-child.ts <file|sqlite|postgres> <location>`.
// Declares the task `session` (the registered generator `session`, every 100 ms, `replaceExisting`) and prints one
// JSON line per event, `{ event, pid, scheduled? }`: `ready` once declared, `setup`, `fire` (with the run's
// scheduled time), `cleanup` (the generator's `finally`); on SIGTERM shuts down, prints `stopped` and exits.
import { pino } from 'pino';
import { IntervalTrigger, type RunContext, Scheduler } from '../../src/index.js';
import { openStore } from './store-open.js';

const [kind, location] = process.argv.slice(2);
if (kind === undefined || location === undefined) {
  throw new Error('usage: shared-lifecycle-child.ts <file|sqlite|postgres> <location>');
}

const print = (event: string, fields: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ event, pid: process.pid, ...fields })}\n`);

async function* session(label: string) {
  print('setup', { label });
  try {
    for (;;) {
      const context = (yield) as RunContext;
      print('fire', { scheduled: context.scheduledRunTime.getTime() });
    }
  } finally {
    print('cleanup');
  }
}

const scheduler = new Scheduler({
  stores: { default: openStore(kind, location) },
  functions: { session },
  logger: pino({ level: process.env.KAIROS_LOG_LEVEL ?? 'silent' }, pino.destination(2)),
});

process.once('SIGTERM', () => {
  void scheduler.shutdown().then(() => {
    print('stopped');
    process.exit(0);
  });
});
await scheduler.start();
await scheduler.addTask('session', {
  id: 'session',
  args: ['fleet'],
  trigger: new IntervalTrigger({ milliseconds: 100 }),
  replaceExisting: true,
});
print('ready');
