// Bad input at the Scheduler's boundary (API.md, "Input types"): a clear, typed error that names the bad value,
// never a silent default and never a TypeError; and what a stopped scheduler can and cannot answer.
import { afterEach, describe, expect, it } from 'vitest';
import {
  CronTrigger,
  DateTrigger,
  IntervalTrigger,
  MemoryStore,
  Scheduler,
  SchedulerNotRunningError,
  SerializationError,
  ShutdownTrigger,
  TaskLookupError,
  ValueError,
} from '../../src/index.js';
import type { SQLiteStore } from '../../stores/sqlite.js';
import { type StoreBacking, selectedStores } from '../stores/harness.js';
import { silentLogger } from '../support/events.js';

const every = new IntervalTrigger({ minutes: 1 });

describe('Scheduler options', () => {
  it('rejects a logger that is not a pino logger, naming what it needs', () => {
    expect(() => new Scheduler({ logger: {} as never })).toThrow(ValueError);
    expect(() => new Scheduler({ logger: {} as never })).toThrow(/logger must be a pino logger/);
  });

  it('leaseTime: a duration of at least 1 s', () => {
    expect(new Scheduler({ leaseTime: { seconds: 5 }, logger: silentLogger }).leaseTimeMs).toBe(5000);
    expect(new Scheduler({ logger: silentLogger }).leaseTimeMs).toBe(30_000);
    expect(() => new Scheduler({ leaseTime: 10 })).toThrow(/leaseTime must be at least 1000 ms, got 10/);
    expect(() => new Scheduler({ leaseTime: 'soon' })).toThrow(ValueError);
  });

  it('rejects unknown and ill-typed options of start() and shutdown()', async () => {
    const scheduler = new Scheduler({ logger: silentLogger });
    await expect(scheduler.start({ pause: true } as never)).rejects.toThrow(/unknown option 'pause'/);
    await expect(scheduler.start({ paused: 'yes' } as never)).rejects.toThrow(ValueError);
    await scheduler.start();
    await expect(scheduler.shutdown({ wiat: false } as never)).rejects.toThrow(/unknown option 'wiat'/);
    await expect(scheduler.shutdown(null as never)).rejects.toThrow(ValueError);
    expect(scheduler.running).toBe(true);
    await scheduler.shutdown();
  });
});

