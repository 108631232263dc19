/**
 * kairos: `scheduler.addTask(fn, { trigger, id })` (a `DateTrigger`, `IntervalTrigger` or `CronTrigger`, on the
 * default MemoryStore), `removeTask`, `removeAllTasks`. Imports the modules it
 * uses directly from src/ (the same code `kairos` exports), with a silent pino logger. Run history is on (the
 * default) unless the variant turns it off.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { Scheduler, type SchedulerOptions } from '../../src/scheduler.js';
import { CronTrigger } from '../../src/triggers/cron.js';
import { DateTrigger } from '../../src/triggers/date.js';
import { IntervalTrigger } from '../../src/triggers/interval.js';
import type { Adapter } from './adapter.js';

/** kairos' version from the repository's package.json (found from the working directory when bundled). */
function kairosVersion(): string {
  for (const candidate of [
    new URL('../../package.json', import.meta.url),
    join(process.cwd(), 'package.json'),
  ]) {
    try {
      return (JSON.parse(readFileSync(candidate, 'utf8')) as { version: string }).version;
    } catch {
      // try the next
    }
  }
  return '?';
}

/** The kairos adapter; `options` (adapter.ts' `kairosOptions`) make a variant, e.g. `{ history: false }`. */
export async function create(
  options: Pick<SchedulerOptions, 'history'> = {},
): Promise<Adapter & { scheduler: Scheduler }> {
  const scheduler = new Scheduler({ logger: pino({ level: 'silent' }), ...options });
  const id = (key: number) => `t${key}`;
  return {
    name: 'kairos',
    version: kairosVersion(),
    removeAllHow: 'removeAllTasks()',
    cronHow: 'new CronTrigger(expr, { timezone }).getNextFireTime(previous, previous)',
    scheduler,
    async start() {
      await scheduler.start();
    },
    // As its users call it: `await scheduler.addTask(…)` (the returned promise is awaited by the scenario).
    once(key, at, fire) {
      return scheduler.addTask(fire, { trigger: new DateTrigger(at), id: id(key) });
    },
    async cron(key, expression, timezone, fire) {
      await scheduler.addTask(fire, { trigger: new CronTrigger(expression, { timezone }), id: id(key) });
    },
    async everySecond(key, fire) {
      // A one-second grid on whole seconds; a startAt already past starts at the next grid point.
      const startAt = Math.ceil(Date.now() / 1000) * 1000;
      await scheduler.addTask(fire, {
        trigger: new IntervalTrigger({ seconds: 1 }, { startAt }),
        id: id(key),
      });
      return 0;
    },
    async nextRun(key) {
      return (await scheduler.getTask(id(key)))?.nextRunTime?.getTime();
    },
    remove(key) {
      return scheduler.removeTask(id(key));
    },
    async removeAll() {
      await scheduler.removeAllTasks();
    },
    async shutdown() {
      if (scheduler.running) await scheduler.shutdown({ wait: false });
    },
    async cronStepper(expression, timezone) {
      const trigger = new CronTrigger(expression, { timezone });
      return (previous) => {
        const at = new Date(previous);
        return trigger.getNextFireTime(at, at)?.getTime() ?? null;
      };
    },
  };
}
