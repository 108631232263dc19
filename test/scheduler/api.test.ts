// The Scheduler table of API.md: runtime changes, lookups, store/executor management, and bad input.
import { describe, expect, it, vi } from 'vitest';
import {
  AsyncExecutor,
  ConflictingIdError,
  DateTrigger,
  ExecutorLookupError,
  IntervalTrigger,
  KairosError,
  MemoryStore,
  Scheduler,
  SchedulerAlreadyRunningError,
  SchedulerNotRunningError,
  SerializationError,
  StoreLookupError,
  TaskLookupError,
  type TaskStore,
  ValueError,
} from '../../src/index.js';
import { payloads, silentLogger } from '../support/events.js';
import { T0, useFakeClock } from '../support/fake-clock.js';

const noop = () => {};

describe('runtime changes', () => {
  const clock = useFakeClock();

  it('add, reschedule, pause, resume and remove while running', async () => {
    const scheduler = await clock.started();
    const seen = clock.record(scheduler, 'task:added', 'task:modified', 'task:removed', 'task:submitted');
    const task = await scheduler.addTask(noop, { id: 'job', trigger: new IntervalTrigger({ seconds: 10 }) });
    expect(task).toMatchObject({
      id: 'job',
      name: 'noop',
      store: 'default',
      executor: 'default',
      pending: false,
    });
    expect(task.nextRunTime?.getTime()).toBe(T0 + 10_000);

    await clock.advance(10_000);
    const rescheduled = await task.reschedule(new IntervalTrigger({ seconds: 1 }));
    expect(rescheduled.nextRunTime?.getTime()).toBe(T0 + 11_000);
    await clock.advance(2000);

    const paused = await scheduler.pauseTask('job');
    expect(paused.nextRunTime).toBeNull();
    await clock.advance(5000);

    const resumed = await scheduler.resumeTask('job');
    expect(resumed.nextRunTime?.getTime()).toBe(T0 + 17_000);
    await clock.advance(1000);

    await scheduler.removeTask('job');
    await clock.advance(5000);
    const runs = payloads(seen, 'task:submitted').map((e) => (e.scheduledRunTime.getTime() - T0) / 1000);
    expect(runs).toEqual([10, 11, 12, 17, 18]);
    expect(seen.map(([name]) => name).filter((name) => name !== 'task:submitted')).toEqual([
      'task:added',
      'task:modified',
      'task:modified',
      'task:modified',
      'task:removed',
    ]);
  });

  it('a task rescheduled to fire sooner wakes the scheduler sooner', async () => {
    const scheduler = await clock.started();
    const seen = clock.record(scheduler, 'task:submitted');
    await scheduler.addTask(noop, { id: 'a', trigger: new DateTrigger(T0 + 3_600_000) });
    await scheduler.rescheduleTask('a', new DateTrigger(T0 + 500));
    await clock.advance(500);
    expect(payloads(seen, 'task:submitted')).toHaveLength(1);
  });

  it('updateTask changes options, keeps the id, and a new trigger recomputes the next run time', async () => {
    const scheduler = await clock.started();
    await scheduler.addTask(noop, { id: 'u', trigger: new IntervalTrigger({ minutes: 1 }) });
    const updated = await scheduler.updateTask('u', {
      name: 'renamed',
      args: [1],
      coalesce: false,
      misfireGraceTime: null,
      maxInstances: 3,
      timeout: { seconds: 5 },
      retries: { max: 2 },
      trigger: { type: 'interval', seconds: 30 },
    });
    expect(updated).toMatchObject({
      id: 'u',
      name: 'renamed',
      args: [1],
      coalesce: false,
      misfireGraceTime: null,
      maxInstances: 3,
      timeout: 5000,
    });
    expect(updated.retries).toEqual({
      max: 2,
      delayMs: 1000,
      backoff: 2,
      maxDelayMs: 3_600_000,
      jitter: false,
    });
    expect(updated.nextRunTime?.getTime()).toBeGreaterThan(T0);
    expect(updated.nextRunTime?.getTime()).toBeLessThanOrEqual(T0 + 30_000);
    await expect(scheduler.updateTask('u', { id: 'x' } as never)).rejects.toBeInstanceOf(ValueError);
  });

  it('updateTask can move a task to another store', async () => {
    const scheduler = await clock.started();
    await scheduler.addStore('other', new MemoryStore());
    await scheduler.addTask(noop, { id: 'm', trigger: new IntervalTrigger({ minutes: 1 }) });
    const moved = await scheduler.updateTask('m', { store: 'other' });
    expect(moved.store).toBe('other');
    expect(await scheduler.getTask('m', { store: 'default' })).toBeUndefined();
    expect((await scheduler.getTask('m', { store: 'other' }))?.id).toBe('m');
  });

  // API.md "Scheduler": resume recomputes the next run time from now; a date still ahead is that date.
  it('resuming a task recomputes its next run time from now: a date trigger still ahead fires at its date', async () => {
    const scheduler = await clock.started();
    const seen = clock.record(scheduler, 'task:submitted');
    await scheduler.addTask(noop, { id: 'd', trigger: new DateTrigger(T0 + 100), nextRunTime: null });
    await clock.advance(50);
    const resumed = await scheduler.resumeTask('d');
    expect(resumed.nextRunTime?.getTime()).toBe(T0 + 100);
    await clock.advance(50);
    expect(payloads(seen, 'task:submitted').map((e) => e.scheduledRunTime.getTime())).toEqual([T0 + 100]);
  });

  // API.md "Dispatch semantics": a trigger with no fire time left removes the task, when it is resumed too.
  it('resuming a task whose trigger has no fire time left removes it', async () => {
    const scheduler = await clock.started();
    await scheduler.addTask(() => {}, {
      id: 'spent',
      trigger: new IntervalTrigger({ seconds: 1 }, { startAt: T0 + 1000, endAt: T0 + 5000 }),
      nextRunTime: null,
    });
    await clock.advance(10_000);
    await scheduler.resumeTask('spent');
    expect(await scheduler.getTask('spent')).toBeUndefined();
  });

  it('ids: duplicate is ConflictingIdError, replaceExisting replaces', async () => {
    const scheduler = await clock.started();
    await scheduler.addTask(noop, { id: 'dup', trigger: new IntervalTrigger({ minutes: 1 }) });
    await expect(
      scheduler.addTask(noop, { id: 'dup', trigger: new IntervalTrigger({ minutes: 1 }) }),
    ).rejects.toBeInstanceOf(ConflictingIdError);
    const replaced = await scheduler.addTask(noop, {
      id: 'dup',
      name: 'new',
      trigger: new IntervalTrigger({ minutes: 2 }),
      replaceExisting: true,
    });
    expect(replaced.name).toBe('new');
    expect((await scheduler.getTasks()).map((t) => t.name)).toEqual(['new']);
  });

  it('unknown ids, stores and executors are lookup errors naming them', async () => {
    const scheduler = await clock.started();
    await expect(scheduler.removeTask('nope')).rejects.toThrow(TaskLookupError);
    await expect(scheduler.removeTask('nope')).rejects.toThrow(/'nope'/);
    await expect(scheduler.pauseTask('nope')).rejects.toBeInstanceOf(TaskLookupError);
    await expect(scheduler.runTaskNow('nope')).rejects.toBeInstanceOf(TaskLookupError);
    await expect(scheduler.getTasks({ store: 'nowhere' })).rejects.toThrow(/'nowhere'/);
    await expect(
      scheduler.addTask(noop, { trigger: new DateTrigger(T0), store: 'nowhere' }),
    ).rejects.toBeInstanceOf(StoreLookupError);
    await expect(
      scheduler.addTask(noop, { trigger: new DateTrigger(T0), executor: 'gpu' }),
    ).rejects.toBeInstanceOf(ExecutorLookupError);
    expect(await scheduler.getTask('nope')).toBeUndefined();
  });

  it('removeAllTasks empties the store and reports the ids', async () => {
    const scheduler = await clock.started();
    const seen = clock.record(scheduler, 'tasks:removed-all');
    await scheduler.addTask(noop, { id: 'a', trigger: new IntervalTrigger({ minutes: 1 }) });
    await scheduler.addTask(noop, { id: 'b', trigger: new IntervalTrigger({ minutes: 1 }) });
    await scheduler.removeAllTasks();
    expect(await scheduler.getTasks()).toEqual([]);
    expect(payloads(seen, 'tasks:removed-all')).toEqual([{ store: 'default', taskIds: ['a', 'b'] }]);
  });

  it('removeAllTasks removes a store of 250,000 tasks (their ids are never spread into one call)', async () => {
    const scheduler = await clock.started();
    await clock.advance(10);
    const seen = clock.record(scheduler, 'tasks:removed-all');
    const trigger = new DateTrigger(T0 + 86_400_000);
    for (let index = 0; index < 250_000; index++) await scheduler.addTask(noop, { id: `t${index}`, trigger });
    await scheduler.removeAllTasks();
    expect(await scheduler.getTasks()).toEqual([]);
    const [removed] = payloads(seen, 'tasks:removed-all') as Array<{ taskIds: string[] }>;
    expect(removed?.taskIds.length).toBe(250_000);
  }, 30_000);

  it('stores and executors: aliases are unique, events fire', async () => {
    const scheduler = await clock.started();
    const seen = clock.record(
      scheduler,
      'store:added',
      'store:removed',
      'executor:added',
      'executor:removed',
    );
    await scheduler.addStore('s2', new MemoryStore());
    await expect(scheduler.addStore('s2', new MemoryStore())).rejects.toBeInstanceOf(ValueError);
    await scheduler.addExecutor('e2', new AsyncExecutor());
    await expect(scheduler.addExecutor('e2', new AsyncExecutor())).rejects.toBeInstanceOf(ValueError);
    await scheduler.removeExecutor('e2');
    await scheduler.removeStore('s2');
    await expect(scheduler.removeStore('s2')).rejects.toBeInstanceOf(StoreLookupError);
    await expect(scheduler.removeExecutor('e2')).rejects.toBeInstanceOf(ExecutorLookupError);
    expect(seen).toEqual([
      ['store:added', { alias: 's2' }],
      ['executor:added', { alias: 'e2' }],
      ['executor:removed', { alias: 'e2' }],
      ['store:removed', { alias: 's2' }],
    ]);
  });

  // API.md "Scheduler": removeStore removes a store; a running scheduler closes it (its tasks stay in it).
  it('removeStore closes the store it removes, once, and it can then serve another scheduler', async () => {
    const extra = new MemoryStore();
    const close = vi.spyOn(extra, 'close');
    const scheduler = await clock.started({ stores: { default: new MemoryStore(), extra } });
    await scheduler.addTask(noop, {
      id: 'kept',
      trigger: new IntervalTrigger({ minutes: 1 }),
      store: 'extra',
    });
    await scheduler.removeStore('extra');
    expect(close).toHaveBeenCalledTimes(1);
    await scheduler.shutdown();
    expect(close).toHaveBeenCalledTimes(1);
    // Closed, the store is free: a MemoryStore serves one scheduler at a time, and still holds its task.
    const next = await clock.started({ stores: { default: extra } });
    expect((await next.getTasks()).map((task) => task.id)).toEqual(['kept']);
  });

  it('getTasks is sorted by next run time with paused tasks last', async () => {
    const scheduler = await clock.started();
    await scheduler.addTask(() => {}, { id: 'late', trigger: new DateTrigger(T0 + 9000) });
    await scheduler.addTask(() => {}, {
      id: 'paused',
      trigger: new DateTrigger(T0 + 1000),
      nextRunTime: null,
    });
    await scheduler.addTask(() => {}, { id: 'soon', trigger: new DateTrigger(T0 + 3000) });
    expect((await scheduler.getTasks()).map((t) => t.id)).toEqual(['soon', 'late', 'paused']);
    const paused = await scheduler.getTask('paused');
    expect(paused?.nextRunTime).toBeNull();
  });

  // API.md "Scheduler": getTasks() is sorted by next run time, paused last: over every store at once, not store by
  // store (ties by id).
  it('getTasks across several stores is one list by next run time, paused tasks last, ties by id', async () => {
    const scheduler = await clock.started({
      stores: { default: new MemoryStore(), second: new MemoryStore(), third: new MemoryStore() },
    });
    const add = (id: string, store: string, at: number | null) =>
      scheduler.addTask(noop, {
        id,
        store,
        trigger: new DateTrigger(T0 + (at ?? 1000)),
        ...(at === null ? { nextRunTime: null } : {}),
      });
    await add('d-late', 'default', 9000);
    await add('d-paused', 'default', null);
    await add('b-tie', 'default', 5000);
    await add('s-soon', 'second', 1000);
    await add('c-paused', 'second', null);
    await add('s-tie', 'second', 5000);
    await add('t-mid', 'third', 3000);
    await add('a-tie', 'third', 5000);
    await add('a-paused', 'third', null);
    const tasks = await scheduler.getTasks();
    expect(tasks.map((task) => `${task.id}@${task.store}`)).toEqual([
      's-soon@second',
      't-mid@third',
      'a-tie@third',
      'b-tie@default',
      's-tie@second',
      'd-late@default',
      'a-paused@third',
      'c-paused@second',
      'd-paused@default',
    ]);
  });

  it('start twice is SchedulerAlreadyRunningError; pause/resume emit events; scheduler state is readable', async () => {
    const scheduler = await clock.started();
    const seen = clock.record(scheduler, 'scheduler:paused', 'scheduler:resumed');
    await expect(scheduler.start()).rejects.toBeInstanceOf(SchedulerAlreadyRunningError);
    scheduler.pause();
    expect(scheduler.paused).toBe(true);
    scheduler.resume();
    expect([scheduler.running, scheduler.paused]).toEqual([true, false]);
    expect(seen.map(([name]) => name)).toEqual(['scheduler:paused', 'scheduler:resumed']);
  });

  it('once listens once; off stops listening', async () => {
    const scheduler = await clock.started();
    let once = 0;
    let on = 0;
    const listener = () => void on++;
    scheduler.once('task:added', () => void once++);
    scheduler.on('task:added', listener);
    await scheduler.addTask(noop, { trigger: new IntervalTrigger({ minutes: 1 }) });
    scheduler.off('task:added', listener);
    await scheduler.addTask(noop, { trigger: new IntervalTrigger({ minutes: 1 }) });
    expect([once, on]).toEqual([1, 1]);
  });
});