describe('task options', () => {
  let scheduler: Scheduler;
  afterEach(async () => {
    if (scheduler.running) await scheduler.shutdown({ wait: false });
  });

  async function started(options: ConstructorParameters<typeof Scheduler>[0] = {}): Promise<Scheduler> {
    scheduler = new Scheduler({ logger: silentLogger, timezone: 'UTC', ...options });
    await scheduler.start();
    return scheduler;
  }

  it('replaceExisting must be a boolean', async () => {
    await started();
    await expect(
      scheduler.addTask(() => {}, { trigger: every, replaceExisting: 'yes' as never }),
    ).rejects.toThrow(/replaceExisting must be true or false, got "yes"/);
  });

  it('timeout must be longer than 0 ms', async () => {
    await started();
    await expect(scheduler.addTask(() => {}, { trigger: every, timeout: 0 })).rejects.toThrow(
      /timeout must be longer than 0 ms/,
    );
  });

  it('a trigger that can never fire is a ValueError at addTask, naming the task', async () => {
    await started();
    const never = [
      new CronTrigger('0 0 * * *', { endAt: '2020-01-01T00:00:00Z' }),
      new CronTrigger('0 0 0 1 1 * 2020'),
      new CronTrigger('0 0 0 29 2 * 2100'),
      new IntervalTrigger({ minutes: 1 }, { startAt: '2020-01-01T00:00:00Z', endAt: '2020-01-02T00:00:00Z' }),
    ];
    for (const [index, trigger] of never.entries()) {
      const added = scheduler.addTask(() => {}, { id: `never-${index}`, trigger });
      await expect(added).rejects.toThrow(ValueError);
      await expect(added).rejects.toThrow(new RegExp(`task 'never-${index}'.*never run`));
    }
    expect(await scheduler.getTasks()).toEqual([]);
    // Given as a new trigger of an existing task, too.
    await scheduler.addTask(() => {}, { id: 'ok', trigger: every });
    await expect(scheduler.rescheduleTask('ok', never[0] as CronTrigger)).rejects.toThrow(ValueError);
    await expect(scheduler.updateTask('ok', { trigger: never[1] as CronTrigger })).rejects.toThrow(
      ValueError,
    );
  });

  it('a custom trigger that throws or returns something other than a Date is a ValueError naming the task', async () => {
    await started();
    const throwing = {
      getNextFireTime: () => {
        throw new RangeError('boom');
      },
      toJSON: () => ({ type: 'date', runAt: '' }),
    };
    const odd = { getNextFireTime: () => 12345, toJSON: () => ({ type: 'date', runAt: '' }) };
    await expect(scheduler.addTask(() => {}, { id: 'x', trigger: throwing as never })).rejects.toThrow(
      /task 'x': its trigger threw: boom/,
    );
    await expect(scheduler.addTask(() => {}, { id: 'y', trigger: odd as never })).rejects.toThrow(
      /task 'y': its trigger's getNextFireTime returned 12345, not a Date/,
    );
  });

  it('a custom trigger that fails later, at a wake-up, is reported as a ValueError and its task paused', async () => {
    await started();
    const seen: unknown[] = [];
    scheduler.on('task:error', (event) => void seen.push(event.error));
    let calls = 0;
    const flaky = {
      getNextFireTime: (previous: Date | null) => {
        calls++;
        if (previous === null && calls === 1) return new Date(Date.now() + 20);
        throw new RangeError('out of fire times');
      },
      toJSON: () => ({ type: 'date' as const, runAt: '' }),
    };
    await scheduler.addTask(() => {}, { id: 'flaky', trigger: flaky as never });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBeInstanceOf(ValueError);
    expect(String((seen[0] as Error).message)).toMatch(/task 'flaky': its trigger failed: out of fire times/);
    expect((await scheduler.getTask('flaky'))?.nextRunTime).toBeNull();
  });

  it('updateTask rejects unknown keys and non-objects', async () => {
    await started();
    await scheduler.addTask(() => {}, { id: 'a', trigger: every });
    await expect(scheduler.updateTask('a', { bogus: 1 } as never)).rejects.toThrow(/unknown option 'bogus'/);
    await expect(scheduler.updateTask('a', { replaceExisting: true } as never)).rejects.toThrow(ValueError);
    await expect(scheduler.updateTask('a', [] as never)).rejects.toThrow(ValueError);
  });

  it('a ShutdownTrigger task lives only in a MemoryStore', async () => {
    const backing = await (
      selectedStores().find((kind) => kind.name === 'sqlite') as { setUp(): Promise<StoreBacking> }
    ).setUp();
    try {
      await started({
        stores: { default: new MemoryStore(), db: backing.open() },
        functions: { job: () => {} },
      });
      await expect(scheduler.addTask('job', { trigger: new ShutdownTrigger(), store: 'db' })).rejects.toThrow(
        /ShutdownTrigger task lives only in a MemoryStore/,
      );
      await scheduler.addTask('job', { trigger: new ShutdownTrigger() });
      // A hole of a sparse array would come back as null: not JSON, refused like a Date.
      // biome-ignore lint/suspicious/noSparseArray: the hole is the point.
      const sparse = [1, , 3];
      await expect(scheduler.addTask('job', { trigger: every, store: 'db', args: sparse })).rejects.toThrow(
        SerializationError,
      );
      await expect(
        scheduler.addTask('job', { trigger: every, store: 'db', args: [{ list: sparse }] }),
      ).rejects.toThrow(SerializationError);
    } finally {
      await scheduler.shutdown();
      await backing.cleanUp();
    }
  });

  it('moving a task to another store while it runs is refused (maxInstances would not hold)', async () => {
    await started({ stores: { default: new MemoryStore(), other: new MemoryStore() } });
    let release = () => {};
    const running = new Promise<void>((resolve) => {
      release = resolve;
    });
    await scheduler.addTask(() => running, { id: 'busy', trigger: new DateTrigger(Date.now() + 60_000) });
    await scheduler.runTaskNow('busy');
    await expect(scheduler.updateTask('busy', { store: 'other' })).rejects.toThrow(/has a run in progress/);
    release();
    await new Promise((resolve) => setTimeout(resolve, 10));
    const moved = await scheduler.updateTask('busy', { store: 'other' });
    expect(moved.store).toBe('other');
    expect(await scheduler.getTask('busy', { store: 'default' })).toBeUndefined();
  });
});

