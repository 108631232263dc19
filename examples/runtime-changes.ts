/**
 * Changing tasks while the scheduler runs: add, reschedule, pause, resume, update and remove.
 *   npx tsx examples/runtime-changes.ts
 */
import { IntervalTrigger, Scheduler } from '../src/index.js';

const scheduler = new Scheduler();
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

scheduler.on('task:executed', ({ taskId }) => console.log(`${elapsed()}  ran ${taskId}`));
for (const name of ['task:added', 'task:modified', 'task:removed'] as const) {
  scheduler.on(name, ({ taskId }) => console.log(`${elapsed()}  ${name} ${taskId}`));
}

await scheduler.start();
const poll = await scheduler.addTask(() => {}, {
  id: 'poll',
  trigger: new IntervalTrigger({ milliseconds: 500 }),
});
await sleep(1200);

console.log('-- reschedule to every 250 ms');
await poll.reschedule(new IntervalTrigger({ milliseconds: 250 }));
await sleep(800);

console.log('-- pause for 1 s');
await scheduler.pauseTask('poll');
await sleep(1000);

console.log('-- resume');
await scheduler.resumeTask('poll');
await sleep(600);

console.log('-- update: new name and arguments');
await scheduler.updateTask('poll', { name: 'poll v2', args: ['v2'] });
console.log('   now:', (await scheduler.getTask('poll'))?.name);

console.log('-- remove');
await scheduler.removeTask('poll');
await sleep(500);
await scheduler.shutdown();
