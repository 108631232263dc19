/**
 * Quickstart: a service with an interval task, a cron task in New York time and a one-shot task,
 * shutting down gracefully on SIGTERM / Ctrl-C. `npm run demo` runs it for about ten seconds.
 *
 *   npx tsx examples/quickstart.ts            # stops after 10 s
 *   DEMO_SECONDS=0 npx tsx examples/quickstart.ts   # runs until Ctrl-C
 */
import { CronTrigger, currentRun, DateTrigger, IntervalTrigger, Scheduler } from '../src/index.js';

const scheduler = new Scheduler({ timezone: 'UTC' });

/** Prints one fire with its scheduled and actual time. */
function report(label: string): void {
  const run = currentRun();
  const scheduled = run?.scheduledRunTime ?? new Date();
  const actual = new Date();
  const late = actual.getTime() - scheduled.getTime();
  console.log(
    `${label.padEnd(22)} scheduled ${scheduled.toISOString()}  ran ${actual.toISOString()}  (+${late} ms)`,
  );
}

scheduler.on('task:error', ({ taskId, error }) => console.error(`task ${taskId} failed:`, error));

await scheduler.start();
await scheduler.addTask(() => report('every 2 s (interval)'), {
  id: 'heartbeat',
  trigger: new IntervalTrigger({ seconds: 2 }),
});
await scheduler.addTask(() => report('*/3 s (cron, NY time)'), {
  id: 'report',
  trigger: new CronTrigger('*/3 * * * * *', { timezone: 'America/New_York' }),
});
await scheduler.addTask(() => report('once, in 5 s (date)'), {
  id: 'welcome',
  trigger: new DateTrigger(Date.now() + 5000),
});

console.log('kairos demo: tasks scheduled (Ctrl-C to stop)');
for (const task of await scheduler.getTasks()) {
  console.log(`  ${task.id.padEnd(10)} next run ${task.nextRunTime?.toISOString()}`);
}

let stopping = false;
async function stop(reason: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`${reason}: shutting down gracefully`);
  // Run history: each task's last runs, newest first.
  const runs = await scheduler.getRuns({ limit: 1000 });
  const outcomes = new Map<string, number>();
  for (const run of runs) outcomes.set(run.taskId, (outcomes.get(run.taskId) ?? 0) + 1);
  console.log(`run history: ${[...outcomes].map(([id, n]) => `${id} ${n} runs`).join(', ')}`);
  await scheduler.shutdown({ wait: true, timeout: 5000 });
  console.log('bye');
}
process.once('SIGTERM', () => void stop('SIGTERM'));
process.once('SIGINT', () => void stop('SIGINT'));

const seconds = Number(process.env.DEMO_SECONDS ?? 10);
if (seconds > 0) setTimeout(() => void stop(`${seconds} s elapsed`), seconds * 1000);
