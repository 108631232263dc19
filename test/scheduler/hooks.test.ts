// Task hooks (API.md "Task composition"): onSuccess / onFailure / onRetry with their events' payloads, by function
// or by registered name (required in a persistent store); a hook that fails changes nothing.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DateTrigger,
  IntervalTrigger,
  Scheduler,
  SerializationError,
  type TaskErrorEvent,
  type TaskExecutedEvent,
  type TaskRetryEvent,
  ValueError,
} from '../../src/index.js';
import { deserializeTask, serializeTask } from '../../src/serialization.js';
import { SQLiteStore } from '../../stores/sqlite.js';
import { makeRecord } from '../stores/harness.js';
import { silentLogger } from '../support/events.js';
import { T0, useFakeClock } from '../support/fake-clock.js';
import { keepingLogger } from '../support/loggers.js';

describe('task hooks (fake timers)', () => {
  const clock = useFakeClock();

  it('onSuccess gets task:executed, onRetry each retried failure, onFailure the last one', async () => {
    const scheduler = await clock.started();
    const seen: Array<[string, unknown]> = [];
    await scheduler.addTask(() => 42, {
      id: 'ok',
      trigger: new DateTrigger(T0 + 10),
      onSuccess: (event: TaskExecutedEvent) => void seen.push(['success', event]),
      onFailure: () => void seen.push(['failure', null]),
    });
    await scheduler.addTask(
      () => {
        throw new Error('boom');
      },
      {
        id: 'bad',
        trigger: new DateTrigger(T0 + 20),
        retries: { max: 2, delay: 100 },
        onSuccess: () => void seen.push(['success?', null]),
        onRetry: (event: TaskRetryEvent) => void seen.push(['retry', event.attempt]),
        onFailure: (event: TaskErrorEvent) => void seen.push(['failure', event]),
      },
    );
    await clock.advance(1000);
    expect(seen.map(([kind]) => kind)).toEqual(['success', 'retry', 'retry', 'failure']);
    expect(seen[0]?.[1]).toMatchObject({
      taskId: 'ok',
      store: 'default',
      result: 42,
      scheduledRunTime: new Date(T0 + 10),
    });
    expect(seen[1]?.[1]).toBe(1);
    expect(seen[2]?.[1]).toBe(2);
    expect(seen[3]?.[1]).toMatchObject({
      taskId: 'bad',
      attempt: 3,
      error: expect.objectContaining({ message: 'boom' }),
    });
  });

  it('a hook that throws or rejects is logged and changes nothing: the run succeeded', async () => {
    const { logger, messages } = keepingLogger();
    const scheduler = await clock.started({ logger });
    const executed = clock.record(scheduler, 'task:executed', 'task:error');
    await scheduler.addTask(() => 'fine', {
      id: 'a',
      trigger: new DateTrigger(T0 + 10),
      onSuccess: () => {
        throw new Error('hook broke');
      },
    });
    await scheduler.addTask(() => 'fine too', {
      id: 'b',
      trigger: new DateTrigger(T0 + 10),
      onSuccess: async () => {
        throw new Error('hook rejected');
      },
    });
    await clock.advance(100);
    expect(executed.map(([name]) => name)).toEqual(['task:executed', 'task:executed']);
    expect((await scheduler.getRuns()).map((run) => run.outcome)).toEqual(['success', 'success']);
    expect(messages.filter((line) => line.includes('onSuccess hook failed'))).toHaveLength(2);
  });

  it('updateTask sets, replaces and (with null) removes hooks', async () => {
    const scheduler = await clock.started();
    const calls: string[] = [];
    await scheduler.addTask(() => {}, {
      id: 'a',
      trigger: new IntervalTrigger({ seconds: 1 }),
      onSuccess: () => void calls.push('first'),
    });
    await clock.advance(1000);
    await scheduler.updateTask('a', { onSuccess: () => void calls.push('second') });
    await clock.advance(1000);
    const updated = await scheduler.updateTask('a', { onSuccess: null });
    expect(updated.hooks).toBeNull();
    await clock.advance(1000);
    expect(calls).toEqual(['first', 'second']);
  });

  it('bad hooks are ValueErrors naming them', async () => {
    const scheduler = await clock.started();
    const add = (onSuccess: unknown) =>
      scheduler.addTask(() => {}, {
        trigger: new IntervalTrigger({ hours: 1 }),
        onSuccess: onSuccess as string,
      });
    await expect(add(42)).rejects.toThrow(
      /onSuccess must be a function or the name of one in functions, got 42/,
    );
    await expect(add('nope')).rejects.toThrow(/onSuccess "nope" is not a name in the scheduler's functions/);
    await expect(add('./hooks.js#notify')).rejects.toThrow(ValueError);
    expect(await scheduler.getTasks()).toEqual([]);
  });
});

describe('hooks in a persistent store', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kairos-hooks-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('are kept by name (a registered function given as a function too), survive a restart, and run there', async () => {
    const path = join(dir, 'jobs.db');
    const calls: unknown[] = [];
    const notify = (event: TaskExecutedEvent) => void calls.push(event.result);
    const functions = { job: () => 'done', notify };
    const first = new Scheduler({
      stores: { default: new SQLiteStore({ path }) },
      functions,
      logger: silentLogger,
    });
    await first.start();
    try {
      const unregistered = () => {};
      await expect(
        first.addTask('job', { trigger: new IntervalTrigger({ hours: 1 }), onSuccess: unregistered }),
      ).rejects.toThrow(SerializationError);
      const task = await first.addTask('job', {
        id: 'a',
        trigger: new IntervalTrigger({ hours: 1 }),
        onSuccess: notify,
      });
      expect(task.hooks).toEqual({ onSuccess: 'notify' });
    } finally {
      await first.shutdown();
    }
    const second = new Scheduler({
      stores: { default: new SQLiteStore({ path }) },
      functions,
      logger: silentLogger,
    });
    await second.start();
    try {
      expect((await second.getTask('a'))?.hooks).toEqual({ onSuccess: 'notify' });
      await second.runTaskNow('a');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(calls).toEqual(['done']);
    } finally {
      await second.shutdown();
    }
  });

  it('are stored by name, read back, and a stored hook that is not a name is a broken record', () => {
    const json = serializeTask(makeRecord({ id: 'a', hooks: { onFailure: 'alert' } }));
    expect(json.hooks).toEqual({ onFailure: 'alert' });
    expect(deserializeTask(JSON.parse(JSON.stringify(json))).hooks).toEqual({ onFailure: 'alert' });
    expect(serializeTask(makeRecord({ id: 'b' }))).not.toHaveProperty('hooks');
    expect(() => serializeTask(makeRecord({ id: 'c', hooks: { onSuccess: () => {} } }))).toThrow(
      SerializationError,
    );
    expect(() => deserializeTask({ ...json, hooks: { onFailure: 7 } })).toThrow(/hooks/);
    expect(() => deserializeTask({ ...json, hooks: { onDone: 'alert' } })).toThrow(/hooks/);
  });
});
