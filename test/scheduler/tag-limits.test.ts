// Tag concurrency limits in one scheduler (API.md "Task composition"): a run starts only while each of its tags is
// below its limit; otherwise it waits (`task:waiting`) and starts when a slot frees, unless its lateness passes its
// misfire grace first (then it is missed). Limits change at run time with setConcurrencyLimit. The fleet-wide
// count across processes is in tag-limits-processes.test.ts.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DateTrigger, IntervalTrigger, Scheduler, ValueError } from '../../src/index.js';
import { SQLiteStore } from '../../stores/sqlite.js';
import { silentLogger } from '../support/events.js';
import { T0, useFakeClock } from '../support/fake-clock.js';

/** A task body that runs until `release()` is called, counting how many run at once. */
function gate() {
  let running = 0;
  let peak = 0;
  const releases: Array<() => void> = [];
  return {
    body: async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise<void>((resolve) => releases.push(resolve));
      running--;
    },
    get running() {
      return running;
    },
    get peak() {
      return peak;
    },
    releaseOne() {
      releases.shift()?.();
    },
    releaseAll() {
      for (const release of releases.splice(0)) release();
    },
  };
}

describe('tag concurrency limits (fake timers)', () => {
  const clock = useFakeClock();

  it('runs over a limit wait and start, in order, as slots free; other tags are not held', async () => {
    const scheduler = await clock.started({ concurrencyLimits: { db: 2 } });
    const events = clock.record(scheduler, 'task:waiting', 'task:submitted', 'task:missed');
    const db = gate();
    const started: string[] = [];
    for (const [index, id] of ['a', 'b', 'c', 'd'].entries()) {
      await scheduler.addTask(
        async () => {
          started.push(id);
          await db.body();
        },
        { id, trigger: new DateTrigger(T0 + 10 + index), tags: ['db'], misfireGraceTime: null },
      );
    }
    let free = 0;
    await scheduler.addTask(() => void free++, {
      id: 'free',
      trigger: new DateTrigger(T0 + 10),
      tags: ['other'],
    });
    await clock.advance(20);
    expect(started).toEqual(['a', 'b']);
    expect(free).toBe(1);
    expect(events.filter(([name]) => name === 'task:waiting').map(([, event]) => event)).toEqual([
      { taskId: 'c', store: 'default', scheduledRunTime: new Date(T0 + 12), tag: 'db' },
      { taskId: 'd', store: 'default', scheduledRunTime: new Date(T0 + 13), tag: 'db' },
    ]);
    db.releaseOne();
    await clock.advance(1);
    expect(started).toEqual(['a', 'b', 'c']);
    db.releaseAll();
    await clock.advance(1);
    expect(started).toEqual(['a', 'b', 'c', 'd']);
    db.releaseAll();
    await clock.advance(1);
    expect(db.peak).toBe(2);
    expect(events.some(([name]) => name === 'task:missed')).toBe(false);
  });

  it('a run that waits past its misfire grace is missed, on time, and never starts', async () => {
    const scheduler = await clock.started({ concurrencyLimits: { db: 1 } });
    const missed = clock.record(scheduler, 'task:missed');
    const db = gate();
    await scheduler.addTask(db.body, { id: 'long', trigger: new DateTrigger(T0 + 10), tags: ['db'] });
    let late = 0;
    await scheduler.addTask(() => void late++, {
      id: 'late',
      trigger: new DateTrigger(T0 + 10),
      tags: ['db'],
      misfireGraceTime: 500,
    });
    await clock.advance(400);
    expect(missed).toEqual([]);
    await clock.advance(200);
    expect(missed.map(([, event]) => event)).toEqual([
      {
        taskId: 'late',
        store: 'default',
        count: 1,
        countIsExact: true,
        scheduledRunTimes: [new Date(T0 + 10)],
      },
    ]);
    db.releaseAll();
    await clock.advance(100);
    expect(late).toBe(0);
    const runs = await scheduler.getRuns({ taskId: 'late' });
    expect(runs.map((run) => run.outcome)).toEqual(['missed']);
  });

  it('a limit of 0 holds every run of the tag until setConcurrencyLimit raises it', async () => {
    const scheduler = await clock.started({ concurrencyLimits: { held: 0 } });
    let runs = 0;
    await scheduler.addTask(() => void runs++, {
      id: 'h',
      trigger: new DateTrigger(T0 + 10),
      tags: ['held'],
      misfireGraceTime: null,
    });
    await clock.advance(10_000);
    expect(runs).toBe(0);
    await scheduler.setConcurrencyLimit('held', 1);
    await clock.advance(1);
    expect(runs).toBe(1);
  });

  it('setConcurrencyLimit(tag, null) lifts a limit; lowering one lets running runs finish', async () => {
    const scheduler = await clock.started();
    const db = gate();
    await scheduler.setConcurrencyLimit('db', 1);
    for (const id of ['a', 'b', 'c'])
      await scheduler.addTask(db.body, {
        id,
        trigger: new DateTrigger(T0 + 10),
        tags: ['db'],
        misfireGraceTime: null,
      });
    await clock.advance(20);
    expect(db.running).toBe(1);
    await scheduler.setConcurrencyLimit('db', null);
    await clock.advance(1);
    expect(db.running).toBe(3);
    db.releaseAll();
    await clock.advance(1);
  });

  it('waiting runs count toward maxInstances: a task never piles up more waiting runs than that', async () => {
    const scheduler = await clock.started({ concurrencyLimits: { held: 0 } });
    const skipped = clock.record(scheduler, 'task:max-instances');
    await scheduler.addTask(() => {}, {
      id: 'every',
      trigger: new IntervalTrigger({ seconds: 1 }, { startAt: T0 + 1000 }),
      tags: ['held'],
      maxInstances: 2,
      misfireGraceTime: null,
    });
    await clock.advance(5500);
    // Times 1 s and 2 s wait; 3, 4 and 5 s are skipped.
    expect(skipped).toHaveLength(3);
  });

  it('a removed task forgets its waiting runs; a paused scheduler starts none until resumed', async () => {
    const scheduler = await clock.started({ concurrencyLimits: { db: 1 } });
    const db = gate();
    let gone = 0;
    let later = 0;
    await scheduler.addTask(db.body, { id: 'long', trigger: new DateTrigger(T0 + 10), tags: ['db'] });
    await scheduler.addTask(() => void gone++, {
      id: 'gone',
      trigger: new IntervalTrigger({ hours: 1 }, { startAt: T0 + 10 }),
      tags: ['db'],
      misfireGraceTime: null,
    });
    await scheduler.addTask(() => void later++, {
      id: 'later',
      trigger: new DateTrigger(T0 + 10),
      tags: ['db'],
      misfireGraceTime: null,
    });
    await clock.advance(20);
    await scheduler.removeTask('gone');
    scheduler.pause();
    db.releaseAll();
    await clock.advance(100);
    expect([gone, later]).toEqual([0, 0]);
    scheduler.resume();
    await clock.advance(1);
    expect([gone, later]).toEqual([0, 1]);
  });

  it('a run still waiting at shutdown is reported missed', async () => {
    const scheduler = await clock.started({ concurrencyLimits: { held: 0 } });
    const missed = clock.record(scheduler, 'task:missed');
    await scheduler.addTask(() => {}, {
      id: 'h',
      trigger: new DateTrigger(T0 + 10),
      tags: ['held'],
      misfireGraceTime: null,
    });
    await clock.advance(20);
    await scheduler.shutdown();
    expect(missed.map(([, event]) => event.taskId)).toEqual(['h']);
  });

  it('bad limits are ValueErrors naming them', async () => {
    expect(() => clock.scheduler({ concurrencyLimits: { db: -1 } })).toThrow(/tag "db".*-1/);
    expect(() => clock.scheduler({ concurrencyLimits: { db: 1.5 } })).toThrow(ValueError);
    expect(() => clock.scheduler({ concurrencyLimits: { '': 1 } })).toThrow(ValueError);
    expect(() => clock.scheduler({ concurrencyLimits: [] as never })).toThrow(/concurrencyLimits/);
    const scheduler = clock.scheduler();
    await expect(scheduler.setConcurrencyLimit('db', Number.NaN)).rejects.toThrow(/NaN/);
    await expect(scheduler.setConcurrencyLimit(7 as never, 1)).rejects.toThrow(ValueError);
  });
});

