/**
 * Tags: labels on tasks. `getTasks({ tag })` selects tasks by one, `updateTask` changes them, and each run's
 * record in the history keeps the tags the task had when it ran. Runs about 1.5 s.
 *
 *   npx tsx examples/tags.ts
 */
import { IntervalTrigger, Scheduler } from '../src/index.js';

const scheduler = new Scheduler({ timezone: 'UTC' });
await scheduler.start();

const everySecond = new IntervalTrigger({ seconds: 1 });
await scheduler.addTask(() => 'reindexed', { id: 'reindex', trigger: everySecond, tags: ['db', 'nightly'] });
await scheduler.addTask(() => 'vacuumed', { id: 'vacuum', trigger: everySecond, tags: ['db'] });
await scheduler.addTask(() => 'mailed', { id: 'digest', trigger: everySecond, tags: ['email'] });
await scheduler.addTask(() => 'pinged', { id: 'ping', trigger: everySecond }); // no tags

/** Prints the ids of the tasks that have `tag`. */
async function listTagged(tag: string): Promise<void> {
  const ids = (await scheduler.getTasks({ tag })).map((task) => task.id);
  console.log(`tag '${tag}'`.padEnd(16), ids.join(', ') || '(none)');
}

await listTagged('db');
await listTagged('nightly');
await listTagged('email');

// Tags change like any other option; duplicates are dropped.
await scheduler.updateTask('digest', { tags: ['email', 'db', 'db'] });
console.log(`digest's tags now: ${(await scheduler.getTask('digest'))?.tags.join(', ')}`);
await listTagged('db');

// Let every task run once (the first fires are 1 s after adding), then read the run history.
await new Promise((resolve) => setTimeout(resolve, 1300));
console.log('run history:');
for (const run of await scheduler.getRuns()) {
  console.log(`  ${run.taskId.padEnd(8)} ${run.outcome.padEnd(8)} tags: ${run.tags?.join(', ') ?? '(none)'}`);
}

await scheduler.shutdown();
