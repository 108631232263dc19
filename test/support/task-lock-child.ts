// One process of a fleet sharing a lifecycle task guarded by a FileLock (`addTask(gen, { lock })`): prints one JSON
// line per event, `{ event, pid, t }` with `t` = Date.now(): `ready` once the task is declared, `setup`, `fire`,
// `cleanup` (printed at the end of a cleanup that takes CLEANUP_MS, so a release made before it would show), and
// `shutdown` once SIGTERM's `scheduler.shutdown()` resolved; it then lingers LINGER_MS before exiting, so that a
// lock left held by the shut-down scheduler would stay held (an exiting process releases its file locks anyway).
import { FileLock, IntervalTrigger, Scheduler } from '../../src/index.js';

const CLEANUP_MS = 1200;
const LINGER_MS = 5000;

const [lockPath] = process.argv.slice(2);
const print = (event: string) => console.log(JSON.stringify({ event, pid: process.pid, t: Date.now() }));

async function* fleetTask() {
  print('setup');
  try {
    for (;;) {
      yield;
      print('fire');
    }
  } finally {
    await new Promise((resolve) => setTimeout(resolve, CLEANUP_MS));
    print('cleanup');
  }
}

const scheduler = new Scheduler();
await scheduler.start();
await scheduler.addTask(fleetTask, {
  id: 'fleet',
  trigger: new IntervalTrigger({ milliseconds: 100 }),
  lock: new FileLock(lockPath as string, { stale: 2000, update: 1000 }),
});
print('ready');
process.once('SIGTERM', () => {
  void scheduler.shutdown().then(() => {
    print('shutdown');
    setTimeout(() => process.exit(0), LINGER_MS);
  });
});
