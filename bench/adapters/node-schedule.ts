/** node-schedule: `scheduleJob(date | cron | { rule, tz }, fn)`, `job.cancel()`, `gracefulShutdown()`. */
import { createRequire } from 'node:module';
import schedule from 'node-schedule';
import { type Adapter, packageVersion } from './adapter.js';

export async function create(): Promise<Adapter> {
  const jobs = new Map<number, schedule.Job>();
  const require = createRequire(createRequire(import.meta.url).resolve('node-schedule'));
  return {
    name: 'node-schedule',
    version: await packageVersion('node-schedule'),
    removeAllHow: 'gracefulShutdown() (cancels every job)',
    cronHow: 'its cron-parser 4: parseExpression(expr, { tz }).next()',
    async start() {},
    once(key, at, fire) {
      jobs.set(key, schedule.scheduleJob(new Date(at), fire));
    },
    cron(key, expression, timezone, fire) {
      jobs.set(key, schedule.scheduleJob({ rule: expression, tz: timezone }, fire));
    },
    everySecond(key, fire) {
      jobs.set(key, schedule.scheduleJob('* * * * * *', fire));
      return 0;
    },
    nextRun(key) {
      const next = jobs.get(key)?.nextInvocation();
      return next ? new Date(next as unknown as Date).getTime() : undefined;
    },
    remove(key) {
      jobs.get(key)?.cancel();
      jobs.delete(key);
    },
    async removeAll() {
      await schedule.gracefulShutdown();
      jobs.clear();
    },
    async shutdown() {
      await schedule.gracefulShutdown();
    },
    async cronStepper(expression, timezone) {
      // node-schedule parses cron with cron-parser 4 and keeps no public stepping API of its own.
      const parser = require('cron-parser') as {
        parseExpression(
          expr: string,
          options: { currentDate: Date; tz: string },
        ): { next(): { getTime(): number } };
      };
      let iterator: { next(): { getTime(): number } } | null = null;
      let last = Number.NaN;
      return (previous) => {
        if (iterator === null || previous !== last) {
          iterator = parser.parseExpression(expression, { currentDate: new Date(previous), tz: timezone });
        }
        last = iterator.next().getTime();
        return last;
      };
    },
  };
}
