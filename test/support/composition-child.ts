/**
 * A scheduler process for the task-composition fleet tests (test/stores/composition-processes.test.ts): it shares
 * a store with others and prints a JSON line per event that matters, with the wall time.
 *
 * Usage: composition-child.ts <kind> <location> <scenario> <schedulerId>
 * - `limits`: the tasks `t0`..`t8`, tagged `db` (limit 2, the scheduler option), each every 400 ms for 150 ms
 *   (declared with replaceExisting by every process); prints `start` and `end` per run.
 * - `after`: the task `up` every 300 ms and `down` after it (declared by every process); prints `up` and `down`
 *   per run, with the run's scheduled time.
 * Prints `ready` once started; shuts down on SIGTERM.
 */
import { AfterTrigger, IntervalTrigger, Scheduler } from '../../src/index.js';
import { silentLogger } from './events.js';
import { openStore } from './store-open.js';

const [kind, location, scenario, schedulerId] = process.argv.slice(2) as [string, string, string, string];
const print = (line: Record<string, unknown>) =>
  process.stdout.write(`${JSON.stringify({ ...line, at: Date.now() })}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ANCHOR = Date.parse('2026-01-01T00:00:00Z');

const scheduler = new Scheduler({
  stores: { default: openStore(kind, location) },
  logger: silentLogger,
  schedulerId,
  leaseTime: 2000,
  concurrencyLimits: scenario === 'limits' ? { db: 2 } : {},
  functions: {
    work: async (id: string) => {
      print({ event: 'start', id });
      await sleep(150);
      print({ event: 'end', id });
    },
    up: () => print({ event: 'up' }),
    down: () => print({ event: 'down' }),
  },
});
scheduler.on('task:waiting', (event) => print({ event: 'waiting', id: event.taskId }));

if (scenario === 'limits') {
  for (let index = 0; index < 9; index++) {
    const id = `t${index}`;
    await scheduler.addTask('work', {
      id,
      args: [id],
      trigger: new IntervalTrigger({ milliseconds: 400 }, { startAt: ANCHOR + index * 40 }),
      tags: ['db'],
      misfireGraceTime: null,
      replaceExisting: true,
    });
  }
} else {
  await scheduler.addTask('up', {
    id: 'up',
    trigger: new IntervalTrigger({ milliseconds: 300 }, { startAt: ANCHOR }),
    replaceExisting: true,
  });
  await scheduler.addTask('down', { id: 'down', trigger: new AfterTrigger('up'), replaceExisting: true });
}
await scheduler.start();
print({ event: 'ready' });
process.on('SIGTERM', () => {
  void scheduler.shutdown({ timeout: 3000 }).then(() => {
    print({ event: 'stopped' });
    process.exit(0);
  });
});
