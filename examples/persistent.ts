/**
 * A service whose tasks survive restarts, kept in SQLite. Run it twice:
 *
 *   npx tsx examples/persistent.ts 12    # runs 12 s, then shuts down (no number: until Ctrl-C)
 *   npx tsx examples/persistent.ts 12    # finds its tasks again, with their next run times
 *
 * The second run adds nothing: it finds both tasks in ./data/kairos-example.db, and catches up on the runs
 * it missed while stopped by the misfire rules. Delete the file to start afresh.
 */
import { Scheduler, type TaskOptions } from '../src/index.js';
import { SQLiteStore } from '../stores/sqlite.js';

// A persistent store keeps a function's name, never its code: tasks refer to these by name.
const functions = {
  sendReport: (team: string) => console.log(`${new Date().toISOString()}  report sent to ${team}`),
  heartbeat: () => console.log(`${new Date().toISOString()}  heartbeat`),
};

const scheduler = new Scheduler({
  stores: { default: new SQLiteStore({ path: './data/kairos-example.db' }) },
  functions,
  timezone: 'Europe/Berlin',
});
scheduler.on('task:missed', (event) =>
  console.log(`missed ${event.count} run(s) of '${event.taskId}' while stopped`),
);
await scheduler.start();

/** Adds a task unless an earlier run stored it: replacing it would reset its schedule and lose missed runs. */
async function ensureTask(id: string, fn: keyof typeof functions, options: TaskOptions): Promise<void> {
  const found = await scheduler.getTask(id);
  if (found === undefined) await scheduler.addTask(fn, { ...options, id });
  console.log(`${found === undefined ? 'added' : 'found'} '${id}'`);
}

await ensureTask('weekday-report', 'sendReport', {
  trigger: { type: 'cron', expression: '0 9 * * 1-5' }, // 09:00 Berlin time, Monday to Friday
  args: ['ops'],
  misfireGraceTime: { hours: 1 }, // after a longer outage, skip that day's report
});
await ensureTask('heartbeat', 'heartbeat', {
  trigger: { type: 'interval', seconds: 5 },
  misfireGraceTime: null, // any lateness is fine: one catch-up run (coalesced) after a restart
});
for (const task of await scheduler.getTasks()) {
  console.log(`  ${task.id}: next run ${task.nextRunTime?.toISOString() ?? '(paused)'}`);
}

const stop = () => void scheduler.shutdown().then(() => console.log('stopped; run me again'));
process.once('SIGINT', stop);
const seconds = Number(process.argv[2]);
if (seconds > 0) setTimeout(stop, seconds * 1000);
