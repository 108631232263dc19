/**
 * Hooks: `onSuccess`, `onFailure` and `onRetry` on a task, called with the payload of `task:executed`,
 * `task:error` and `task:retry` of each of its runs. A hook is a function, or the name of one registered in the
 * scheduler's `functions`. A hook that throws is logged and changes nothing. Runs about 2 s.
 *
 *   npx tsx examples/hooks.ts
 */
import { pino } from 'pino';
import { DateTrigger, IntervalTrigger, Scheduler, type TaskExecutedEvent } from '../src/index.js';

const started = Date.now();
/** Prints a line with the time since the start. */
function say(message: string): void {
  console.log(`+${String(Date.now() - started).padStart(4)} ms  ${message}`);
}

/** A hook registered by name. A persistent store (SQLite, File, PostgreSQL) keeps hooks by name, never code. */
function notifyChat(event: TaskExecutedEvent): void {
  say(
    `  [hook notifyChat] '${event.taskId}' succeeded in ${event.durationMs.toFixed(1)} ms, result ${JSON.stringify(event.result)}`,
  );
}

// The scheduler's log, one short line per entry (by default it is JSON on stderr).
const logger = pino({ level: 'warn' }, { write: (line: string) => say(`  [log] ${JSON.parse(line).msg}`) });
const scheduler = new Scheduler({ timezone: 'UTC', functions: { notifyChat }, logger });
await scheduler.start();
const soon = () => new DateTrigger(Date.now() + 100);

// Fails twice, then succeeds: onRetry after each retried failure, then onSuccess (here, by name).
let calls = 0;
await scheduler.addTask(
  () => {
    calls++;
    say(`flaky: attempt ${calls}`);
    if (calls < 3) throw new Error(`upstream busy (${calls})`);
    return { rows: 42 };
  },
  {
    id: 'flaky',
    trigger: soon(),
    retries: { max: 2, delay: 200 },
    onRetry: (event) =>
      say(
        `  [hook onRetry] attempt ${event.attempt} failed (${(event.error as Error).message}), retry in ${event.delayMs} ms`,
      ),
    onSuccess: 'notifyChat',
  },
);
say(`flaky's hooks: ${JSON.stringify((await scheduler.getTask('flaky'))?.hooks)}`); // the name is kept

// Always fails, no retries: onFailure once.
await scheduler.addTask(
  () => {
    throw new Error('disk full');
  },
  {
    id: 'backup',
    trigger: soon(),
    onFailure: (event) =>
      say(`  [hook onFailure] '${event.taskId}' failed: ${(event.error as Error).message}`),
  },
);

// A hook that throws: logged by the scheduler ("its onSuccess hook failed"), and nothing else changes: the run is
// still a success, `task:executed` is still emitted and the task keeps its schedule.
await scheduler.addTask(() => 'ok', {
  id: 'audited',
  trigger: new IntervalTrigger({ milliseconds: 600 }),
  onSuccess: () => {
    throw new Error('audit log unreachable');
  },
});
scheduler.on('task:executed', ({ taskId, result }) => {
  if (taskId === 'audited') say(`audited: task:executed, result ${JSON.stringify(result)}`);
});

await new Promise((resolve) => setTimeout(resolve, 1500));
const audited = await scheduler.getRuns({ taskId: 'audited' });
say(`audited: ${audited.length} runs, outcomes ${audited.map((run) => run.outcome).join(', ')}`);
say(`audited: still scheduled, next run ${(await scheduler.getTask('audited'))?.nextRunTime?.toISOString()}`);
await scheduler.shutdown();
