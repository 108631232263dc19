// Run features of API.md: retries, timeout, currentRun, runTaskNow, graceful shutdown, shutdown triggers.
import { describe, expect, it } from 'vitest';
import {
  AsyncExecutor,
  currentRun,
  DateTrigger,
  IntervalTrigger,
  type RunContext,
  SchedulerNotRunningError,
  ShutdownTrigger,
  TimeoutError,
} from '../../src/index.js';
import { payloads } from '../support/events.js';
import { T0, useFakeClock } from '../support/fake-clock.js';
import { unloggableError, warnLogger } from '../support/loggers.js';

describe('runs (fake timers)', () => {
  const clock = useFakeClock();

  it('retries with exponential backoff, capped by maxDelay, then task:error with the last attempt', async () => {
    const scheduler = clock.scheduler();
    const seen = clock.record(scheduler, 'task:retry', 'task:error', 'task:executed');
    const attempts: number[] = [];
    await scheduler.start();
    await scheduler.addTask(
      () => {
        attempts.push(clock.elapsed());
        throw new Error(`fail ${attempts.length}`);
      },
      { trigger: new DateTrigger(T0 + 1000), retries: { max: 3, delay: 100, backoff: 3, maxDelay: 500 } },
    );
    await clock.advance(5000);
    // Delays: 100, 300, then 900 capped to 500.
    expect(attempts).toEqual([1000, 1100, 1400, 1900]);
    const retries = payloads(seen, 'task:retry');
    expect(retries.map((e) => [e.attempt, e.delayMs])).toEqual([
      [1, 100],
      [2, 300],
      [3, 500],
    ]);
    expect(retries[0]?.scheduledRunTime.getTime()).toBe(T0 + 1000);
    const errors = payloads(seen, 'task:error');
    expect(errors).toHaveLength(1);
    expect(errors[0]?.attempt).toBe(4);
    expect(errors[0]?.error).toHaveProperty('message', 'fail 4');
  });

  it('a retry that succeeds ends in task:executed, and currentRun().attempt counts attempts', async () => {
    const scheduler = clock.scheduler();
    const seen = clock.record(scheduler, 'task:executed', 'task:error');
    await scheduler.start();
    await scheduler.addTask(
      () => {
        const attempt = currentRun()?.attempt ?? 0;
        if (attempt < 3) throw new Error('not yet');
        return attempt;
      },
      { trigger: new DateTrigger(T0 + 10), retries: { max: 5, delay: 10, jitter: true } },
    );
    await clock.advance(1000);
    expect(payloads(seen, 'task:executed').map((e) => e.result)).toEqual([3]);
    expect(payloads(seen, 'task:error')).toEqual([]);
  });

  it('timeout aborts currentRun().signal and fails the run with TimeoutError', async () => {
    const scheduler = clock.scheduler();
    const seen = clock.record(scheduler, 'task:error');
    let signal: AbortSignal | undefined;
    await scheduler.start();
    await scheduler.addTask(
      () => {
        signal = currentRun()?.signal;
        return new Promise(() => {});
      },
      { id: 'stuck', trigger: new DateTrigger(T0 + 10), timeout: 500 },
    );
    await clock.advance(509);
    expect(signal?.aborted).toBe(false);
    await clock.advance(2);
    expect(signal?.aborted).toBe(true);
    const error = payloads(seen, 'task:error')[0]?.error;
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).message).toContain("'stuck'");
    expect(signal?.reason).toBe(error);
  });

  it('currentRun() gives the run context inside a run (across awaits) and undefined outside', async () => {
    const scheduler = clock.scheduler();
    const contexts: RunContext[] = [];
    await scheduler.start();
    await scheduler.addTask(
      async () => {
        await Promise.resolve();
        contexts.push(currentRun() as RunContext);
      },
      { id: 'ctx', trigger: new DateTrigger(T0 + 50) },
    );
    await clock.advance(100);
    expect(contexts).toHaveLength(1);
    expect(contexts[0]).toMatchObject({ taskId: 'ctx', attempt: 1, scheduledRunTime: new Date(T0 + 50) });
    expect(contexts[0]?.signal).toBeInstanceOf(AbortSignal);
    expect(typeof contexts[0]?.logger.info).toBe('function');
    expect(currentRun()).toBeUndefined();
  });

  it('args are passed positionally', async () => {
    const scheduler = clock.scheduler();
    const received: unknown[][] = [];
    await scheduler.start();
    await scheduler.addTask((...args: unknown[]) => void received.push(args), {
      trigger: new DateTrigger(T0 + 1),
      args: [1, 'two', { three: 3 }],
    });
    await clock.advance(10);
    expect(received).toEqual([[1, 'two', { three: 3 }]]);
  });

  it('runTaskNow runs once outside the schedule, honours maxInstances, and leaves the schedule unchanged', async () => {
    const scheduler = clock.scheduler();
    const seen = clock.record(scheduler, 'task:submitted', 'task:max-instances');
    await scheduler.start();
    const task = await scheduler.addTask(() => new Promise((resolve) => setTimeout(resolve, 100)), {
      id: 'now',
      trigger: new IntervalTrigger({ hours: 1 }),
    });
    await scheduler.runTaskNow('now');
    await task.runNow();
    expect(payloads(seen, 'task:submitted').map((e) => e.scheduledRunTime.getTime())).toEqual([T0]);
    expect(payloads(seen, 'task:max-instances')).toHaveLength(1);
    expect((await scheduler.getTask('now'))?.nextRunTime?.getTime()).toBe(T0 + 3_600_000);
  });

  it('sync runs end inside their wake-up: each in its own currentRun, and a finished run frees its place at once', async () => {
    const scheduler = clock.scheduler();
    const seen = clock.record(scheduler, 'task:max-instances', 'task:executed');
    const calls: string[] = [];
    await scheduler.start();
    for (const id of ['a', 'b']) {
      await scheduler.addTask(() => calls.push(`${id}:${currentRun()?.taskId}:${currentRun()?.attempt}`), {
        id,
        trigger: new IntervalTrigger({ milliseconds: 100 }, { startAt: T0 + 100 }),
      });
    }
    await clock.advance(300);
    expect(calls.sort()).toEqual(['a:a:1', 'a:a:1', 'a:a:1', 'b:b:1', 'b:b:1', 'b:b:1']);
    expect(payloads(seen, 'task:max-instances')).toEqual([]);
    expect(payloads(seen, 'task:executed').map((e) => e.result)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(currentRun()).toBeUndefined();
  });

  it('AsyncExecutor concurrency queues runs beyond the limit', async () => {
    const scheduler = clock.scheduler({ executors: { default: new AsyncExecutor({ concurrency: 2 }) } });
    let active = 0;
    let peak = 0;
    await scheduler.start();
    for (let i = 0; i < 5; i++) {
      await scheduler.addTask(
        async () => {
          active++;
          peak = Math.max(peak, active);
          await new Promise((resolve) => setTimeout(resolve, 100));
          active--;
        },
        { trigger: new DateTrigger(T0 + 10) },
      );
    }
    const seen = clock.record(scheduler, 'task:executed');
    await clock.advance(1000);
    expect(peak).toBe(2);
    expect(seen).toHaveLength(5);
  });

  it('shutdown waits for runs in progress', async () => {
    const scheduler = clock.scheduler();
    let finished = false;
    await scheduler.start();
    await scheduler.addTask(
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        finished = true;
      },
      { trigger: new DateTrigger(T0 + 10) },
    );
    await clock.advance(20);
    const done = scheduler.shutdown();
    await clock.advance(2000);
    await done;
    expect(finished).toBe(true);
    expect(scheduler.running).toBe(false);
  });

  it('shutdown with a timeout aborts the signals of runs still going', async () => {
    const scheduler = clock.scheduler();
    let signal: AbortSignal | undefined;
    const seen = clock.record(scheduler, 'task:error', 'scheduler:shutdown');
    await scheduler.start();
    await scheduler.addTask(
      () => {
        signal = currentRun()?.signal;
        return new Promise(() => {});
      },
      { trigger: new DateTrigger(T0 + 10) },
    );
    await clock.advance(20);
    const done = scheduler.shutdown({ timeout: 300 });
    await clock.advance(299);
    expect(signal?.aborted).toBe(false);
    await clock.advance(1);
    await done;
    expect(signal?.aborted).toBe(true);
    expect(seen.map(([name]) => name)).toEqual(['task:error', 'scheduler:shutdown']);
  });

  it('a ShutdownTrigger task fires once during shutdown, before stores close', async () => {
    const scheduler = clock.scheduler();
    const order: string[] = [];
    scheduler.on('scheduler:shutdown', () => void order.push('shutdown event'));
    await scheduler.start();
    await scheduler.addTask(async () => void order.push('cleanup ran'), { trigger: new ShutdownTrigger() });
    await clock.advance(10_000);
    expect(order).toEqual([]);
    await scheduler.shutdown();
    expect(order).toEqual(['cleanup ran', 'shutdown event']);
  });

  it('Symbol.asyncDispose shuts the scheduler down', async () => {
    const scheduler = clock.scheduler();
    await scheduler.start();
    await scheduler[Symbol.asyncDispose]();
    expect(scheduler.running).toBe(false);
    await expect(scheduler.shutdown()).rejects.toBeInstanceOf(SchedulerNotRunningError);
  });

  it('the scheduler can be started again after shutdown, with its tasks still in the memory store', async () => {
    const scheduler = clock.scheduler();
    const seen = clock.record(scheduler, 'task:executed');
    await scheduler.start();
    await scheduler.addTask(() => 'again', { id: 'keep', trigger: new IntervalTrigger({ seconds: 1 }) });
    await scheduler.shutdown();
    await scheduler.start();
    await clock.advance(1000);
    expect(payloads(seen, 'task:executed').map((e) => e.taskId)).toEqual(['keep']);
  });

  // API.md "Dispatch semantics" (maxInstances counts runs in progress): a run that fails ends, even when its failure
  // cannot be logged, so it does not hold its place against later fires.
  it('an async failure that cannot be logged still ends its run, so maxInstances does not skip later fires', async () => {
    const scheduler = clock.scheduler({ logger: warnLogger });
    const seen = clock.record(scheduler, 'task:max-instances', 'task:error');
    let runs = 0;
    await scheduler.start();
    await scheduler.addTask(
      async () => {
        runs++;
        throw unloggableError();
      },
      { trigger: new IntervalTrigger({ seconds: 1 }, { startAt: T0 + 1000 }) },
    );
    await clock.advance(5500);
    expect(payloads(seen, 'task:max-instances')).toEqual([]);
    expect(runs).toBe(5);
    expect(payloads(seen, 'task:error')).toHaveLength(5);
  });

  // API.md "Events": task:executed adds durationMs, the run's own duration, however listeners come and go.
  it('task:executed durationMs is the run time, even with a listener added while the run was going', async () => {
    const scheduler = clock.scheduler();
    await scheduler.start();
    let finish: () => void = () => {};
    await scheduler.addTask(() => new Promise<void>((resolve) => (finish = resolve)), {
      trigger: new DateTrigger(T0 + 1000),
    });
    await clock.advance(60_000);
    const seen = clock.record(scheduler, 'task:executed');
    await clock.advance(2000);
    finish();
    await clock.advance(0);
    expect(payloads(seen, 'task:executed').map((e) => Math.round(e.durationMs / 100) * 100)).toEqual([
      61_000,
    ]);
  });

  // API.md "Executors" (AsyncExecutor runs at most `concurrency` at once): a run whose result cannot even be
  // awaited fails (task:error) and frees its executor place, so the next run starts and shutdown does not wait.
  it('a result whose then getter throws fails the run and frees its AsyncExecutor place', async () => {
    const scheduler = clock.scheduler({ executors: { default: new AsyncExecutor({ concurrency: 1 }) } });
    const seen = clock.record(scheduler, 'task:error');
    const ran: string[] = [];
    await scheduler.start();
    await scheduler.addTask(
      () => ({
        // biome-ignore lint/suspicious/noThenProperty: a thenable whose then cannot be read is the case under test.
        get then() {
          throw new Error('hostile thenable');
        },
      }),
      { id: 'a', trigger: new DateTrigger(T0 + 1000) },
    );
    await scheduler.addTask(() => void ran.push('b'), { id: 'b', trigger: new DateTrigger(T0 + 2000) });
    await clock.advance(5000);
    expect(ran).toEqual(['b']);
    expect(payloads(seen, 'task:error').map((e) => (e.error as Error).message)).toEqual(['hostile thenable']);
    let done = false;
    void scheduler.shutdown({ wait: true }).then(() => (done = true));
    await clock.advance(0);
    expect(done).toBe(true);
  });
});
