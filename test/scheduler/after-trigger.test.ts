// Tasks that run after others (API.md "Task composition", AfterTrigger) in one scheduler: once per awaited end of
// an upstream run, joins, outcomes, pause, cycles refused, declarations keep a join's progress, and stored tasks
// found again after a restart. Across processes: after-trigger-processes.test.ts.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AFTER_IDLE,
  AfterTrigger,
  IntervalTrigger,
  MemoryStore,
  Scheduler,
  ValueError,
} from '../../src/index.js';
import { SQLiteStore } from '../../stores/sqlite.js';
import { silentLogger } from '../support/events.js';
import { T0, useFakeClock } from '../support/fake-clock.js';

describe('after-triggers (fake timers)', () => {
  const clock = useFakeClock();

  it('a dependent runs once after each successful run of its upstream task, not after a failed one', async () => {
    const scheduler = await clock.started();
    let upstreamRuns = 0;
    const ran: number[] = [];
    await scheduler.addTask(
      () => {
        upstreamRuns++;
        if (upstreamRuns === 2) throw new Error('second run fails');
      },
      { id: 'extract', trigger: new IntervalTrigger({ seconds: 10 }, { startAt: T0 + 10_000 }) },
    );
    const dependent = await scheduler.addTask(() => void ran.push(Date.now() - T0), {
      id: 'load',
      trigger: new AfterTrigger('extract'),
    });
    expect(dependent.nextRunTime).toBeNull();
    expect(dependent.paused).toBe(false);
    await clock.advance(45_000);
    expect(upstreamRuns).toBe(4);
    // Runs 1, 3 and 4 succeeded (at 10, 30 and 40 s); run 2 failed.
    expect(ran).toEqual([10_000, 30_000, 40_000]);
    const after = await scheduler.getTask('load');
    expect(after?.nextRunTime).toBeNull();
    expect(after?.trigger).toBeInstanceOf(AfterTrigger);
  });

  it("outcome 'failure' and 'any'", async () => {
    const scheduler = await clock.started();
    let count = 0;
    await scheduler.addTask(
      () => {
        count++;
        if (count % 2 === 0) throw new Error('even runs fail');
      },
      { id: 'up', trigger: new IntervalTrigger({ seconds: 1 }, { startAt: T0 + 1000 }) },
    );
    const seen = { failure: 0, any: 0 };
    await scheduler.addTask(() => void seen.failure++, {
      id: 'onFailure',
      trigger: new AfterTrigger('up', { outcome: 'failure' }),
    });
    await scheduler.addTask(() => void seen.any++, {
      id: 'onAny',
      trigger: { type: 'after', tasks: ['up'], outcome: 'any' },
    });
    await clock.advance(6500);
    expect(count).toBe(6);
    expect(seen).toEqual({ failure: 3, any: 6 });
  });

  it('a join fires when each task it waits for has succeeded since it last fired', async () => {
    const scheduler = await clock.started();
    let joined = 0;
    await scheduler.addTask(() => {}, {
      id: 'a',
      trigger: new IntervalTrigger({ seconds: 1 }, { startAt: T0 + 1000 }),
    });
    await scheduler.addTask(() => {}, {
      id: 'b',
      trigger: new IntervalTrigger({ seconds: 3 }, { startAt: T0 + 3500 }),
    });
    await scheduler.addTask(() => void joined++, { id: 'both', trigger: new AfterTrigger(['a', 'b']) });
    await clock.advance(3000);
    expect(joined).toBe(0);
    expect((await scheduler.getTask('both'))?.trigger.toJSON()).toMatchObject({ satisfied: ['a'] });
    await clock.advance(600);
    // b ran at 3.5 s (a had run since): one fire.
    expect(joined).toBe(1);
    await clock.advance(6000);
    // b at 6.5 and 9.5 s, a every second: two more.
    expect(joined).toBe(3);
  });

  it('a paused dependent lets upstream runs go by; resumed, it waits for the next one', async () => {
    const scheduler = await clock.started();
    let ran = 0;
    await scheduler.addTask(() => {}, {
      id: 'up',
      trigger: new IntervalTrigger({ seconds: 1 }, { startAt: T0 + 1000 }),
    });
    await scheduler.addTask(() => void ran++, { id: 'down', trigger: new AfterTrigger('up') });
    await scheduler.pauseTask('down');
    expect((await scheduler.getTask('down'))?.paused).toBe(true);
    await clock.advance(3500);
    expect(ran).toBe(0);
    const resumed = await scheduler.resumeTask('down');
    expect(resumed.nextRunTime).toBeNull();
    expect(resumed.paused).toBe(false);
    await clock.advance(1000);
    expect(ran).toBe(1);
  });

  it('a cycle is a ValueError naming it, at addTask and at updateTask; nothing is written', async () => {
    const scheduler = await clock.started();
    await scheduler.addTask(() => {}, { id: 'a', trigger: new AfterTrigger('c') });
    await scheduler.addTask(() => {}, { id: 'b', trigger: new AfterTrigger('a') });
    await expect(scheduler.addTask(() => {}, { id: 'c', trigger: new AfterTrigger('b') })).rejects.toThrow(
      "task 'c': its after-trigger makes a cycle: 'c' waits for 'b' waits for 'a' waits for 'c'",
    );
    expect(await scheduler.getTask('c')).toBeUndefined();
    await expect(
      scheduler.addTask(() => {}, { id: 'self', trigger: new AfterTrigger('self') }),
    ).rejects.toThrow(ValueError);
    await scheduler.addTask(() => {}, { id: 'c', trigger: new IntervalTrigger({ hours: 1 }) });
    await expect(scheduler.rescheduleTask('c', new AfterTrigger(['x', 'b']))).rejects.toThrow(
      /makes a cycle/,
    );
    expect((await scheduler.getTask('c'))?.trigger).toBeInstanceOf(IntervalTrigger);
    // Removing a link breaks the cycle.
    await scheduler.removeTask('b');
    await scheduler.rescheduleTask('c', new AfterTrigger('b'));
  });

  it('a removed dependent is no longer changed; its upstream runs on', async () => {
    const scheduler = await clock.started();
    const errors = clock.record(scheduler, 'task:error');
    let up = 0;
    await scheduler.addTask(() => void up++, {
      id: 'up',
      trigger: new IntervalTrigger({ seconds: 1 }, { startAt: T0 + 1000 }),
    });
    await scheduler.addTask(() => {}, { id: 'down', trigger: new AfterTrigger('up') });
    await clock.advance(1500);
    await scheduler.removeTask('down');
    await clock.advance(2000);
    expect(up).toBe(3);
    expect(errors).toEqual([]);
  });

  it('a replaceExisting declaration keeps a join going; a changed one starts it over', async () => {
    const scheduler = await clock.started();
    await scheduler.addTask(() => {}, {
      id: 'a',
      trigger: new IntervalTrigger({ seconds: 1 }, { startAt: T0 + 1000 }),
    });
    const body = () => {};
    const join = () =>
      scheduler.addTask(body, {
        id: 'join',
        trigger: new AfterTrigger(['a', 'never']),
        replaceExisting: true,
      });
    await join();
    await clock.advance(1500);
    expect((await scheduler.getTask('join'))?.trigger.toJSON()).toMatchObject({ satisfied: ['a'] });
    await join();
    expect((await scheduler.getTask('join'))?.trigger.toJSON()).toMatchObject({ satisfied: ['a'] });
    await scheduler.addTask(body, {
      id: 'join',
      trigger: new AfterTrigger(['a', 'other']),
      replaceExisting: true,
    });
    expect((await scheduler.getTask('join'))?.trigger.toJSON()).toMatchObject({ satisfied: [] });
  });
});

