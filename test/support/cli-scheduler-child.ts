/**
 * A scheduler on a shared store, in a child process, for the `kairos` command's tests (test/cli/):
 * `node --import tsx test/support/cli-scheduler-child.ts <file|sqlite|postgres> <location> [tasks-json]`.
 *
 * Adds the tasks of `tasks-json` (`[{ id, fn, trigger, args?, paused? }]`, `replaceExisting`), starts, and prints
 * JSON lines: `{ event: 'started' }`; `{ event: 'run', taskId, args, scheduled, at }` when a run starts;
 * `{ event: 'stopped' }` after SIGTERM shut it down. Functions: `tick(...args)` prints its run; `fail(message)`
 * prints its run and throws `Error(message)`; `nap(ms)` prints its run and takes `ms` to end.
 */
import { pino } from 'pino';
import { currentRun } from '../../src/context.js';
import { Scheduler } from '../../src/scheduler.js';
import type { TriggerSpec } from '../../src/triggers/trigger.js';
import { openStore } from './store-open.js';

/** A task the child adds at boot. */
export interface ChildTask {
  id: string;
  fn: 'tick' | 'fail' | 'nap';
  trigger: TriggerSpec;
  args?: unknown[];
  name?: string;
  /** Added paused (no next run time). */
  paused?: boolean;
}

const [kind, location, tasksJson = '[]'] = process.argv.slice(2);
if (kind === undefined || location === undefined) {
  throw new Error('usage: cli-scheduler-child.ts <file|sqlite|postgres> <location> [tasks-json]');
}

const print = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);

const printRun = (args: unknown[]) => {
  const run = currentRun();
  print({
    event: 'run',
    taskId: run?.taskId,
    args,
    scheduled: run?.scheduledRunTime.getTime(),
    at: Date.now(),
  });
};

const scheduler = new Scheduler({
  stores: { default: openStore(kind, location) },
  functions: {
    tick: (...args: unknown[]) => {
      printRun(args);
      return args.length;
    },
    fail: (message: unknown) => {
      printRun([message]);
      throw new Error(String(message));
    },
    nap: async (ms: number) => {
      printRun([ms]);
      await new Promise((resolve) => setTimeout(resolve, ms));
    },
  },
  logger: pino({ level: process.env.KAIROS_LOG_LEVEL ?? 'silent' }, pino.destination(2)),
});

for (const task of JSON.parse(tasksJson) as ChildTask[]) {
  await scheduler.addTask(task.fn, {
    id: task.id,
    name: task.name ?? task.id,
    trigger: task.trigger,
    args: task.args ?? [],
    replaceExisting: true,
    ...(task.paused === true ? { nextRunTime: null } : {}),
  });
}

process.on('SIGTERM', () => {
  void scheduler.shutdown({ timeout: 5000 }).then(() => {
    print({ event: 'stopped' });
    process.exit(0);
  });
});
await scheduler.start();
print({ event: 'started' });
