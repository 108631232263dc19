// WorkerExecutor (API.md, Executors): module references run in real worker threads (piscina), args and
// results are structured clones, errors come back with their message and name, a task's timeout terminates
// the thread, and piscina is an optional peer dependency loaded only at start().
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DateTrigger,
  type Execution,
  KairosError,
  Scheduler,
  SerializationError,
  type TaskFunction,
  type TaskOptions,
  TimeoutError,
  ValueError,
  WorkerExecutor,
} from '../../src/index.js';
import { silentLogger } from '../support/events.js';

/** The task module, referenced relative to the working directory (the repository root under vitest). */
const TASKS = './test/support/worker-tasks.ts';

type Outcome = { ok: true; result: unknown } | { ok: false; error: unknown };

/** Adds a task due now and resolves with how its run ended. */
async function runOnce(
  scheduler: Scheduler,
  fn: TaskFunction | string,
  options: Omit<TaskOptions, 'trigger'> & { id: string },
): Promise<Outcome> {
  const done = new Promise<Outcome>((resolve) => {
    scheduler.on('task:executed', (event) => {
      if (event.taskId === options.id) resolve({ ok: true, result: event.result });
    });
    scheduler.on('task:error', (event) => {
      if (event.taskId === options.id) resolve({ ok: false, error: event.error });
    });
  });
  await scheduler.addTask(fn, { trigger: new DateTrigger(Date.now()), ...options });
  return done;
}

/** The result of a run that must have succeeded. */
function resultOf(outcome: Outcome): unknown {
  if (!outcome.ok) throw outcome.error;
  return outcome.result;
}

/** The error of a run that must have failed. */
function errorOf(outcome: Outcome): unknown {
  if (outcome.ok) throw new Error(`expected the run to fail, it returned ${String(outcome.result)}`);
  return outcome.error;
}

