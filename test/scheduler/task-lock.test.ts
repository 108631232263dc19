// `addTask(generatorFn, { trigger, lock })`, one instance in the fleet (API.md "Lifecycle tasks across processes"),
// with a fake Lock on the fake clock: setup and fires only while the lock is held, tried every retryMs, the
// instance closed when the lock is lost and set up anew when it is won again, cleanup before release (removeTask,
// shutdown), a generator that ends releases the lock; and the validation of the option.
import { describe, expect, it } from 'vitest';
import {
  IntervalTrigger,
  MemoryStore,
  type RunContext,
  type TaskStore,
  ValueError,
} from '../../src/index.js';
import { payloads } from '../support/events.js';
import { useFakeClock } from '../support/fake-clock.js';
import { fakeLock } from '../support/fake-lock.js';

const every100ms = () => new IntervalTrigger({ milliseconds: 100 });

describe('lifecycle tasks with a lock', () => {
  const clock = useFakeClock();

  /** A lifecycle task that logs its setup ("setup N", N counting instances), fires and cleanup. */
  function instrumented(log: string[]) {
    let instances = 0;
    return async function* guarded() {
      const instance = ++instances;
      log.push(`setup ${instance}`);
      try {
        for (;;) {
          const run = (yield) as RunContext;
          log.push(`fire ${instance} ${run.scheduledRunTime.getTime() - Date.now() <= 0 ? 'due' : 'early'}`);
        }
      } finally {
        log.push(`cleanup ${instance}`);
      }
    };
  }

  it('while the lock is held elsewhere: no setup, fires skipped without error, tried every retryMs', async () => {
    const log: string[] = [];
    const fake = fakeLock({ log, retryMs: 250 });
    const scheduler = await clock.started();
    const seen = clock.record(scheduler, 'task:submitted', 'task:executed', 'task:error', 'task:missed');
    await scheduler.addTask(instrumented(log), { id: 'g', trigger: every100ms(), lock: fake.lock });
    expect(fake.state.tries).toBe(1);
    await clock.advance(1000);
    expect(log).toEqual([]);
    expect(seen).toEqual([]);
    expect(fake.state.tries).toBe(5); // at 0, 250, 500, 750, 1000 ms
    expect((await scheduler.getTask('g'))?.nextRunTime).not.toBeNull(); // its schedule goes on
  });

  it('once the lock is won: setup once, then every fire resumes the instance', async () => {
    const log: string[] = [];
    const fake = fakeLock({ log, retryMs: 250 });
    const scheduler = await clock.started();
    const seen = clock.record(scheduler, 'task:executed');
    await scheduler.addTask(instrumented(log), { id: 'g', trigger: every100ms(), lock: fake.lock });
    await clock.advance(300);
    fake.state.free = true;
    await clock.advance(200); // won at 500 ms
    expect(log.filter((line) => line.startsWith('setup'))).toEqual(['setup 1']);
    const firesBefore = log.filter((line) => line.startsWith('fire')).length;
    await clock.advance(1000);
    const fires = log.filter((line) => line.startsWith('fire'));
    expect(fires.length - firesBefore).toBe(10);
    expect(new Set(fires)).toEqual(new Set(['fire 1 due']));
    expect(payloads(seen, 'task:executed')).toHaveLength(fires.length);
    expect(fake.state.tries).toBe(3); // 0, 250, 500: no more once held
  });

  it('a lock held at addTask sets the task up before addTask resolves', async () => {
    const log: string[] = [];
    const fake = fakeLock({ log, retryMs: 250 });
    fake.state.free = true;
    const scheduler = await clock.started();
    await scheduler.addTask(instrumented(log), { trigger: every100ms(), lock: fake.lock });
    expect(log).toEqual(['setup 1']);
  });

  it('a lost lock closes the instance at once; the lock is tried again, and won again sets up anew', async () => {
    const log: string[] = [];
    const fake = fakeLock({ log, retryMs: 250 });
    fake.state.free = true;
    const scheduler = await clock.started();
    const seen = clock.record(scheduler, 'task:error', 'task:removed');
    await scheduler.addTask(instrumented(log), { id: 'g', trigger: every100ms(), lock: fake.lock });
    await clock.advance(250);
    const tries = fake.state.tries;
    fake.lose();
    await clock.advance(0);
    expect(log.slice(-2)).toEqual(['lost', 'cleanup 1']);
    expect(fake.state.tries - tries).toBe(1); // tried again at once
    const lines = log.length;
    await clock.advance(1000);
    expect(log).toHaveLength(lines); // no fire, no setup while someone else holds it
    expect(fake.state.tries - tries).toBe(5); // then every 250 ms
    fake.state.free = true;
    await clock.advance(250);
    expect(log.slice(lines)[0]).toBe('setup 2');
    await clock.advance(300);
    expect(log.slice(-3)).toEqual(['fire 2 due', 'fire 2 due', 'fire 2 due']);
    expect(seen).toEqual([]);
    expect(await scheduler.getTask('g')).toBeDefined();
  });

  it('removeTask cleans the instance up before it releases the lock, and stops trying', async () => {
    const log: string[] = [];
    const fake = fakeLock({ log, retryMs: 250 });
    fake.state.free = true;
    const scheduler = await clock.started();
    await scheduler.addTask(instrumented(log), { id: 'g', trigger: every100ms(), lock: fake.lock });
    await clock.advance(150);
    await scheduler.removeTask('g');
    expect(log).toEqual(['setup 1', 'fire 1 due', 'cleanup 1', 'release']);
    expect(fake.listeners.size).toBe(0);
    const tries = fake.state.tries;
    await clock.advance(2000);
    expect(fake.state.tries).toBe(tries);
  });

  it('removing a task that waits for its lock stops the tries', async () => {
    const log: string[] = [];
    const fake = fakeLock({ log, retryMs: 250 });
    const scheduler = await clock.started();
    await scheduler.addTask(instrumented(log), { id: 'g', trigger: every100ms(), lock: fake.lock });
    await scheduler.removeTask('g');
    fake.state.free = true;
    await clock.advance(2000);
    expect(fake.state.tries).toBe(1);
    expect(log).toEqual([]);
  });

  it('shutdown cleans the instance up before it releases the lock; start() tries again', async () => {
    const log: string[] = [];
    const fake = fakeLock({ log, retryMs: 250 });
    fake.state.free = true;
    const scheduler = await clock.started();
    await scheduler.addTask(instrumented(log), { id: 'g', trigger: every100ms(), lock: fake.lock });
    await clock.advance(150);
    await scheduler.shutdown();
    expect(log).toEqual(['setup 1', 'fire 1 due', 'cleanup 1', 'release']);
    expect(fake.listeners.size).toBe(0);
    const tries = fake.state.tries;
    await clock.advance(2000);
    expect(fake.state.tries).toBe(tries);
    await scheduler.start();
    expect(log.slice(4)).toEqual(['setup 2']);
    expect(fake.listeners.size).toBe(1);
  });

  it('a generator that returns ends the task (removed) and releases the lock', async () => {
    const log: string[] = [];
    const fake = fakeLock({ log, retryMs: 250 });
    fake.state.free = true;
    const scheduler = await clock.started();
    const seen = clock.record(scheduler, 'task:removed');
    async function* twice() {
      log.push('setup');
      try {
        yield;
        yield;
      } finally {
        log.push('cleanup');
      }
    }
    await scheduler.addTask(twice, { id: 'two', trigger: every100ms(), lock: fake.lock });
    await clock.advance(500);
    expect(log).toEqual(['setup', 'cleanup', 'release']);
    expect(payloads(seen, 'task:removed').map((event) => event.taskId)).toEqual(['two']);
    expect(await scheduler.getTask('two')).toBeUndefined();
    expect(fake.lock.held).toBe(false);
    expect(fake.listeners.size).toBe(0);
  });

  it('a setup that throws at addTask releases the lock, removes the task and rejects', async () => {
    const log: string[] = [];
    const fake = fakeLock({ log, retryMs: 250 });
    fake.state.free = true;
    const scheduler = await clock.started();
    async function* broken() {
      if (Date.now() > 0) throw new Error('cannot connect');
      yield;
    }
    await expect(
      scheduler.addTask(broken, { id: 'b', trigger: every100ms(), lock: fake.lock }),
    ).rejects.toThrow('cannot connect');
    expect(log).toEqual(['release']);
    expect(await scheduler.getTask('b')).toBeUndefined();
  });

  it('a setup that throws at a takeover is a task:error; the task ends here and the lock is released', async () => {
    const log: string[] = [];
    const fake = fakeLock({ log, retryMs: 250 });
    const scheduler = await clock.started();
    const seen = clock.record(scheduler, 'task:error', 'task:removed');
    async function* broken() {
      if (Date.now() > 0) throw new Error('cannot connect');
      yield;
    }
    await scheduler.addTask(broken, { id: 'b', trigger: every100ms(), lock: fake.lock });
    fake.state.free = true;
    await clock.advance(250);
    expect(payloads(seen, 'task:error').map((event) => (event.error as Error).message)).toEqual([
      'cannot connect',
    ]);
    expect(payloads(seen, 'task:removed').map((event) => event.taskId)).toEqual(['b']);
    expect(log).toEqual(['release']);
    expect(await scheduler.getTask('b')).toBeUndefined();
  });

  it('a task added before start() tries its lock at start', async () => {
    const log: string[] = [];
    const fake = fakeLock({ log, retryMs: 250 });
    fake.state.free = true;
    const scheduler = clock.scheduler();
    await scheduler.addTask(instrumented(log), { trigger: every100ms(), lock: fake.lock });
    expect(fake.state.tries).toBe(0);
    await scheduler.start();
    expect(log).toEqual(['setup 1']);
  });

  it('validation: lock on a plain task, a bad lock value, a persistent store, updateTask', async () => {
    const log: string[] = [];
    const fake = fakeLock({ log, retryMs: 250 });
    const persistent = Object.assign(new MemoryStore(), { persistent: true }) as unknown as TaskStore;
    const scheduler = await clock.started({ functions: { gen: instrumented(log) } });
    await scheduler.addStore('disk', persistent);
    const plain = scheduler.addTask(() => {}, { id: 'plain', trigger: every100ms(), lock: fake.lock });
    await expect(plain).rejects.toBeInstanceOf(ValueError);
    await expect(plain).rejects.toThrow(/task 'plain': lock applies only to a lifecycle task/);
    for (const bad of [7, '', { tryAcquire: () => true }, null]) {
      const added = scheduler.addTask(instrumented(log), { trigger: every100ms(), lock: bad as never });
      await expect(added).rejects.toBeInstanceOf(ValueError);
      await expect(added).rejects.toThrow(
        `lock must be a Lock (an object with tryAcquire, release, on and off functions, a boolean held and, if any, a retryMs of at least 1 ms) or a lock file path, got ${bad === '' ? '""' : JSON.stringify(bad)}`,
      );
    }
    const stored = scheduler.addTask('gen', {
      id: 'd',
      store: 'disk',
      trigger: every100ms(),
      lock: fake.lock,
    });
    // A lifecycle task is refused by a persistent store anyway; with a lock it would be, too (the lock is not stored).
    await expect(stored).rejects.toBeInstanceOf(ValueError);
    await expect(stored).rejects.toThrow(/task 'd': a .*lives only in a/);
    await scheduler.addTask(instrumented(log), { id: 'g', trigger: every100ms(), lock: fake.lock });
    const changed = scheduler.updateTask('g', { lock: fakeLock({ log, retryMs: 250 }).lock } as never);
    await expect(changed).rejects.toBeInstanceOf(ValueError);
    await expect(changed).rejects.toThrow(/the lock of task 'g' cannot be changed/);
    await expect(scheduler.updateTask('g', { store: 'disk' })).rejects.toThrow(ValueError);
    expect(fake.state.tries).toBe(1); // only 'g' tried it
  });

  it('tasks without a lock are untouched by a locked one that stands by', async () => {
    const log: string[] = [];
    const fake = fakeLock({ log, retryMs: 250 });
    const scheduler = await clock.started();
    const seen = clock.record(scheduler, 'task:executed');
    await scheduler.addTask(instrumented(log), { id: 'g', trigger: every100ms(), lock: fake.lock });
    await scheduler.addTask(() => 'plain', { id: 'p', trigger: every100ms() });
    await clock.advance(1000);
    expect(payloads(seen, 'task:executed').map((event) => event.taskId)).toEqual(Array(10).fill('p'));
  });
});
