/**
 * toad-scheduler: interval jobs only (`SimpleIntervalJob`, `LongIntervalJob` past setInterval's limit), and
 * its cron jobs are croner's (S5 and S1-cron: N/A).
 *
 * It has no one-shot task; its users make one as an interval job whose first run is at the due time (the delay
 * until then) and that stops itself after that run: the task calls `scheduler.removeById(id)` (which stops the
 * job's timer and unregisters it). S1 and S2 measure that.
 */
import { LongIntervalJob, SimpleIntervalJob, Task, ToadScheduler } from 'toad-scheduler';
import { wallNow } from '../lib/clock.js';
import { type Adapter, type Fire, packageVersion } from './adapter.js';

const MAX_TIMER = 2 ** 31 - 1;

export async function create(): Promise<Adapter> {
  const scheduler = new ToadScheduler();
  /** An interval job with id `t<key>` and its first run `delayMs` from now (a long one past setInterval's limit). */
  const addInterval = (key: number, delayMs: number, task: Task) => {
    const id = `t${key}`;
    if (delayMs >= MAX_TIMER) {
      scheduler.addLongIntervalJob(new LongIntervalJob({ milliseconds: delayMs }, task, { id }));
    } else {
      scheduler.addSimpleIntervalJob(new SimpleIntervalJob({ milliseconds: delayMs }, task, { id }));
    }
  };
  return {
    name: 'toad-scheduler',
    version: await packageVersion('toad-scheduler'),
    removeAllHow: 'scheduler.stop() (stops every job)',
    onceHow:
      'an interval job (`SimpleIntervalJob`, its interval the delay until the due time) that stops itself after ' +
      'its first run (`scheduler.removeById(id)` in the task)',
    async start() {},
    once(key, at, fire: Fire) {
      const id = `t${key}`;
      const task = new Task(id, () => {
        try {
          fire();
        } finally {
          scheduler.removeById(id);
        }
      });
      // setInterval takes at least 1 ms; a time already past runs at the next tick of 1 ms.
      addInterval(key, Math.max(1, at - Date.now()), task);
    },
    everySecond(key, fire) {
      const origin = wallNow();
      scheduler.addSimpleIntervalJob(
        new SimpleIntervalJob({ seconds: 1 }, new Task(`t${key}`, fire), { id: `t${key}` }),
      );
      return origin;
    },
    intervalFromNow(key, delayMs, fire) {
      addInterval(key, delayMs, new Task(`t${key}`, fire));
    },
    nextRun() {
      return undefined;
    },
    remove(key) {
      scheduler.removeById(`t${key}`);
    },
    removeAll() {
      scheduler.stop();
    },
    async shutdown() {
      scheduler.stop();
    },
  };
}