describe('WorkerExecutor through a Scheduler', () => {
  let scheduler: Scheduler | undefined;
  afterEach(async () => {
    if (scheduler?.running) await scheduler.shutdown({ wait: false });
    scheduler = undefined;
  });

  function startScheduler(threads: number, functions: Record<string, TaskFunction> = {}): Promise<void> {
    scheduler = new Scheduler({
      logger: silentLogger,
      timezone: 'UTC',
      functions,
      executors: { default: new WorkerExecutor({ threads }) },
    });
    return scheduler.start();
  }

  it('runs a CPU-bound export in a worker thread; args and result round trip as structured clones', async () => {
    await startScheduler(2);
    const s = scheduler as Scheduler;
    const [crunched, echoed] = await Promise.all([
      runOnce(s, `${TASKS}#crunch`, { id: 'crunch', args: [100_000] }),
      runOnce(s, `${TASKS}#echo`, {
        id: 'echo',
        args: [{ nested: [1, 'two', null] }, new Date(0), new Map([['k', 1n]]), new Uint8Array([1, 2, 3])],
      }),
    ]);
    expect(resultOf(crunched)).toEqual({ primes: 9592, threadId: expect.any(Number), isMainThread: false });
    expect((resultOf(crunched) as { threadId: number }).threadId).not.toBe(0);
    expect(resultOf(echoed)).toEqual({
      args: [{ nested: [1, 'two', null] }, new Date(0), new Map([['k', 1n]]), new Uint8Array([1, 2, 3])],
      kinds: ['[object Object]', '[object Date]', '[object Map]', '[object Uint8Array]'],
    });
  });

  it('an error thrown in the worker becomes task:error with its message, name, own properties and cause', async () => {
    await startScheduler(1);
    const s = scheduler as Scheduler;
    const error = errorOf(await runOnce(s, `${TASKS}#fail`, { id: 'fail', args: ['over quota'] }));
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ name: 'QuotaError', message: 'over quota', code: 'E_QUOTA' });
    expect((error as Error).stack).toContain('worker-tasks');
    expect((error as Error).cause).toBeInstanceOf(RangeError);
    expect((error as Error).cause).toHaveProperty('message', 'limit 3');
    // A thrown non-Error value comes back as that value.
    const thrown = errorOf(await runOnce(s, `${TASKS}#throwValue`, { id: 'value', args: [{ reason: 'x' }] }));
    expect(thrown).toEqual({ reason: 'x' });
  });

  it('a timeout terminates a busy-looping worker: TimeoutError, and the pool runs the next task on a new thread', async () => {
    await startScheduler(1);
    const s = scheduler as Scheduler;
    const before = resultOf(await runOnce(s, `${TASKS}#crunch`, { id: 'before', args: [10] }));
    // spin never returns: the run ends only because its timeout terminates the thread.
    const error = errorOf(await runOnce(s, `${TASKS}#spin`, { id: 'spin', timeout: 300 }));
    expect(error).toBeInstanceOf(TimeoutError);
    // With one thread, the next run proves the spinning thread is gone: it runs, on a new thread.
    const after = resultOf(await runOnce(s, `${TASKS}#crunch`, { id: 'after', args: [10] }));
    expect(after).toMatchObject({ primes: 4, isMainThread: false });
    expect((after as { threadId: number }).threadId).not.toBe((before as { threadId: number }).threadId);
  });

  it('a closure, a registered name, non-cloneable args or result: SerializationError naming the task', async () => {
    await startScheduler(1, { registered: () => 1 });
    const s = scheduler as Scheduler;
    const closure = errorOf(await runOnce(s, () => 1, { id: 'closure' }));
    expect(closure).toBeInstanceOf(SerializationError);
    expect((closure as Error).message).toMatch(/task 'closure'.*WorkerExecutor runs module references only/);
    const named = errorOf(await runOnce(s, 'registered', { id: 'named' }));
    expect(named).toBeInstanceOf(SerializationError);
    expect((named as Error).message).toMatch(/task 'named'.*module references only.*"registered"/);
    const args = errorOf(await runOnce(s, `${TASKS}#echo`, { id: 'bad-args', args: [() => 1] }));
    expect(args).toBeInstanceOf(SerializationError);
    expect((args as Error).message).toMatch(/task 'bad-args'.*structured-cloneable args/);
    const result = errorOf(await runOnce(s, `${TASKS}#unclonable`, { id: 'bad-result' }));
    expect(result).toBeInstanceOf(SerializationError);
    expect((result as Error).message).toMatch(/task 'bad-result'.*result cannot be sent back/);
  });

  it('shutdown({ wait: true }) lets a running task finish; shutdown({ wait: false }) terminates a busy one', async () => {
    await startScheduler(1);
    let s = scheduler as Scheduler;
    const finished = runOnce(s, `${TASKS}#crunch`, { id: 'graceful', args: [50_000] });
    await new Promise((resolve) => s.once('task:submitted', resolve));
    await s.shutdown({ wait: true });
    expect(resultOf(await finished)).toMatchObject({ primes: 5133 });

    await startScheduler(1);
    s = scheduler as Scheduler;
    const spinning = runOnce(s, `${TASKS}#spin`, { id: 'forced' });
    await new Promise((resolve) => s.once('task:submitted', resolve));
    // spin never returns: its run ends (with an error) only because shutdown terminates the thread.
    await s.shutdown({ wait: false });
    expect(errorOf(await spinning)).toBeInstanceOf(KairosError);
    expect(s.running).toBe(false);
  });
});

