/**
 * toad-scheduler: interval jobs only (`SimpleIntervalJob`, `LongIntervalJob` past setInterval's limit).
 * No one-shot task, and its cron jobs are croner's: those scenarios are N/A.
 */
import { LongIntervalJob, SimpleIntervalJob, Task, ToadScheduler } from 'toad-scheduler';
import { wallNow } from '../lib/clock.js';
import { type Adapter, packageVersion } from './adapter.js';

const MAX_TIMER = 2 ** 31 - 1;

export async function create(): Promise<Adapter> {
  const scheduler = new ToadScheduler();
  return {
    name: 'toad-scheduler',
    version: await packageVersion('toad-scheduler'),
    removeAllHow: 'scheduler.stop() (stops every job)',
    async start() {},
    everySecond(key, fire) {
      const origin = wallNow();
      scheduler.addSimpleIntervalJob(
        new SimpleIntervalJob({ seconds: 1 }, new Task(`t${key}`, fire), { id: `t${key}` }),
      );
      return origin;
    },
    intervalFromNow(key, delayMs, fire) {
      const task = new Task(`t${key}`, fire);
      if (delayMs >= MAX_TIMER) {
        scheduler.addLongIntervalJob(new LongIntervalJob({ milliseconds: delayMs }, task, { id: `t${key}` }));
      } else {
        scheduler.addSimpleIntervalJob(
          new SimpleIntervalJob({ milliseconds: delayMs }, task, { id: `t${key}` }),
        );
      }
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
