// A process recording run history on a shared store, for test/scheduler/history-hostile.test.ts:
// `node --import tsx test/support/history-child.ts <file|sqlite|postgres> <location> <schedulerId> <history> <tasks>`.
// `history` is `off` (history: false) or a number (history.perTask). Declares the tasks `t0`… (`replaceExisting`,
// the registered function `tick`, every 20 ms, coalesced) and prints one JSON line per event: `ready` once
// declared, `run` with the run's result (`<schedulerId>:<n>`, unique) as each run ends; on SIGTERM shuts down,
// prints `stopped` and exits. Meant to be killed with SIGKILL as well, in the middle of a history write.
import { pino } from 'pino';
import { IntervalTrigger, Scheduler } from '../../src/index.js';
import { openStore } from './store-open.js';

const [kind, location, schedulerId, history, tasks] = process.argv.slice(2);
if (kind === undefined || location === undefined || schedulerId === undefined || history === undefined) {
  throw new Error(
    'usage: history-child.ts <file|sqlite|postgres> <location> <schedulerId> <off|perTask> <tasks>',
  );
}

const print = (event: string, fields: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ event, pid: process.pid, ...fields })}\n`);

let count = 0;
const scheduler = new Scheduler({
  stores: { default: openStore(kind, location, { lockStale: 2000 }) },
  functions: {
    tick: () => {
      const result = `${schedulerId}:${++count}`;
      // Printed after the run returns (a microtask later), so a printed result is one the scheduler saw end.
      queueMicrotask(() => print('run', { result }));
      return result;
    },
  },
  schedulerId,
  // Short, so that the tasks a killed process held leases on run again soon in the next one.
  leaseTime: 2000,
  history: history === 'off' ? false : { perTask: Number(history) },
  logger: pino({ level: process.env.KAIROS_LOG_LEVEL ?? 'silent' }, pino.destination(2)),
});

process.once('SIGTERM', () => {
  void scheduler.shutdown().then(() => {
    print('stopped');
    process.exit(0);
  });
});
await scheduler.start();
for (let i = 0; i < Number(tasks ?? 1); i++) {
  await scheduler.addTask('tick', {
    id: `t${i}`,
    trigger: new IntervalTrigger({ milliseconds: 20 }),
    replaceExisting: true,
  });
}
print('ready');