describe('tag concurrency limits in a shared store (real time)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kairos-tags-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the option is written to the store; setConcurrencyLimit changes it there; waiting runs start', async () => {
    const path = join(dir, 'tasks.db');
    const scheduler = new Scheduler({
      stores: { default: new SQLiteStore({ path }) },
      logger: silentLogger,
      concurrencyLimits: { db: 1 },
      functions: {
        slow: () => new Promise((resolve) => setTimeout(resolve, 300)),
      },
    });
    const starts: number[] = [];
    scheduler.on('task:submitted', () => void starts.push(Date.now()));
    await scheduler.start();
    try {
      const store = new SQLiteStore({ path });
      await store.start({ logger: silentLogger, alias: 'probe', reportBrokenRecord: () => {} });
      expect(await store.getConcurrencyLimits()).toEqual({ db: 1 });
      const at = Date.now() + 100;
      for (const id of ['a', 'b', 'c'])
        await scheduler.addTask('slow', {
          id,
          trigger: new DateTrigger(at),
          tags: ['db'],
          misfireGraceTime: null,
        });
      await new Promise((resolve) => setTimeout(resolve, 250));
      expect(starts).toHaveLength(1);
      await scheduler.setConcurrencyLimit('db', 2);
      expect(await store.getConcurrencyLimits()).toEqual({ db: 2 });
      await expect.poll(() => starts.length, { timeout: 2000 }).toBe(3);
      await store.close();
    } finally {
      await scheduler.shutdown();
    }
  });
});

