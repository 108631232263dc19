/**
 * A child process for test/stores/exactly-once.test.ts:
 * `node --import tsx test/support/exactly-once-worker.ts <file|sqlite|postgres> <location> <schedulerId> <leaseTimeMs> <lockStaleMs> <seed>`.
 *
 * At boot, before `start()` (so the tasks are pending and written at start), it declares the deployment's ten
 * tasks `t0..t9` with `replaceExisting: true`, exactly as every other process of the deployment does: the
 * function `record` by name, every 200 ms with no `startAt`, `coalesce: false`, `misfireGraceTime: null`,
 * `maxInstances: 1`. Then it prints JSON lines on stdout (a pipe: each write is synchronous on Linux, so a
 * line printed survives a SIGKILL right after it):
 * - `{ event: 'run', taskId, scheduled, at, pid }` as the first action of each run;
 * - `{ event: 'skipped', taskId, scheduled, at, pid }` for each `task:max-instances` (a scheduled time
 *   dispatched but not run because a run of the task was in progress, maybe one of a killed process);
 * - `{ event: 'missed', taskId, count, scheduled: number[], at, pid }` for each `task:missed`;
 * - `{ event: 'task-error' | 'store-error', ... }` (diagnostics);
 * - `{ event: 'started', at, pid }` once running; on SIGTERM it shuts down and prints `{ event: 'stopped' }`.
 */
import { pino } from 'pino';
import { currentRun } from '../../src/context.js';
import { Scheduler } from '../../src/scheduler.js';
import { IntervalTrigger } from '../../src/triggers/interval.js';
import { openStore } from './store-open.js';

const [kind, path, schedulerId, leaseTimeArg, lockStaleArg, seedArg] = process.argv.slice(2);
if (
  kind === undefined ||
  path === undefined ||
  schedulerId === undefined ||
  leaseTimeArg === undefined ||
  lockStaleArg === undefined ||
  seedArg === undefined
) {
  throw new Error(
    'usage: exactly-once-worker.ts <file|sqlite|postgres> <location> <schedulerId> <leaseTimeMs> <lockStaleMs> <seed>',
  );
}

/** The deployment's tasks: the same ids and definition in every process. */
const TASK_IDS = Array.from({ length: 10 }, (_, index) => `t${index}`);
const INTERVAL_MS = 200;

const print = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);

/** A small LCG, so that the work durations of a child are reproducible from its seed. */
let state = Number(seedArg) >>> 0;
const random = () => {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
  return state / 2 ** 32;
};

async function record(): Promise<void> {
  const run = currentRun();
  print({
    event: 'run',
    taskId: run?.taskId,
    scheduled: run?.scheduledRunTime.getTime(),
    at: Date.now(),
    pid: process.pid,
  });
  await new Promise((resolve) => setTimeout(resolve, 5 + Math.floor(random() * 26)));
}

const scheduler = new Scheduler({
  stores: { default: openStore(kind, path, { lockStale: Number(lockStaleArg) }) },
  functions: { record },
  schedulerId,
  leaseTime: Number(leaseTimeArg),
  logger: pino({ level: process.env.KAIROS_LOG_LEVEL ?? 'silent' }, pino.destination(2)),
});

scheduler.on('task:max-instances', (event) => {
  print({
    event: 'skipped',
    taskId: event.taskId,
    scheduled: event.scheduledRunTime.getTime(),
    at: Date.now(),
    pid: process.pid,
  });
});
scheduler.on('task:missed', (event) => {
  print({
    event: 'missed',
    taskId: event.taskId,
    count: event.count,
    scheduled: event.scheduledRunTimes.map((time) => time.getTime()),
    at: Date.now(),
    pid: process.pid,
  });
});
scheduler.on('task:error', (event) => {
  print({
    event: 'task-error',
    taskId: event.taskId,
    scheduled: event.scheduledRunTime.getTime(),
    error: String(event.error),
    at: Date.now(),
    pid: process.pid,
  });
});
scheduler.on('store:error', (event) => {
  print({ event: 'store-error', error: String(event.error), at: Date.now(), pid: process.pid });
});

// The declaration every process of the deployment makes at boot, before start().
for (const id of TASK_IDS) {
  await scheduler.addTask('record', {
    id,
    trigger: new IntervalTrigger({ milliseconds: INTERVAL_MS }),
    coalesce: false,
    misfireGraceTime: null,
    maxInstances: 1,
    replaceExisting: true,
  });
}

process.on('SIGTERM', () => {
  void scheduler.shutdown().then(() => {
    print({ event: 'stopped', at: Date.now(), pid: process.pid });
    process.exit(0);
  });
});
await scheduler.start();
print({ event: 'started', at: Date.now(), pid: process.pid });
