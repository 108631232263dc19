// Two schedulers in two real processes sharing one store file: each due run fires exactly once, and when one
// process is killed (SIGKILL, mid-run) the other carries on.
import { afterEach, describe, expect, it } from 'vitest';
import { Scheduler } from '../../src/scheduler.js';
import { IntervalTrigger } from '../../src/triggers/interval.js';
import { silentLogger } from '../support/events.js';
import { type Child, killChild, spawnChild } from './children.js';
import { type StoreBacking, selectedStores } from './harness.js';

const INTERVAL_MS = 300;
const TASKS: Array<[string, number]> = [
  ['slow', 200],
  ['quick-1', 5],
  ['quick-2', 5],
];

const persistent = selectedStores().filter((kind) => kind.persistent);

describe.skipIf(persistent.length === 0).each(persistent)('$name store shared by two processes', (kind) => {
  let backing: StoreBacking;
  const children: Child[] = [];

  afterEach(async () => {
    for (const child of children.splice(0)) killChild(child);
    await backing.cleanUp();
  });

  /** Adds the tasks through a paused scheduler of this process, starting on the grid from `startAt`. */
  async function addTasks(startAt: number): Promise<void> {
    const scheduler = new Scheduler({
      stores: { default: backing.open() },
      functions: { record: (_workMs: number) => {} },
      logger: silentLogger,
    });
    await scheduler.start({ paused: true });
    for (const [id, workMs] of TASKS) {
      await scheduler.addTask('record', {
        id,
        trigger: new IntervalTrigger({ milliseconds: INTERVAL_MS }, { startAt }),
        args: [workMs],
        coalesce: false,
        misfireGraceTime: null,
        maxInstances: 2,
      });
    }
    await scheduler.shutdown();
  }

  it('each due run fires exactly once; after SIGKILL of one mid-run, the other carries on', async () => {
    backing = await kind.setUp();
    const path = backing.location;
    const [first, second] = ['first', 'second'].map((id) =>
      spawnChild('store-worker.ts', [kind.name, path, id]),
    ) as [Child, Child];
    children.push(first, second);
    await Promise.all([
      first.waitFor((line) => line.event === 'started'),
      second.waitFor((line) => line.event === 'started'),
    ]);

    // The workers learn of the new tasks through watch(): nothing else wakes them.
    const startAt = Date.now() + 300;
    await addTasks(startAt);

    await new Promise((resolve) => setTimeout(resolve, 1000));
    const mark = first.lines.length;
    await first.waitFor((line) => line.event === 'run' && line.taskId === 'slow', 3000, mark);
    await new Promise((resolve) => setTimeout(resolve, 60)); // past its release of the task lease, still mid-run
    killChild(first);
    const killedAt = Date.now();
    await first.exited;
    await new Promise((resolve) => setTimeout(resolve, 1200));
    second.process.kill('SIGTERM');
    await second.waitFor((line) => line.event === 'stopped');
    const stoppedAt = Date.now();

    const runs = [...first.lines, ...second.lines].filter((line) => line.event === 'run');
    const keys = runs.map((line) => `${line.taskId}@${Number(line.scheduled) - startAt}`);
    expect(new Set(keys).size, `duplicate runs: ${keys.join(' ')}`).toBe(keys.length);

    // Every grid time up to shortly before the end ran, in one process or the other.
    const lastChecked = stoppedAt - 500;
    const expected: string[] = [];
    for (const [id] of TASKS) {
      for (let at = startAt; at <= lastChecked; at += INTERVAL_MS) expected.push(`${id}@${at - startAt}`);
    }
    expect(keys.filter((key) => expected.includes(key)).sort()).toEqual(expected.sort());

    const byFirst = first.lines.filter((line) => line.event === 'run');
    const bySecondAfterKill = second.lines.filter(
      (line) => line.event === 'run' && Number(line.scheduled) > killedAt,
    );
    expect(byFirst.length).toBeGreaterThan(0);
    expect(bySecondAfterKill.length).toBeGreaterThanOrEqual(TASKS.length * 2);
  });
});