describe('not running', () => {
  it('shutdown, pause, resume and runTaskNow need a running scheduler', async () => {
    const scheduler = new Scheduler({ logger: silentLogger });
    await expect(scheduler.shutdown()).rejects.toBeInstanceOf(SchedulerNotRunningError);
    expect(() => scheduler.pause()).toThrow(SchedulerNotRunningError);
    expect(() => scheduler.resume()).toThrow(SchedulerNotRunningError);
    await expect(scheduler.runTaskNow('x')).rejects.toBeInstanceOf(SchedulerNotRunningError);
  });
});

describe('bad input: a ValueError naming the bad value, for every option', () => {
  const scheduler = new Scheduler({ logger: silentLogger });
  const trigger = new IntervalTrigger({ minutes: 1 });
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['trigger missing', {}, /trigger is required/],
    ['trigger not a trigger', { trigger: 42 }, /trigger.*42/],
    ['trigger spec of unknown type', { trigger: { type: 'weekly' } }, /"weekly"/],
    ['id empty', { trigger, id: '' }, /id must be a non-empty string/],
    ['id not a string', { trigger, id: 7 }, /id must be a non-empty string, got 7/],
    ['name', { trigger, name: 5 }, /name must be a non-empty string, got 5/],
    ['args', { trigger, args: 'x' }, /args must be an array, got "x"/],
    ['store', { trigger, store: 3 }, /store alias.*got 3/],
    ['executor', { trigger, executor: '' }, /executor must be a non-empty string/],
    ['coalesce', { trigger, coalesce: 'yes' }, /coalesce must be true or false, got "yes"/],
    ['misfireGraceTime negative', { trigger, misfireGraceTime: -1 }, /misfireGraceTime: -1/],
    ['misfireGraceTime NaN', { trigger, misfireGraceTime: Number.NaN }, /misfireGraceTime: NaN/],
    ['misfireGraceTime bad ISO', { trigger, misfireGraceTime: 'soon' }, /misfireGraceTime: "soon"/],
    ['maxInstances 0', { trigger, maxInstances: 0 }, /maxInstances must be an integer of at least 1, got 0/],
    ['maxInstances fractional', { trigger, maxInstances: 1.5 }, /got 1\.5/],
    ['nextRunTime', { trigger, nextRunTime: 'not a date' }, /nextRunTime: "not a date"/],
    ['replaceExisting typo', { trigger, replaceExsting: true }, /unknown option 'replaceExsting'/],
    ['retries not an object', { trigger, retries: 3 }, /retries must be an object.*got 3/],
    [
      'retries.max negative',
      { trigger, retries: { max: -1 } },
      /retries.max must be a non-negative integer, got -1/,
    ],
    ['retries.delay', { trigger, retries: { max: 1, delay: -5 } }, /retries.delay: -5/],
    ['retries.backoff', { trigger, retries: { max: 1, backoff: 0.5 } }, /retries.backoff.*got 0.5/],
    ['retries.maxDelay', { trigger, retries: { max: 1, maxDelay: 'PTX' } }, /retries.maxDelay: "PTX"/],
    [
      'retries.jitter',
      { trigger, retries: { max: 1, jitter: 1 } },
      /retries.jitter must be true or false, got 1/,
    ],
    ['retries unknown key', { trigger, retries: { max: 1, delays: 5 } }, /unknown option 'delays'/],
    ['timeout', { trigger, timeout: -100 }, /timeout: -100/],
  ];
  for (const [label, options, message] of cases) {
    it(label, async () => {
      const added = scheduler.addTask(noop, options as never);
      await expect(added).rejects.toBeInstanceOf(KairosError);
      await expect(added).rejects.toThrow(message);
    });
  }

  it('fn that is neither a function, a registered name nor a module reference', async () => {
    await expect(scheduler.addTask('nope' as never, { trigger })).rejects.toThrow(/fn "nope" is neither/);
    await expect(scheduler.addTask(42 as never, { trigger })).rejects.toThrow(
      /fn must be a function.*got 42/,
    );
  });

  it('constructor options', () => {
    expect(() => new Scheduler({ timezone: 'Mars/Olympus' })).toThrow(/unknown timezone "Mars\/Olympus"/);
    expect(() => new Scheduler({ taskDefaults: { maxInstances: 0 } })).toThrow(
      /taskDefaults.maxInstances.*got 0/,
    );
    expect(() => new Scheduler({ taskDefaults: { misfireGraceTime: -2 } })).toThrow(
      /taskDefaults.misfireGraceTime: -2/,
    );
    expect(() => new Scheduler({ taskDefaults: { coalesce: 1 as never } })).toThrow(/taskDefaults.coalesce/);
    expect(() => new Scheduler({ taskDefaults: { grace: 1 } as never })).toThrow(/unknown option 'grace'/);
    expect(() => new Scheduler({ stores: { default: {} as TaskStore } })).toThrow(
      /stores.default: .* is not a TaskStore/,
    );
    const sharedWithoutSlots = Object.assign(new MemoryStore(), { shared: true });
    expect(() => new Scheduler({ stores: { default: sharedWithoutSlots as unknown as TaskStore } })).toThrow(
      /stores.default: .* is not a shared TaskStore \(it lacks run slots or run requests\)/,
    );
    expect(() => new Scheduler({ executors: { default: 1 as never } })).toThrow(
      /executors.default: 1 is not an Executor/,
    );
    expect(() => new Scheduler({ functions: { f: 'x' as never } })).toThrow(
      /functions: 'f' is not a function/,
    );
    expect(() => new Scheduler({ schedulerId: '' })).toThrow(/schedulerId must be a non-empty string/);
    expect(() => new Scheduler({ lock: 7 as never })).toThrow(
      /lock must be a Lock \(.*\) or a lock file path, got 7/,
    );
    expect(() => new Scheduler({ colour: 'blue' } as never)).toThrow(/unknown option 'colour'/);
    expect(() => new AsyncExecutor({ concurrency: 0 })).toThrow(/concurrency.*got 0/);
  });

  it('a MemoryStore serves one scheduler at a time (it keeps no run slots: its scheduler counts runs)', async () => {
    const store = new MemoryStore();
    const first = new Scheduler({ logger: silentLogger, stores: { default: store } });
    const second = new Scheduler({ logger: silentLogger, stores: { jobs: store } });
    await first.start();
    await expect(second.start()).rejects.toThrow(
      /MemoryStore 'jobs': this store is already open in a scheduler \(as 'default'\)/,
    );
    expect(second.running).toBe(false);
    // The failed start closed nothing it had not opened: the store is still the first scheduler's.
    await expect(second.start()).rejects.toThrow(/already open/);
    await first.shutdown();
    await second.start();
    expect(second.running).toBe(true);
    await second.shutdown();
  });

  it('a persistent store refuses closures and non-JSON args with SerializationError naming the task', async () => {
    const persistent = Object.assign(new MemoryStore(), { persistent: true });
    const named = (..._args: unknown[]) => {};
    const s = new Scheduler({
      logger: silentLogger,
      stores: { default: persistent as unknown as TaskStore },
      functions: { named },
    });
    await expect(s.addTask(() => {}, { id: 'closure', trigger })).rejects.toThrow(SerializationError);
    await expect(s.addTask(() => {}, { id: 'closure', trigger })).rejects.toThrow(/'closure'/);
    await expect(s.addTask(named, { id: 'dates', trigger, args: [new Date()] })).rejects.toThrow(
      /'dates'.*JSON/,
    );
    await expect(s.addTask(named, { id: 'undef', trigger, args: [{ a: undefined }] })).rejects.toBeInstanceOf(
      SerializationError,
    );
    function* gen() {
      yield;
    }
    await expect(s.addTask(gen, { id: 'life', trigger })).rejects.toBeInstanceOf(KairosError);
    const task = await s.addTask(named, { id: 'ok', trigger, args: [{ a: [1, 'b', null] }] });
    expect(task.fn).toBe('named');
  });
});