describe('a stopped scheduler', () => {
  it('after shutdown, reading or changing stored tasks is a SchedulerNotRunningError until the next start', async () => {
    const scheduler = new Scheduler({ logger: silentLogger, stores: { default: new MemoryStore() } });
    await scheduler.start();
    await scheduler.addTask(() => {}, { id: 'a', trigger: every });
    await scheduler.shutdown();
    await expect(scheduler.getTask('a')).rejects.toThrow(SchedulerNotRunningError);
    await expect(scheduler.getTasks()).rejects.toThrow(SchedulerNotRunningError);
    await expect(scheduler.removeTask('a')).rejects.toThrow(SchedulerNotRunningError);
    await expect(scheduler.updateTask('a', { args: [1] })).rejects.toThrow(SchedulerNotRunningError);
    await expect(scheduler.pauseTask('a')).rejects.toThrow(SchedulerNotRunningError);
    await expect(scheduler.removeAllTasks()).rejects.toThrow(SchedulerNotRunningError);
    await scheduler.start();
    expect((await scheduler.getTask('a'))?.id).toBe('a');
    await scheduler.removeTask('a');
    await expect(scheduler.removeTask('a')).rejects.toThrow(TaskLookupError);
    await scheduler.shutdown();
  });

  it('before the first start, pending tasks can be read and changed', async () => {
    const scheduler = new Scheduler({ logger: silentLogger });
    await scheduler.addTask(() => {}, { id: 'p', trigger: every });
    expect((await scheduler.getTasks()).map((task) => [task.id, task.pending])).toEqual([['p', true]]);
    expect((await scheduler.updateTask('p', { args: [1] })).args).toEqual([1]);
    expect(await scheduler.getTask('nope')).toBeUndefined();
  });

  it('an SQLiteStore task survives a restart of the scheduler and is seen again after start', async () => {
    const backing = await (
      selectedStores().find((kind) => kind.name === 'sqlite') as { setUp(): Promise<StoreBacking> }
    ).setUp();
    try {
      const scheduler = new Scheduler({
        logger: silentLogger,
        stores: { default: backing.open() as SQLiteStore },
        functions: { job: () => {} },
      });
      await scheduler.start();
      await scheduler.addTask('job', { id: 'kept', trigger: every });
      await scheduler.shutdown();
      await expect(scheduler.getTask('kept')).rejects.toThrow(SchedulerNotRunningError);
      await scheduler.start();
      expect((await scheduler.getTask('kept'))?.id).toBe('kept');
      await scheduler.shutdown();
    } finally {
      await backing.cleanUp();
    }
  });
});

describe('selectors and registries', () => {
  it('a typo in a { store } selector is a ValueError, never "no filter" (removeAllTasks would empty every store)', async () => {
    const scheduler = new Scheduler({
      logger: silentLogger,
      stores: { a: new MemoryStore(), b: new MemoryStore() },
    });
    await scheduler.start();
    try {
      await scheduler.addTask(() => {}, { id: 't', trigger: every, store: 'a' });
      await scheduler.addTask(() => {}, { id: 'u', trigger: every, store: 'b' });
      await expect(scheduler.removeAllTasks({ stor: 'a' } as never)).rejects.toThrow(/unknown option 'stor'/);
      await expect(scheduler.removeAllTasks(null as never)).rejects.toThrow(ValueError);
      for (const call of [
        () => scheduler.getTask('t', { stor: 'a' } as never),
        () => scheduler.removeTask('t', 'a' as never),
        () => scheduler.pauseTask('t', { stor: 'a' } as never),
        () => scheduler.updateTask('t', { args: [] }, { stor: 'a' } as never),
        () => scheduler.runTaskNow('t', { store: 5 } as never),
      ]) {
        await expect(call()).rejects.toThrow(ValueError);
      }
      expect((await scheduler.getTasks()).map((task) => task.id).sort()).toEqual(['t', 'u']);
    } finally {
      await scheduler.shutdown();
    }
  });

  it('stores, executors and functions must be objects of aliases; MemoryStore takes no options', () => {
    expect(() => new Scheduler({ stores: 5 as never })).toThrow(/stores must be an object of aliases, got 5/);
    expect(() => new Scheduler({ stores: [] as never })).toThrow(ValueError);
    expect(() => new Scheduler({ executors: 'abc' as never })).toThrow(ValueError);
    expect(() => new MemoryStore({ bogus: 1 } as never)).toThrow(/MemoryStore: unknown option 'bogus'/);
    expect(() => new MemoryStore('x' as never)).toThrow(ValueError);
  });

  it('retries.maxDelay shorter than the first delay is a ValueError', async () => {
    const scheduler = new Scheduler({ logger: silentLogger });
    await expect(
      scheduler.addTask(() => {}, { trigger: every, retries: { max: 1, delay: 5000, maxDelay: 10 } }),
    ).rejects.toThrow(/maxDelay 10 is shorter than the first delay \(5000 ms\)/);
  });
});
