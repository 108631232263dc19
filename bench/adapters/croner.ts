/** croner: `new Cron(date | pattern, { timezone }?, fn)`, `job.stop()`, `job.nextRun()`. */
import { Cron } from 'croner';
import { type Adapter, packageVersion } from './adapter.js';

export async function create(): Promise<Adapter> {
  const jobs = new Map<number, Cron>();
  return {
    name: 'croner',
    version: await packageVersion('croner'),
    removeAllHow: 'job.stop() for each job (no bulk remove)',
    cronHow: 'new Cron(expr, { timezone }).nextRun(previous)',
    async start() {},
    once(key, at, fire) {
      jobs.set(key, new Cron(new Date(at), fire));
    },
    cron(key, expression, timezone, fire) {
      jobs.set(key, new Cron(expression, { timezone }, fire));
    },
    everySecond(key, fire) {
      jobs.set(key, new Cron('* * * * * *', fire));
      return 0;
    },
    nextRun(key) {
      return jobs.get(key)?.nextRun()?.getTime();
    },
    remove(key) {
      jobs.get(key)?.stop();
      jobs.delete(key);
    },
    removeAll() {
      for (const job of jobs.values()) job.stop();
      jobs.clear();
    },
    async shutdown() {
      for (const job of jobs.values()) job.stop();
      jobs.clear();
    },
    async cronStepper(expression, timezone) {
      const job = new Cron(expression, { timezone, paused: true });
      return (previous) => job.nextRun(new Date(previous))?.getTime() ?? null;
    },
  };
}
