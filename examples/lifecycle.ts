/**
 * A lifecycle task: setup before the first `yield`, one resume per fire, cleanup in `finally`
 * (on removal or shutdown). Here the "connection" is a stand-in for a database client.
 *   npx tsx examples/lifecycle.ts
 */
import { IntervalTrigger, type RunContext, Scheduler } from '../src/index.js';

async function* syncOrders(region: string) {
  const connection = { region, queries: 0 }; // setup: open the connection once
  console.log(`[${region}] connected`);
  try {
    for (;;) {
      const run = (yield connection.queries) as RunContext; // each fire resumes here
      connection.queries++;
      console.log(`[${region}] fire at ${run.scheduledRunTime.toISOString()}: query #${connection.queries}`);
    }
  } finally {
    console.log(`[${region}] connection closed after ${connection.queries} queries`); // cleanup
  }
}

const scheduler = new Scheduler();
await scheduler.start();
await scheduler.addTask(syncOrders, {
  id: 'orders-eu',
  args: ['eu'],
  trigger: new IntervalTrigger({ milliseconds: 400 }),
});
await new Promise((resolve) => setTimeout(resolve, 1500));
await scheduler.shutdown(); // calls return() on the generator: its finally block runs
