// A scheduler process guarded by a dispatch lock: prints "fire <pid>" on each run of a 100 ms interval task.
import { FileLock, IntervalTrigger, Scheduler } from '../../src/index.js';

const [lockPath] = process.argv.slice(2);
const scheduler = new Scheduler({ lock: new FileLock(lockPath as string, { stale: 2000, update: 1000 }) });
await scheduler.start();
await scheduler.addTask(() => console.log(`fire ${process.pid}`), {
  trigger: new IntervalTrigger({ milliseconds: 100 }),
});
console.log(`ready ${process.pid}`);
process.once('SIGTERM', () => void scheduler.shutdown({ wait: false }).then(() => process.exit(0)));
