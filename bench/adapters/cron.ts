/** cron (kelektiv): `CronJob.from({ cronTime: date | pattern, onTick, start: true, timeZone? })`, `job.stop()`. */
import { CronJob, CronTime } from 'cron';
import { type Adapter, packageVersion } from './adapter.js';

export async function create(): Promise<Adapter> {
  const jobs = new Map<number, CronJob>();
  return {
    name: 'cron',
    version: await packageVersion('cron'),
    removeAllHow: 'job.stop() for each job (no bulk remove)',
    cronHow: 'new CronTime(expr, tz).getNextDateFrom(previous, tz)',
    async start() {},
    once(key, at, fire) {
      jobs.set(key, CronJob.from({ cronTime: new Date(at), onTick: fire, start: true }));
    },
    cron(key, expression, timezone, fire) {
      jobs.set(key, CronJob.from({ cronTime: expression, onTick: fire, start: true, timeZone: timezone }));
    },
    everySecond(key, fire) {
      jobs.set(key, CronJob.from({ cronTime: '* * * * * *', onTick: fire, start: true }));
      return 0;
    },
    nextRun(key) {
      const job = jobs.get(key);
      return job?.isActive ? job.nextDate().toMillis() : undefined;
    },
    remove(key) {
      void jobs.get(key)?.stop();
      jobs.delete(key);
    },
    removeAll() {
      for (const job of jobs.values()) void job.stop();
      jobs.clear();
    },
    async shutdown() {
      for (const job of jobs.values()) void job.stop();
      jobs.clear();
    },
    async cronStepper(expression, timezone) {
      const time = new CronTime(expression, timezone);
      return (previous) => time.getNextDateFrom(new Date(previous), timezone).toMillis();
    },
  };
}
