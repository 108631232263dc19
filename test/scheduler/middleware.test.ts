// Middleware (API.md "Task composition"): scheduler.use() around every task, `middleware` per task inside those,
// each wrapping every attempt: the order, changing args, replacing results and errors, currentRun() inside.
import { describe, expect, it } from 'vitest';
import {
  currentRun,
  DateTrigger,
  IntervalTrigger,
  type Middleware,
  SerializationError,
  ValueError,
} from '../../src/index.js';
import { deserializeTask, serializeTask } from '../../src/serialization.js';
import { makeRecord } from '../stores/harness.js';
import { T0, useFakeClock } from '../support/fake-clock.js';

describe('middleware (fake timers)', () => {
  const clock = useFakeClock();

  it('wraps each attempt: global ones in the order added, outside the task own, and sees currentRun()', async () => {
    const scheduler = await clock.started();
    const trace: string[] = [];
    const tracing =
      (name: string): Middleware =>
      async (run, next) => {
        trace.push(`${name}>${run.attempt}:${currentRun()?.taskId}`);
        const result = await next();
        trace.push(`<${name}`);
        return result;
      };
    scheduler.use(tracing('g1')).use(tracing('g2'));
    await scheduler.addTask(
      () => {
        trace.push('task');
        if ((currentRun()?.attempt ?? 0) < 2) throw new Error('again');
      },
      {
        id: 't',
        trigger: new DateTrigger(T0 + 10),
        retries: { max: 1, delay: 10 },
        middleware: [tracing('t1'), tracing('t2')],
      },
    );
    await clock.advance(100);
    expect(trace).toEqual([
      'g1>1:t',
      'g2>1:t',
      't1>1:t',
      't2>1:t',
      'task',
      'g1>2:t',
      'g2>2:t',
      't1>2:t',
      't2>2:t',
      'task',
      '<t2',
      '<t1',
      '<g2',
      '<g1',
    ]);
  });

  it('may change the args, replace the result, and catch or replace an error', async () => {
    const scheduler = await clock.started();
    const seen = clock.record(scheduler, 'task:executed', 'task:error');
    const got: unknown[][] = [];
    await scheduler.addTask((...args: unknown[]) => got.push(args), {
      id: 'args',
      trigger: new DateTrigger(T0 + 10),
      args: [1],
      middleware: [
        async (run, next) => {
          run.args = [...run.args, 2];
          return `result ${await next()}`;
        },
      ],
    });
    await scheduler.addTask(
      () => {
        throw new Error('original');
      },
      {
        id: 'caught',
        trigger: new DateTrigger(T0 + 10),
        middleware: [(_run, next) => next().catch(() => 'recovered')],
      },
    );
    await scheduler.addTask(() => 'fine', {
      id: 'replaced',
      trigger: new DateTrigger(T0 + 10),
      middleware: [
        async (_run, next) => {
          await next();
          throw new TypeError('replaced');
        },
      ],
    });
    await clock.advance(100);
    expect(got).toEqual([[1, 2]]);
    const byTask = new Map(seen.map(([name, payload]) => [payload.taskId, [name, payload]]));
    expect(byTask.get('args')).toEqual(['task:executed', expect.objectContaining({ result: 'result 1' })]);
    expect(byTask.get('caught')).toEqual(['task:executed', expect.objectContaining({ result: 'recovered' })]);
    expect(byTask.get('replaced')?.[0]).toBe('task:error');
    expect((byTask.get('replaced')?.[1] as { error: Error } | undefined)?.error).toBeInstanceOf(TypeError);
    // The task's own args are untouched: the next run starts from them again.
    expect((await scheduler.getRuns({ taskId: 'args' }))[0]?.args).toEqual([1]);
  });

  it('a middleware that calls next() twice fails the attempt; use() and middleware take only functions or names', async () => {
    const scheduler = await clock.started();
    const seen = clock.record(scheduler, 'task:error');
    await scheduler.addTask(() => {}, {
      trigger: new DateTrigger(T0 + 10),
      middleware: [
        async (_run, next) => {
          await next();
          return next();
        },
      ],
    });
    await clock.advance(100);
    expect(String((seen[0]?.[1] as { error: Error } | undefined)?.error)).toMatch(/next\(\) more than once/);
    expect(() => scheduler.use('nope' as never)).toThrow(ValueError);
    await expect(
      scheduler.addTask(() => {}, { trigger: new IntervalTrigger({ hours: 1 }), middleware: 'x' as never }),
    ).rejects.toThrow(/middleware must be an array/);
    await expect(
      scheduler.addTask(() => {}, { trigger: new IntervalTrigger({ hours: 1 }), middleware: ['unknown'] }),
    ).rejects.toThrow(/middleware\[0\] "unknown" is not a name/);
  });

  it('per-task middleware by name runs the registered function; a persistent store keeps names only', async () => {
    const calls: string[] = [];
    const audit: Middleware = (run, next) => {
      calls.push(`audit ${run.taskId}`);
      return next();
    };
    const scheduler = await clock.started({ functions: { audit } });
    await scheduler.addTask(() => void calls.push('task'), {
      id: 'a',
      trigger: new DateTrigger(T0 + 10),
      middleware: ['audit'],
    });
    await clock.advance(100);
    expect(calls).toEqual(['audit a', 'task']);

    const json = serializeTask(makeRecord({ id: 'b', middleware: ['audit'] }));
    expect(json.middleware).toEqual(['audit']);
    expect(deserializeTask(JSON.parse(JSON.stringify(json))).middleware).toEqual(['audit']);
    expect(serializeTask(makeRecord({ id: 'c' }))).not.toHaveProperty('middleware');
    expect(() => serializeTask(makeRecord({ id: 'd', middleware: [() => {}] }))).toThrow(SerializationError);
    expect(() => deserializeTask({ ...json, middleware: [3] })).toThrow(/middleware/);
  });
});