describe('WorkerExecutor on its own', () => {
  const context = { logger: silentLogger, alias: 'default' };

  function execution(fn: string, args: unknown[], signal = new AbortController().signal): Execution {
    return {
      taskId: 't1',
      fn,
      args,
      signal,
      invoke: () => Promise.reject(new Error('a WorkerExecutor never invokes in this thread')),
    };
  }

  it('rejects bad options with a ValueError naming the value', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ threads: 0 }, /^WorkerExecutor: threads .* got 0$/],
      [{ threads: 1.5 }, /threads .* got 1.5/],
      [{ threads: '2' }, /threads .* got "2"/],
      [{ idleTimeout: -1 }, /^WorkerExecutor: idleTimeout: -1/],
      [{ idleTimeout: 'soon' }, /^WorkerExecutor: idleTimeout: "soon"/],
      [{ maxThreads: 4 }, /^WorkerExecutor: unknown option 'maxThreads'/],
      [{ idleTimout: 1000 }, /^WorkerExecutor: unknown option 'idleTimout'/],
      [null, /^WorkerExecutor: options must be an object, got null/],
      ['fast', /^WorkerExecutor: options must be an object, got "fast"/],
      [[], /^WorkerExecutor: options must be an object/],
    ];
    for (const [options, message] of bad) {
      expect(() => new WorkerExecutor(options as never), JSON.stringify(options)).toThrow(ValueError);
      expect(() => new WorkerExecutor(options as never)).toThrow(message);
    }
    const executor = new WorkerExecutor({ idleTimeout: { seconds: 5 } });
    expect(executor.idleTimeoutMs).toBe(5000);
    expect(executor.threads).toBeGreaterThanOrEqual(1);
  });

  it('accepts an idleTimeout past the 2^31-1 ms piscina can wait, capped to that (about 24.8 days)', () => {
    expect(new WorkerExecutor({ idleTimeout: { days: 30 } }).idleTimeoutMs).toBe(2 ** 31 - 1);
    expect(new WorkerExecutor({ idleTimeout: 2 ** 31 - 1 }).idleTimeoutMs).toBe(2 ** 31 - 1);
  });

  it('reports a module that fails to import or an export that is not a function in the worker; refuses work when stopped', async () => {
    const executor = new WorkerExecutor({ threads: 1 });
    await expect(executor.execute(execution(`${TASKS}#crunch`, [10]))).rejects.toThrow(
      /not running, cannot run task 't1'/,
    );
    await executor.start(context);
    try {
      await expect(executor.execute(execution('./test/support/no-such.ts#job', []))).rejects.toThrow(
        /task 't1': cannot import module reference ".*no-such\.ts#job" in a worker thread/,
      );
      await expect(executor.execute(execution(`${TASKS}#notAFunction`, []))).rejects.toThrow(
        /export 'notAFunction' is not a function/,
      );
    } finally {
      await executor.shutdown({ wait: false });
    }
    await expect(executor.execute(execution(`${TASKS}#crunch`, [10]))).rejects.toThrow(KairosError);
  });

  it('shutdown({ wait: true }) waits for submitted attempts, then stops the threads', async () => {
    const executor = new WorkerExecutor({ threads: 1 });
    await executor.start(context);
    const first = executor.execute(execution(`${TASKS}#crunch`, [50_000]));
    const second = executor.execute(execution(`${TASKS}#crunch`, [10]));
    await executor.shutdown({ wait: true });
    await expect(first).resolves.toMatchObject({ primes: 5133 });
    await expect(second).resolves.toMatchObject({ primes: 4 });
    await expect(executor.execute(execution(`${TASKS}#crunch`, [10]))).rejects.toThrow(/not running/);
  });

  it('an aborted signal drops a queued attempt and terminates a running one, rejecting with the reason', async () => {
    const executor = new WorkerExecutor({ threads: 1 });
    await executor.start(context);
    try {
      const running = new AbortController();
      const queued = new AbortController();
      const spin = executor.execute(execution(`${TASKS}#spin`, [], running.signal));
      const waiting = executor.execute(execution(`${TASKS}#crunch`, [10], queued.signal));
      queued.abort(new Error('dropped'));
      await expect(waiting).rejects.toThrow('dropped');
      running.abort(new Error('stopped'));
      await expect(spin).rejects.toThrow('stopped');
      await expect(executor.execute(execution(`${TASKS}#crunch`, [10]))).resolves.toMatchObject({
        primes: 4,
      });
    } finally {
      await executor.shutdown({ wait: false });
    }
  });
});

describe('piscina, the optional peer dependency', () => {
  const run = promisify(execFile);
  const child = fileURLToPath(new URL('../support/worker-loaded-modules.ts', import.meta.url));
  const runChild = async (mode: string): Promise<Record<string, unknown>> => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', child, mode], { timeout: 15_000 });
    return JSON.parse(stdout.trim()) as Record<string, unknown>;
  };

  it('is loaded neither by importing kairos nor by constructing a WorkerExecutor, only by start()', async () => {
    expect(await runChild('loaded')).toEqual({ afterImport: false, afterConstruct: false, afterStart: true });
  });

  it('missing: start() fails with a KairosError naming the package and how to install it', async () => {
    const failure = await runChild('missing');
    expect(failure).toMatchObject({ name: 'KairosError', kairos: true });
    expect(failure.message).toContain("'piscina'");
    expect(failure.message).toContain('npm install piscina');
  });
});
