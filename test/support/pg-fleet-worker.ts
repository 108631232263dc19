/**
 * A scheduler process of a PostgreSQL fleet, for test/postgres/*.test.ts and test/alone/*.test.ts:
 * `node --import tsx test/support/pg-fleet-worker.ts <schema|url> <schedulerId> <leaseTimeMs> <tasks JSON>`,
 * where the JSON is `[{ id, intervalMs, workMs, maxInstances }]`.
 *
 * At boot, before `start()`, it declares the tasks with `replaceExisting: true`, as every process of a
 * deployment does (function `work` by name, no `startAt`, `coalesce: false`, `misfireGraceTime: null`). It prints
 * JSON lines on stdout (each write to a pipe is synchronous, so a printed line survives a SIGKILL right after):
 * - `{ event: 'run', taskId, scheduled, at, pid }` first thing in a run, `{ event: 'end', taskId, scheduled, at }`
 *   when its work (`workMs`) is done;
 * - `{ event: 'skipped' | 'missed' | 'task-error' | 'store-error', ... }`;
 * - `{ event: 'ping', id, at }` when a run of the registered function `ping` (tasks the parent adds) starts;
 * - `{ event: 'log', level, msg }` for every log record at warn or above;
 * - `{ event: 'started' }` once running; on SIGTERM, `shutdown({ timeout: 2000 })`, then `{ event: 'stopped' }`.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { currentRun } from '../../src/context.js';
import { Scheduler } from '../../src/scheduler.js';
import { IntervalTrigger } from '../../src/triggers/interval.js';
import { openStore } from './store-open.js';

interface TaskSpec {
  id: string;
  intervalMs: number;
  workMs: number;
  maxInstances: number;
}

const [location, schedulerId, leaseTimeArg, tasksArg] = process.argv.slice(2);
if (
  location === undefined ||
  schedulerId === undefined ||
  leaseTimeArg === undefined ||
  tasksArg === undefined
)
  throw new Error('usage: pg-fleet-worker.ts <schema|url> <schedulerId> <leaseTimeMs> <tasks JSON>');
const tasks = JSON.parse(tasksArg) as TaskSpec[];
const workMs = new Map(tasks.map((task) => [task.id, task.workMs]));

const print = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);

/** Log records at warn and above, as JSON lines on stdout. */
const logLines = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const text of chunk.toString('utf8').split('\n')) {
      if (text.trim() === '') continue;
      const record = JSON.parse(text) as { level: number; msg: string };
      print({ event: 'log', level: record.level, msg: record.msg, pid: process.pid });
    }
    done();
  },
});

async function work(): Promise<void> {
  const run = currentRun();
  const taskId = run?.taskId as string;
  const scheduled = run?.scheduledRunTime.getTime();
  print({ event: 'run', taskId, scheduled, at: Date.now(), pid: process.pid });
  await new Promise((resolve) => setTimeout(resolve, workMs.get(taskId) ?? 0));
  print({ event: 'end', taskId, scheduled, at: Date.now(), pid: process.pid });
}

/** A one-off task the parent adds through its own store: records where and when it ran. */
function ping(id: string): void {
  print({ event: 'ping', id, at: Date.now(), pid: process.pid });
}

const scheduler = new Scheduler({
  stores: { default: openStore('postgres', location) },
  functions: { work, ping },
  schedulerId,
  leaseTime: Number(leaseTimeArg),
  logger: pino({ level: 'warn' }, logLines),
});

scheduler.on('task:max-instances', (event) =>
  print({
    event: 'skipped',
    taskId: event.taskId,
    scheduled: event.scheduledRunTime.getTime(),
    at: Date.now(),
  }),
);
scheduler.on('task:missed', (event) =>
  print({
    event: 'missed',
    taskId: event.taskId,
    scheduled: event.scheduledRunTimes.map((time) => time.getTime()),
    at: Date.now(),
  }),
);
scheduler.on('task:error', (event) =>
  print({ event: 'task-error', taskId: event.taskId, error: String(event.error), at: Date.now() }),
);
scheduler.on('store:error', (event) =>
  print({ event: 'store-error', error: String(event.error), at: Date.now() }),
);

for (const task of tasks) {
  await scheduler.addTask('work', {
    id: task.id,
    trigger: new IntervalTrigger({ milliseconds: task.intervalMs }),
    coalesce: false,
    misfireGraceTime: null,
    maxInstances: task.maxInstances,
    replaceExisting: true,
  });
}

process.on('SIGTERM', () => {
  void scheduler.shutdown({ timeout: 2000 }).then(() => {
    print({ event: 'stopped', at: Date.now(), pid: process.pid });
    process.exit(0);
  });
});
await scheduler.start();
print({ event: 'started', at: Date.now(), pid: process.pid });
