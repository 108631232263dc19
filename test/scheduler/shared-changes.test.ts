// API.md, "Changes are atomic, and never rewind a schedule": two schedulers share one store (two store instances
// on one file, as two processes would); one runs a task while the other changes or re-declares it. No scheduled
// time of the task may run twice, and a declaration identical to the stored task keeps its schedule.
import { afterEach, describe, expect, it } from 'vitest';
import { currentRun, IntervalTrigger, Scheduler } from '../../src/index.js';
import { type StoreBacking, selectedStores } from '../stores/harness.js';
import { silentLogger } from '../support/events.js';

const shared = selectedStores().filter((kind) => kind.shared && kind.persistent);

/** Real time passes. */
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(shared)('$name store changed by one scheduler while another runs the task', (kind) => {
  let backing: StoreBacking;
  const schedulers: Scheduler[] = [];

  afterEach(async () => {
    for (const scheduler of schedulers.splice(0)) if (scheduler.running) await scheduler.shutdown();
    await backing.cleanUp();
  });

  /** A scheduler on a new instance of the shared store; `ran` collects the scheduled times it ran. */
  function schedulerOn(ran: number[]): Scheduler {
    const scheduler = new Scheduler({
      stores: { default: backing.open() },
      functions: { tick: () => void ran.push(currentRun()?.scheduledRunTime.getTime() as number) },
      logger: silentLogger,
      leaseTime: 2000,
    });
    schedulers.push(scheduler);
    return scheduler;
  }

  /** The scheduled times that appear more than once. */
  function doubles(times: readonly number[]): number[] {
    const seen = new Set<number>();
    const repeated: number[] = [];
    for (const time of times) {
      if (seen.has(time)) repeated.push(time);
      seen.add(time);
    }
    return repeated;
  }

  it('updateTask from another scheduler never rewinds the next run time: no time runs twice', async () => {
    backing = await kind.setUp();
    const ran: number[] = [];
    const runner = schedulerOn(ran);
    const changer = schedulerOn([]);
    await runner.start();
    await changer.start({ paused: true });
    await runner.addTask('tick', {
      id: 'u',
      trigger: new IntervalTrigger({ milliseconds: 50 }),
      coalesce: false,
      misfireGraceTime: null,
    });
    const until = Date.now() + 2500;
    let changes = 0;
    while (Date.now() < until) {
      await changer.updateTask('u', { args: [++changes] });
      // Let the runner's timers in (one event loop serves both schedulers here).
      await new Promise((resolve) => setImmediate(resolve));
    }
    await runner.shutdown();
    expect(changes).toBeGreaterThan(20);
    expect(ran.length).toBeGreaterThan(20);
    expect(doubles(ran), `times run twice (of ${ran.length} runs, ${changes} changes)`).toEqual([]);
    expect((await changer.getTask('u'))?.args).toEqual([changes]);
  });

  it('a replaceExisting declaration identical to the stored task keeps its schedule (no double, no skip)', async () => {
    backing = await kind.setUp();
    const ran: number[] = [];
    const runner = schedulerOn(ran);
    await runner.start();
    const declare = (scheduler: Scheduler) =>
      scheduler.addTask('tick', {
        id: 'd',
        trigger: new IntervalTrigger({ milliseconds: 50 }),
        coalesce: false,
        misfireGraceTime: null,
        // Catch-up runs of a late wake-up start together: let them all run, so that every time shows.
        maxInstances: 100,
        replaceExisting: true,
      });
    await declare(runner);
    const stored = await runner.getTask('d');
    // Other "processes" boot and declare the same task, again and again, while the runner runs it.
    const until = Date.now() + 2000;
    let declarations = 0;
    while (Date.now() < until) {
      const booting = schedulerOn([]);
      await declare(booting);
      await booting.start({ paused: true });
      await declare(booting);
      await booting.shutdown();
      declarations++;
      await sleep(20);
    }
    await runner.shutdown();
    expect(declarations).toBeGreaterThan(5);
    expect(doubles(ran)).toEqual([]);
    // The grid is the first declaration's: every time from the first run on ran, once.
    const step = 50;
    const sorted = [...ran].sort((a, b) => a - b);
    if (!(stored?.trigger instanceof IntervalTrigger)) throw new Error('the task was not stored');
    const origin = stored.trigger.startAt.getTime();
    expect((sorted[0] as number) - origin).toBe(0);
    const expected = Array.from({ length: sorted.length }, (_, index) => origin + index * step);
    expect(sorted.map((time) => time - origin)).toEqual(expected.map((time) => time - origin));
  });

  it('a changed declaration replaces the task from now on: never a time that already ran', async () => {
    backing = await kind.setUp();
    const ran: number[] = [];
    const runner = schedulerOn(ran);
    await runner.start();
    await runner.addTask('tick', {
      id: 'c',
      trigger: new IntervalTrigger({ milliseconds: 40 }),
      coalesce: false,
      misfireGraceTime: null,
    });
    await sleep(300);
    const changer = schedulerOn([]);
    await changer.start({ paused: true });
    const changedAt = Date.now();
    const replaced = await changer.addTask('tick', {
      id: 'c',
      trigger: new IntervalTrigger({ milliseconds: 40 }, { startAt: changedAt - 10_000 }),
      coalesce: false,
      misfireGraceTime: null,
      replaceExisting: true,
    });
    await sleep(500);
    await runner.shutdown();
    expect(replaced.nextRunTime?.getTime()).toBeGreaterThanOrEqual(changedAt);
    expect(doubles(ran)).toEqual([]);
    expect(ran.filter((time) => time > changedAt).length).toBeGreaterThan(3);
  });
});
