// Tasks added before start() (API.md "Scheduler": "Before start() the task is pending and is written to its store at
// start"): readable and changeable while pending, written at start with their first run time computed then.
import { describe, expect, it } from 'vitest';
import { ConflictingIdError, IntervalTrigger } from '../../src/index.js';
import { payloads } from '../support/events.js';
import { T0, useFakeClock } from '../support/fake-clock.js';

const noop = () => {};

describe('tasks added before start (fake timers)', () => {
  const clock = useFakeClock();

  it('a pending task can be read, updated and removed before start', async () => {
    const scheduler = clock.scheduler();
    await scheduler.addTask(noop, { id: 'p', trigger: new IntervalTrigger({ minutes: 1 }) });
    await expect(
      scheduler.addTask(noop, { id: 'p', trigger: new IntervalTrigger({ minutes: 1 }) }),
    ).rejects.toBeInstanceOf(ConflictingIdError);
    const updated = await scheduler.updateTask('p', { name: 'pending one' });
    expect(updated).toMatchObject({ name: 'pending one', pending: true });
    await scheduler.removeTask('p');
    expect(await scheduler.getTasks()).toEqual([]);
  });

  it('tasks added before start are pending, then written at start with their first run time from then', async () => {
    const scheduler = clock.scheduler();
    const seen = clock.record(scheduler, 'task:added', 'task:executed');
    const task = await scheduler.addTask(() => 'x', {
      id: 'early',
      trigger: new IntervalTrigger({ seconds: 10 }, { startAt: T0 }),
    });
    expect(task.pending).toBe(true);
    expect((await scheduler.getTasks()).map((t) => [t.id, t.pending])).toEqual([['early', true]]);
    clock.setTime(25_000);
    await scheduler.start();
    const stored = await scheduler.getTask('early');
    expect(stored?.pending).toBe(false);
    expect(stored?.nextRunTime?.getTime()).toBe(T0 + 30_000);
    await clock.advance(5000);
    expect(seen.map(([name]) => name)).toEqual(['task:added', 'task:executed']);
  });

  // API.md "Scheduler": a pending task's first run time is computed at start; a change that does not name the
  // trigger or nextRunTime does not pin it to the time of the change.
  it('updating a pending task keeps its first run time computed at start', async () => {
    const scheduler = clock.scheduler();
    const seen = clock.record(scheduler, 'task:submitted');
    await scheduler.addTask(() => {}, {
      id: 'p',
      trigger: new IntervalTrigger({ seconds: 1 }, { startAt: T0 }),
      coalesce: false,
      misfireGraceTime: null,
    });
    await scheduler.updateTask('p', { name: 'renamed' });
    clock.setTime(10_500);
    await scheduler.start();
    await clock.advance(0);
    expect(payloads(seen, 'task:submitted')).toEqual([]);
    expect((await scheduler.getTask('p'))?.nextRunTime?.getTime()).toBe(T0 + 11_000);
  });

  // API.md "Scheduler": a task added before start() is written to its store at start, including one added while
  // start() is still in progress (here, behind a slow lifecycle setup).
  it('a task added while start() is in progress is written to its store', async () => {
    const scheduler = clock.scheduler();
    async function* slowSetup() {
      await new Promise((resolve) => setTimeout(resolve, 200));
      yield;
    }
    await scheduler.addTask(slowSetup, { trigger: new IntervalTrigger({ hours: 1 }) });
    const starting = scheduler.start();
    await clock.advance(100);
    const added = scheduler.addTask(() => {}, { id: 'late', trigger: new IntervalTrigger({ seconds: 1 }) });
    await clock.advance(200);
    await starting;
    expect((await added).pending).toBe(false);
    expect((await scheduler.getTask('late'))?.pending).toBe(false);
  });
});