describe('tag concurrency limits: hostile cases (fake timers)', () => {
  const clock = useFakeClock();

  it('a waiting run takes its task as changed since: new args and tags; a paused task does not run', async () => {
    const scheduler = await clock.started({ concurrencyLimits: { db: 1 } });
    const missed = clock.record(scheduler, 'task:missed');
    const db = gate();
    const seen: unknown[] = [];
    await scheduler.addTask(db.body, { id: 'long', trigger: new DateTrigger(T0 + 10), tags: ['db'] });
    const every = {
      trigger: new IntervalTrigger({ hours: 1 }, { startAt: T0 + 10 }),
      misfireGraceTime: null,
    };
    await scheduler.addTask((arg: string) => void seen.push(arg), {
      id: 'changed',
      ...every,
      tags: ['db'],
      args: ['old'],
    });
    await scheduler.addTask(() => void seen.push('paused'), { id: 'paused', ...every, tags: ['db'] });
    await clock.advance(20);
    await scheduler.updateTask('changed', { args: ['new'], tags: [] });
    await scheduler.pauseTask('paused');
    // Its tags removed, the changed task's run needs no slot any more: it runs at once.
    await clock.advance(1);
    expect(seen).toEqual(['new']);
    db.releaseAll();
    await clock.advance(10);
    expect(seen).toEqual(['new']);
    expect(missed.map(([, event]) => event.taskId)).toEqual(['paused']);
  });

  it('a run past its grace while the scheduler is paused is reported missed on time, and never starts', async () => {
    const scheduler = await clock.started({ concurrencyLimits: { db: 0 } });
    const missed = clock.record(scheduler, 'task:missed');
    let runs = 0;
    await scheduler.addTask(() => void runs++, {
      id: 'late',
      trigger: new DateTrigger(T0 + 10),
      tags: ['db'],
      misfireGraceTime: 100,
    });
    await clock.advance(20);
    scheduler.pause();
    await clock.advance(200);
    expect(missed.map(([, event]) => event.taskId)).toEqual(['late']);
    await scheduler.setConcurrencyLimit('db', 5);
    scheduler.resume();
    await clock.advance(10);
    expect(runs).toBe(0);
  });

  it('removeStore reports its waiting runs missed; a Map as concurrencyLimits is refused', async () => {
    expect(() => clock.scheduler({ concurrencyLimits: new Map([['db', 1]]) as never })).toThrow(ValueError);
    const scheduler = await clock.started({ concurrencyLimits: { db: 0 } });
    const missed = clock.record(scheduler, 'task:missed');
    await scheduler.addTask(() => {}, {
      id: 'w',
      trigger: new DateTrigger(T0 + 10),
      tags: ['db'],
      misfireGraceTime: null,
    });
    await clock.advance(20);
    await scheduler.removeStore('default');
    expect(missed.map(([, event]) => event.taskId)).toEqual(['w']);
  });
});

describe('tag concurrency limits: hostile cases in a shared store (real time)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kairos-tags-hostile-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a limit removed before start() is removed from the store', async () => {
    const path = join(dir, 'tasks.db');
    const first = new Scheduler({
      stores: { default: new SQLiteStore({ path }) },
      logger: silentLogger,
      concurrencyLimits: { db: 1, mail: 2 },
    });
    await first.start();
    await first.shutdown();
    const second = new Scheduler({ stores: { default: new SQLiteStore({ path }) }, logger: silentLogger });
    await second.setConcurrencyLimit('db', null);
    await second.start();
    try {
      const store = new SQLiteStore({ path });
      await store.start({ logger: silentLogger, alias: 'probe', reportBrokenRecord: () => {} });
      expect(await store.getConcurrencyLimits()).toEqual({ mail: 2 });
      await store.close();
    } finally {
      await second.shutdown();
    }
  });

  it('a waiting run whose task another process removed does not run', async () => {
    const path = join(dir, 'tasks.db');
    let runs = 0;
    const scheduler = new Scheduler({
      stores: { default: new SQLiteStore({ path }) },
      logger: silentLogger,
      concurrencyLimits: { db: 0 },
      functions: { count: () => void runs++ },
    });
    const missed: string[] = [];
    scheduler.on('task:missed', (event) => void missed.push(event.taskId));
    const waited = new Promise((resolve) => scheduler.once('task:waiting', resolve));
    await scheduler.start();
    try {
      await scheduler.addTask('count', {
        id: 'gone',
        trigger: new IntervalTrigger({ hours: 1 }, { startAt: Date.now() + 50 }),
        tags: ['db'],
        misfireGraceTime: null,
      });
      await waited;
      const other = new SQLiteStore({ path });
      await other.start({ logger: silentLogger, alias: 'other', reportBrokenRecord: () => {} });
      await other.removeTask('gone');
      await other.setConcurrencyLimit('db', 1);
      await other.close();
      await expect.poll(() => missed, { timeout: 3000 }).toEqual(['gone']);
      expect(runs).toBe(0);
    } finally {
      await scheduler.shutdown();
    }
  });
});