describe('after-triggers in a persistent store (real time)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kairos-after-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('stored dependents are found again after a restart, and run after their upstream', async () => {
    const path = join(dir, 'tasks.db');
    const ran: string[] = [];
    const make = () =>
      new Scheduler({
        stores: { default: new SQLiteStore({ path }) },
        logger: silentLogger,
        functions: { up: () => void ran.push('up'), down: (label: string) => void ran.push(label) },
      });
    const first = make();
    await first.start();
    await first.addTask('down', { id: 'down', trigger: new AfterTrigger('up'), args: ['down'] });
    await first.shutdown();

    const second = make();
    await second.start();
    try {
      await second.addTask('up', { id: 'up', trigger: new IntervalTrigger({ milliseconds: 200 }) });
      await expect.poll(() => ran.filter((label) => label === 'down').length, { timeout: 3000 }).toBe(2);
      const downs = ran.filter((label) => label === 'down').length;
      const ups = ran.filter((label) => label === 'up').length;
      expect(ups - downs).toBeLessThanOrEqual(1);
    } finally {
      await second.shutdown();
    }
  });
});

describe('after-triggers: hostile cases', () => {
  const clock = useFakeClock();

  it('moving a task to another store checks for a cycle there', async () => {
    const scheduler = await clock.started({
      stores: { default: new MemoryStore(), other: new MemoryStore() },
    });
    await scheduler.addTask(() => {}, { id: 'a', trigger: new AfterTrigger('b'), store: 'other' });
    await scheduler.addTask(() => {}, { id: 'b', trigger: new AfterTrigger('a') });
    await expect(scheduler.updateTask('b', { store: 'other' })).rejects.toThrow(/makes a cycle/);
    expect((await scheduler.getTask('b'))?.store).toBe('default');
  });
});

