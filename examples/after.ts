/**
 * Tasks that run after others (`AfterTrigger`), as a small ETL chain: `extract` runs every second (its second
 * run fails), `transform` after each successful extract, `alert` after a failed one, and `publish` is a join: it
 * runs once both `transform` and `prices` have succeeded since it last ran. Runs about 3 s.
 *
 *   npx tsx examples/after.ts
 */
import { pino } from 'pino';
import { AfterTrigger, IntervalTrigger, Scheduler, ValueError } from '../src/index.js';

const started = Date.now();
/** Prints a line with the time since the start. */
function say(message: string): void {
  console.log(`+${String(Date.now() - started).padStart(4)} ms  ${message}`);
}

// Log level 'silent': the failed run is printed from `task:error` below instead of the error log.
const scheduler = new Scheduler({ timezone: 'UTC', logger: pino({ level: 'silent' }) });
scheduler.on('task:executed', ({ taskId, result }) => say(`${taskId.padEnd(9)} ok: ${result}`));
scheduler.on('task:error', ({ taskId, error }) =>
  say(`${taskId.padEnd(9)} FAILED: ${(error as Error).message}`),
);
await scheduler.start();

let batch = 0;
await scheduler.addTask(
  () => {
    batch++;
    if (batch === 2) throw new Error(`source unreachable (batch ${batch})`);
    return `batch ${batch} extracted`;
  },
  { id: 'extract', trigger: new IntervalTrigger({ seconds: 1 }) },
);
await scheduler.addTask(() => `batch ${batch} transformed`, {
  id: 'transform',
  trigger: new AfterTrigger('extract'), // default outcome: 'success'
});
await scheduler.addTask(() => 'on-call paged', {
  id: 'alert',
  trigger: new AfterTrigger('extract', { outcome: 'failure' }),
});
await scheduler.addTask(() => 'prices fetched', {
  id: 'prices',
  trigger: new IntervalTrigger({ seconds: 1.5 }),
});
await scheduler.addTask(() => 'report published', {
  id: 'publish',
  trigger: new AfterTrigger(['transform', 'prices']), // a join
});

// A dependent has no time of its own: it is waiting, not paused.
const transform = await scheduler.getTask('transform');
say(`transform: nextRunTime ${transform?.nextRunTime}, paused ${transform?.paused}`);

// A cycle is refused, naming it.
try {
  await scheduler.updateTask('extract', { trigger: new AfterTrigger('publish') });
} catch (error) {
  if (!(error instanceof ValueError)) throw error;
  say(`cycle refused: ${error.message}`);
}

await new Promise((resolve) => setTimeout(resolve, 3200));
await scheduler.shutdown();
