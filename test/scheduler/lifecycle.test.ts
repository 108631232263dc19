// Lifecycle tasks (API.md "Lifecycle tasks"): setup, one resume per fire, return() on remove and shutdown.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DateTrigger, IntervalTrigger, type RunContext, Scheduler, ValueError } from '../../src/index.js';
import { payloads, recordEvents, silentLogger } from '../support/events.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const everySecond = () => new IntervalTrigger({ seconds: 1 });

describe('lifecycle tasks', () => {
  let scheduler: Scheduler;
  let log: string[];
  beforeEach(() => {
    vi.useFakeTimers({ now: T0 });
    scheduler = new Scheduler({ logger: silentLogger, timezone: 'UTC' });
    log = [];
  });
  afterEach(async () => {
    if (scheduler.running) await scheduler.shutdown({ wait: false });
    vi.useRealTimers();
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
    const seen = recordEvents(scheduler, 'task:executed');
    await scheduler.start();
    await scheduler.addTask(connection, { id: 'db', args: ['db'], trigger: everySecond() });
    expect(log).toEqual(['open db']);
    await vi.advanceTimersByTimeAsync(2000);
    expect(log).toEqual(['open db', 'fire 1 at 1000', 'fire 2 at 2000']);
    expect(payloads(seen, 'task:executed').map((e) => e.result)).toEqual(['fire 1 done', 'fire 2 done']);
  });

  it('setup of a task added before start runs at start()', async () => {
    await scheduler.addTask(connection, { args: ['early'], trigger: everySecond() });
    expect(log).toEqual([]);
    await scheduler.start();
    expect(log).toEqual(['open early']);
  });

  it('removing the task calls return(), so finally runs', async () => {
    const seen = recordEvents(scheduler, 'task:removed');
    await scheduler.start();
    await scheduler.addTask(connection, { id: 'db', args: ['db'], trigger: everySecond() });
    await vi.advanceTimersByTimeAsync(1000);
    await scheduler.removeTask('db');
    expect(log).toEqual(['open db', 'fire 1 at 1000', 'close db']);
    expect(payloads(seen, 'task:removed').map((e) => e.taskId)).toEqual(['db']);
    await vi.advanceTimersByTimeAsync(3000);
    expect(log).toHaveLength(3);
  });

  it('shutdown calls return() on every lifecycle task', async () => {
    await scheduler.start();
    await scheduler.addTask(connection, { args: ['a'], trigger: everySecond() });
    await scheduler.addTask(connection, { args: ['b'], trigger: everySecond() });
    await scheduler.shutdown();
    expect(log).toEqual(['open a', 'open b', 'close a', 'close b']);
  });

  it('a generator that returns ends the task (removed), its last value is the result', async () => {
    const seen = recordEvents(scheduler, 'task:executed', 'task:removed');
    function* twice() {
      yield;
      yield 'first';
      return 'last';
    }
    await scheduler.start();
    await scheduler.addTask(twice, { id: 'two', trigger: everySecond() });
    await vi.advanceTimersByTimeAsync(5000);
    expect(payloads(seen, 'task:executed').map((e) => e.result)).toEqual(['first', 'last']);
    expect(payloads(seen, 'task:removed').map((e) => e.taskId)).toEqual(['two']);
    expect(await scheduler.getTask('two')).toBeUndefined();
  });

  it('a fire that throws ends the task with task:error, and finally runs', async () => {
    const seen = recordEvents(scheduler, 'task:error', 'task:removed');
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
    await vi.advanceTimersByTimeAsync(3000);
    expect(payloads(seen, 'task:error')[0]?.error).toHaveProperty('message', 'broken pipe');
    expect(payloads(seen, 'task:removed').map((e) => e.taskId)).toEqual(['f']);
    expect(log).toEqual(['cleaned']);
  });

  it('a setup that throws rejects addTask and adds nothing', async () => {
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
    const seen = recordEvents(scheduler, 'task:max-instances');
    async function* slow() {
      for (;;) {
        yield;
        await new Promise((resolve) => setTimeout(resolve, 1500));
      }
    }
    await scheduler.start();
    const task = await scheduler.addTask(slow, { trigger: everySecond(), maxInstances: 5 });
    expect(task.maxInstances).toBe(1);
    await vi.advanceTimersByTimeAsync(2000);
    expect(payloads(seen, 'task:max-instances')).toHaveLength(1);
  });

  it('retries on a lifecycle task are a ValueError', async () => {
    function* gen() {
      yield;
    }
    await expect(
      scheduler.addTask(gen, { trigger: new DateTrigger(T0 + 10), retries: { max: 1 } }),
    ).rejects.toBeInstanceOf(ValueError);
  });
});