describe('after-triggers in a shared store: hostile cases (real time)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kairos-after-hostile-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('two schedulers writing the halves of a cycle at once: one of them is refused, and its write undone', async () => {
    const path = join(dir, 'tasks.db');
    const make = () =>
      new Scheduler({
        stores: { default: new SQLiteStore({ path }) },
        logger: silentLogger,
        functions: { job: () => {} },
      });
    const [first, second] = [make(), make()];
    await first.start();
    await second.start();
    try {
      const outcomes = await Promise.allSettled([
        first.addTask('job', { id: 'a', trigger: new AfterTrigger('b') }),
        second.addTask('job', { id: 'b', trigger: new AfterTrigger('a') }),
      ]);
      const refused = outcomes.filter((outcome) => outcome.status === 'rejected');
      expect(refused.length).toBeGreaterThanOrEqual(1);
      for (const outcome of refused) expect(String(outcome.reason)).toMatch(/makes a cycle/);
      const stored = (await first.getTasks()).map((task) => task.id);
      expect(stored.length).toBe(2 - refused.length);
    } finally {
      await first.shutdown();
      await second.shutdown();
    }
  });

  it('a cycle already in a store (written behind the scheduler) is reported and never fired; the process lives', async () => {
    const path = join(dir, 'tasks.db');
    const store = new SQLiteStore({ path });
    await store.start({ logger: silentLogger, alias: 'setup', reportBrokenRecord: () => {} });
    for (const [id, upstream] of [
      ['a', 'b'],
      ['b', 'a'],
    ] as const) {
      await store.addTask({
        id,
        name: id,
        fn: 'job',
        trigger: new AfterTrigger(upstream),
        args: [],
        executor: 'default',
        coalesce: true,
        misfireGraceTime: 1000,
        maxInstances: 1,
        nextRunTime: AFTER_IDLE,
        retries: null,
        timeout: null,
        tags: [],
        hooks: null,
        middleware: [],
      });
    }
    await store.close();
    let runs = 0;
    const scheduler = new Scheduler({
      stores: { default: new SQLiteStore({ path }) },
      logger: silentLogger,
      functions: { job: () => void runs++ },
    });
    const errors: string[] = [];
    scheduler.on('task:error', (event) => void errors.push(String(event.error)));
    await scheduler.start();
    try {
      await scheduler.runTaskNow('a');
      const ticked = await new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 300));
      expect(ticked).toBe(true);
      expect(runs).toBe(1);
      expect(errors).toEqual([expect.stringMatching(/task 'b': its after-trigger is on a cycle/)]);
    } finally {
      await scheduler.shutdown();
    }
  });
});
