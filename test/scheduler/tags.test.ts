// Task tags (API.md "Task composition"): validated once, kept with the task in every store, `getTasks({ tag })`,
// and recorded in run history.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IntervalTrigger, Scheduler, ValueError } from '../../src/index.js';
import { deserializeTask, serializeTask } from '../../src/serialization.js';
import { SQLiteStore } from '../../stores/sqlite.js';
import { makeRecord } from '../stores/harness.js';
import { silentLogger } from '../support/events.js';
import { useFakeClock } from '../support/fake-clock.js';

const hourly = () => new IntervalTrigger({ hours: 1 });

describe('task tags (fake timers)', () => {
  const clock = useFakeClock();

  it('are kept distinct, in the order given, and select tasks in getTasks', async () => {
    const scheduler = await clock.started();
    const a = await scheduler.addTask(() => {}, {
      id: 'a',
      trigger: hourly(),
      tags: ['db', 'nightly', 'db'],
    });
    await scheduler.addTask(() => {}, { id: 'b', trigger: hourly(), tags: ['nightly'] });
    await scheduler.addTask(() => {}, { id: 'c', trigger: hourly() });
    expect(a.tags).toEqual(['db', 'nightly']);
    const ids = async (tag?: string) =>
      (await scheduler.getTasks(tag === undefined ? {} : { tag })).map((task) => task.id).sort();
    expect(await ids('nightly')).toEqual(['a', 'b']);
    expect(await ids('db')).toEqual(['a']);
    expect(await ids('nope')).toEqual([]);
    expect(await ids()).toEqual(['a', 'b', 'c']);
    expect((await scheduler.getTask('c'))?.tags).toEqual([]);

    await scheduler.updateTask('b', { tags: ['db'] });
    expect(await ids('db')).toEqual(['a', 'b']);
    expect(await ids('nightly')).toEqual(['a']);
  });

  it('bad tags and a bad tag selector are ValueErrors naming the value', async () => {
    const scheduler = await clock.started();
    const add = (tags: unknown) => scheduler.addTask(() => {}, { trigger: hourly(), tags: tags as string[] });
    await expect(add('db')).rejects.toThrow(/tags must be an array of strings, got "db"/);
    await expect(add([''])).rejects.toThrow(/tags must hold non-empty strings .* got ""/);
    await expect(add([42])).rejects.toThrow(/got 42/);
    await expect(add(['x'.repeat(201)])).rejects.toThrow(ValueError);
    await expect(add(Array.from({ length: 65 }, (_, i) => `t${i}`))).rejects.toThrow(
      /at most 64 tags, got 65/,
    );
    await expect(scheduler.getTasks({ tag: '' })).rejects.toThrow(/getTasks: tag must be/);
    await expect(scheduler.getTasks({ tags: 'db' } as never)).rejects.toThrow(/tags/);
    expect(await scheduler.getTasks()).toEqual([]);
  });

  it('are part of a declaration: replaceExisting with other tags replaces the task', async () => {
    const scheduler = await clock.started();
    await scheduler.addTask(() => {}, { id: 'a', trigger: hourly(), tags: ['x'] });
    const again = await scheduler.addTask(() => {}, {
      id: 'a',
      trigger: hourly(),
      tags: ['y'],
      replaceExisting: true,
    });
    expect(again.tags).toEqual(['y']);
  });

  it('are recorded in run history', async () => {
    const scheduler = await clock.started();
    await scheduler.addTask(() => {}, {
      id: 'a',
      trigger: new IntervalTrigger({ seconds: 1 }),
      tags: ['db'],
    });
    await scheduler.addTask(() => {}, { id: 'b', trigger: new IntervalTrigger({ seconds: 1 }) });
    await clock.advance(1000);
    const runs = await scheduler.getRuns();
    expect(runs.find((run) => run.taskId === 'a')?.tags).toEqual(['db']);
    expect(runs.find((run) => run.taskId === 'b')).not.toHaveProperty('tags');
  });
});

describe('stored tags', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kairos-tags-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('outlive a restart of a SQLite store', async () => {
    const path = join(dir, 'jobs.db');
    const options = { functions: { job: () => {} }, logger: silentLogger };
    const first = new Scheduler({ stores: { default: new SQLiteStore({ path }) }, ...options });
    await first.start();
    await first.addTask('job', { id: 'a', trigger: hourly(), tags: ['db'] });
    await first.shutdown();
    const second = new Scheduler({ stores: { default: new SQLiteStore({ path }) }, ...options });
    await second.start();
    try {
      expect((await second.getTasks({ tag: 'db' })).map((task) => task.id)).toEqual(['a']);
    } finally {
      await second.shutdown();
    }
  });

  it('a task stored without tags (by an earlier release) reads with none; a task without tags is stored without the key', () => {
    const json = serializeTask(makeRecord({ id: 'a' }));
    expect(json).not.toHaveProperty('tags');
    expect(deserializeTask(json).tags).toEqual([]);
    const tagged = serializeTask(makeRecord({ id: 'b', tags: ['x', 'y'] }));
    expect(deserializeTask(JSON.parse(JSON.stringify(tagged))).tags).toEqual(['x', 'y']);
    expect(() => deserializeTask({ ...tagged, tags: ['x', 'x'] })).toThrow(/tags/);
    expect(() => deserializeTask({ ...tagged, tags: 'x' })).toThrow(/tags/);
  });
});
