// Lifecycle tasks (API.md "Lifecycle tasks"): setup, one resume per fire, return() on remove and shutdown.
import { beforeEach, describe, expect, it } from 'vitest';
import { DateTrigger, IntervalTrigger, type RunContext, ValueError } from '../../src/index.js';
import { payloads } from '../support/events.js';
import { T0, useFakeClock } from '../support/fake-clock.js';

const everySecond = () => new IntervalTrigger({ seconds: 1 });

describe('lifecycle tasks', () => {
  const clock = useFakeClock();
  let log: string[];
  beforeEach(() => {
    log = [];
  });

  async function* connection(name: string) {
    log.push(`open ${name}`);
    try {
      for (let fire = 1; ; fire++) {
        const context = (yield fire === 1 ? 'ready' : `fire ${fire - 1} done`) as RunContext;
        log.push(`fire ${fire} at ${context.scheduledRunTime.getTime() - T0}`);
      }
    } finally {
      log.push(`close ${name}`);
    }
  }

  it('setup runs when added to a running scheduler, each fire resumes once with the run context', async () => {
    const scheduler = clock.scheduler();
    const seen = clock.record(scheduler, 'task:executed');
    await scheduler.start();
    await scheduler.addTask(connection, { id: 'db', args: ['db'], trigger: everySecond() });
    expect(log).toEqual(['open db']);
    await clock.advance(2000);
    expect(log).toEqual(['open db', 'fire 1 at 1000', 'fire 2 at 2000']);
    expect(payloads(seen, 'task:executed').map((e) => e.result)).toEqual(['fire 1 done', 'fire 2 done']);
  });

  it('setup of a task added before start runs at start()', async () => {
    const scheduler = clock.scheduler();
    await scheduler.addTask(connection, { args: ['early'], trigger: everySecond() });
    expect(log).toEqual([]);
    await scheduler.start();
    expect(log).toEqual(['open early']);
  });

  it('removing the task calls return(), so finally runs', async () => {
    const scheduler = clock.scheduler();
    const seen = clock.record(scheduler, 'task:removed');
    await scheduler.start();
    await scheduler.addTask(connection, { id: 'db', args: ['db'], trigger: everySecond() });
    await clock.advance(1000);
    await scheduler.removeTask('db');
    expect(log).toEqual(['open db', 'fire 1 at 1000', 'close db']);
    expect(payloads(seen, 'task:removed').map((e) => e.taskId)).toEqual(['db']);
    await clock.advance(3000);
    expect(log).toHaveLength(3);
  });

  it('shutdown calls return() on every lifecycle task', async () => {
    const scheduler = clock.scheduler();
    await scheduler.start();
    await scheduler.addTask(connection, { args: ['a'], trigger: everySecond() });
    await scheduler.addTask(connection, { args: ['b'], trigger: everySecond() });
    await scheduler.shutdown();
    expect(log).toEqual(['open a', 'open b', 'close a', 'close b']);
  });

  it('a generator that returns ends the task (removed), its last value is the result', async () => {
    const scheduler = clock.scheduler();
    const seen = clock.record(scheduler, 'task:executed', 'task:removed');
    function* twice() {
      yield;
      yield 'first';
      return 'last';
    }
    await scheduler.start();
    await scheduler.addTask(twice, { id: 'two', trigger: everySecond() });
    await clock.advance(5000);
    expect(payloads(seen, 'task:executed').map((e) => e.result)).toEqual(['first', 'last']);
    expect(payloads(seen, 'task:removed').map((e) => e.taskId)).toEqual(['two']);
    expect(await scheduler.getTask('two')).toBeUndefined();
  });

  it('a fire that throws ends the task with task:error, and finally runs', async () => {
    const scheduler = clock.scheduler();
    const seen = clock.record(scheduler, 'task:error', 'task:removed');
    function* fragile() {
      try {
        yield;
        throw new Error('broken pipe');
      } finally {
        log.push('cleaned');
      }
    }
    await scheduler.start();
    await scheduler.addTask(fragile, { id: 'f', trigger: everySecond() });
    await clock.advance(3000);
    expect(payloads(seen, 'task:error')[0]?.error).toHaveProperty('message', 'broken pipe');
    expect(payloads(seen, 'task:removed').map((e) => e.taskId)).toEqual(['f']);
    expect(log).toEqual(['cleaned']);
  });

  it('a setup that throws rejects addTask and adds nothing', async () => {
    const scheduler = clock.scheduler();
    function* badSetup(): Generator<undefined> {
      if (Date.now() > 0) throw new Error('cannot connect');
      yield;
    }
    await scheduler.start();
    await expect(scheduler.addTask(badSetup, { id: 'bad', trigger: everySecond() })).rejects.toThrow(
      'cannot connect',
    );
    expect(await scheduler.getTask('bad')).toBeUndefined();
  });

  it('maxInstances is forced to 1: an overlapping fire is skipped', async () => {
    const scheduler = clock.scheduler();
    const seen = clock.record(scheduler, 'task:max-instances');
    async function* slow() {
      for (;;) {
        yield;
        await new Promise((resolve) => setTimeout(resolve, 1500));
      }
    }
    await scheduler.start();
    const task = await scheduler.addTask(slow, { trigger: everySecond(), maxInstances: 5 });
    expect(task.maxInstances).toBe(1);
    await clock.advance(2000);
    expect(payloads(seen, 'task:max-instances')).toHaveLength(1);
  });

  it('retries on a lifecycle task are a ValueError', async () => {
    const scheduler = clock.scheduler();
    function* gen() {
      yield;
    }
    await expect(
      scheduler.addTask(gen, { trigger: new DateTrigger(T0 + 10), retries: { max: 1 } }),
    ).rejects.toBeInstanceOf(ValueError);
  });

  // API.md "Lifecycle tasks": each fire resumes the generator once; a slow step holds only its own task (other
  // tasks keep their times), and setup may itself add tasks.
  it('a slow lifecycle step does not stall other tasks, and its setup may add tasks', async () => {
    const scheduler = clock.scheduler();
    const ticks: number[] = [];
    async function* slowSetup() {
      await scheduler.addTask(() => void ticks.push(clock.elapsed()), {
        id: 'tick',
        trigger: new IntervalTrigger({ milliseconds: 100 }, { startAt: T0 + 100 }),
      });
      for (;;) {
        yield;
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    }
    await scheduler.start();
    await scheduler.addTask(slowSetup, {
      id: 'slow',
      trigger: new IntervalTrigger({ hours: 1 }, { startAt: T0 + 50 }),
    });
    await clock.advance(1000);
    expect(ticks).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
    // Removal waits for the generator's cleanup (behind its 2 s step); other calls do not wait for it.
    const removing = scheduler.removeTask('slow');
    await scheduler.addTask(() => {}, { id: 'after', trigger: new DateTrigger(T0 + 5000) });
    expect((await scheduler.getTask('after'))?.id).toBe('after');
    expect(await scheduler.getTask('slow')).toBeUndefined();
    await clock.advance(2000);
    await removing;
  });

  // API.md "Lifecycle tasks": removing (here, replacing) the task calls return() on it; the replacement is the task
  // that stays.
  it('replacing a lifecycle task while it runs keeps the replacement', async () => {
    const scheduler = clock.scheduler();
    function makeGenerator(version: string) {
      return async function* () {
        try {
          for (;;) {
            yield;
            await new Promise((resolve) => setTimeout(resolve, 500));
            return 'done';
          }
        } finally {
          log.push(`close ${version}`);
        }
      };
    }
    await scheduler.start();
    await scheduler.addTask(makeGenerator('v1'), { id: 'life', trigger: new IntervalTrigger({ hours: 1 }) });
    await scheduler.runTaskNow('life');
    // Replacing waits for the old generator's cleanup, which waits for its step in progress.
    const replacing = scheduler.addTask(makeGenerator('v2'), {
      id: 'life',
      trigger: new IntervalTrigger({ hours: 1 }),
      replaceExisting: true,
    });
    await clock.advance(1000);
    await replacing;
    expect(log).toEqual(['close v1']);
    expect((await scheduler.getTask('life'))?.id).toBe('life');
  });

  // API.md "Lifecycle tasks": a generator is set up once and lives as long as its task; its fn and args cannot be
  // swapped under it, and a plain task cannot become one.
  it('the fn or args of a lifecycle task cannot be changed (nor a plain task turned into one)', async () => {
    const scheduler = clock.scheduler();
    function* gen() {
      yield;
    }
    await scheduler.start();
    await scheduler.addTask(gen, { id: 'g', trigger: new IntervalTrigger({ hours: 1 }) });
    await scheduler.addTask(() => {}, { id: 'plain', trigger: new IntervalTrigger({ hours: 1 }) });
    await expect(scheduler.updateTask('g', { fn: () => {} })).rejects.toBeInstanceOf(ValueError);
    await expect(scheduler.updateTask('g', { args: [1] })).rejects.toThrow(/'g'.*lifecycle/);
    await expect(scheduler.updateTask('plain', { fn: gen })).rejects.toBeInstanceOf(ValueError);
  });
});
