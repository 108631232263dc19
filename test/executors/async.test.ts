// AsyncExecutor (API.md, Executors; the `timeout` option of addTask): at most `concurrency` attempts at once,
// oldest waiter first; an abandoned attempt (its signal aborted: a timeout, a forced shutdown) frees its place at
// once even if its function never settles, and frees it only once; a sync attempt costs no listener or promise.
import { describe, expect, it, vi } from 'vitest';
import { onAbort, pendingAbortListeners } from '../../src/executors/executor.js';
import { AsyncExecutor, type Execution, ValueError } from '../../src/index.js';

/** An attempt calling `fn`, with `signal` (a fresh one by default). */
function execution(fn: () => unknown, signal = new AbortController().signal): Execution {
  return { taskId: 't1', fn: 'job', args: [], signal, invoke: fn };
}

/** A function that never settles, counting its calls. */
function hanging(): { fn: () => Promise<never>; calls: () => number } {
  let calls = 0;
  return {
    fn: () => {
      calls++;
      return new Promise<never>(() => {});
    },
    calls: () => calls,
  };
}

/** A promise with its resolve function. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Lets queued promise callbacks run. */
const flush = () => new Promise((resolve) => setImmediate(resolve));

/** Settles like `work`, or rejects if it has not settled within `ms` (so a regression fails fast). */
function within<T>(work: Promise<T>, ms = 1000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

describe('AsyncExecutor options', () => {
  it('rejects a non-object, an unknown key and a bad concurrency with a ValueError naming it', () => {
    const bad: Array<[unknown, RegExp]> = [
      [null, /^AsyncExecutor: options must be an object, got null$/],
      ['fast', /^AsyncExecutor: options must be an object, got "fast"$/],
      [5, /^AsyncExecutor: options must be an object, got 5$/],
      [[], /^AsyncExecutor: options must be an object/],
      [{ concurency: 2 }, /^AsyncExecutor: unknown option 'concurency'/],
      [{ concurrency: 0 }, /concurrency must be an integer .* got 0$/],
      [{ concurrency: 1.5 }, /concurrency .* got 1.5$/],
      [{ concurrency: '2' }, /concurrency .* got "2"$/],
    ];
    for (const [options, message] of bad) {
      expect(() => new AsyncExecutor(options as never), JSON.stringify(options)).toThrow(ValueError);
      expect(() => new AsyncExecutor(options as never), JSON.stringify(options)).toThrow(message);
    }
    expect(new AsyncExecutor().concurrency).toBe(Number.POSITIVE_INFINITY);
    expect(new AsyncExecutor(undefined).concurrency).toBe(Number.POSITIVE_INFINITY);
    expect(new AsyncExecutor({ concurrency: 3 }).concurrency).toBe(3);
    expect(new AsyncExecutor({ concurrency: undefined }).concurrency).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('AsyncExecutor places', () => {
  it('a sync attempt returns its result as is, and subscribes to nothing', () => {
    const executor = new AsyncExecutor({ concurrency: 1 });
    const controller = new AbortController();
    const added = vi.spyOn(controller.signal, 'addEventListener');
    for (let i = 0; i < 5; i++)
      expect(executor.execute(execution(() => i * 2, controller.signal))).toBe(i * 2);
    expect(() =>
      executor.execute(
        execution(() => {
          throw new Error('sync failure');
        }, controller.signal),
      ),
    ).toThrow('sync failure');
    expect(added).not.toHaveBeenCalled();
    // The places were all given back: a hung attempt still gets one.
    const hung = hanging();
    void executor.execute(execution(hung.fn));
    expect(hung.calls()).toBe(1);
  });

  it('a hung attempt whose signal aborts frees its place at once, to the oldest waiter', async () => {
    const executor = new AsyncExecutor({ concurrency: 1 });
    const timeout = new AbortController();
    const hung = hanging();
    const abandoned = executor.execute(execution(hung.fn, timeout.signal));
    const order: string[] = [];
    const first = executor.execute(execution(() => void order.push('first')));
    const second = executor.execute(execution(() => void order.push('second')));
    await flush();
    expect(order).toEqual([]);
    timeout.abort(new Error('timed out'));
    await within(Promise.all([first, second]));
    expect(order).toEqual(['first', 'second']);
    // The executor's own promise for the hung attempt stays pending: only the place was given up.
    let settled = false;
    void (abandoned as Promise<unknown>).then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    await flush();
    expect(settled).toBe(false);
  });

  it('an abandoned attempt that settles later does not free a place a second time', async () => {
    const executor = new AsyncExecutor({ concurrency: 1 });
    const timeout = new AbortController();
    const late = deferred<string>();
    const abandoned = executor.execute(execution(() => late.promise, timeout.signal));
    timeout.abort(new Error('timed out'));
    const holder = hanging();
    void executor.execute(execution(holder.fn));
    expect(holder.calls()).toBe(1);
    late.resolve('finally');
    await expect(abandoned).resolves.toBe('finally');
    // Had the late settlement freed a place, this attempt would start beside the holder.
    const waiter = hanging();
    void executor.execute(execution(waiter.fn));
    await flush();
    expect(waiter.calls()).toBe(0);
  });

  it('async attempts sharing one signal add one listener to it in all; settled ones are forgotten', async () => {
    const executor = new AsyncExecutor({ concurrency: 100 });
    const shared = new AbortController();
    const added = vi.spyOn(shared.signal, 'addEventListener');
    for (let round = 0; round < 3; round++) {
      const work = Array.from({ length: 100 }, (_, i) =>
        executor.execute(execution(async () => i, shared.signal)),
      );
      await expect(Promise.all(work)).resolves.toHaveLength(100);
    }
    expect(added).toHaveBeenCalledTimes(1);
    // Aborting now frees nothing: the settled attempts gave their places back already. Had it freed them
    // again, the 101st hung attempt below would start beside the first 100.
    shared.abort(new Error('shutting down'));
    const hung = Array.from({ length: 101 }, () => hanging());
    for (const each of hung) void executor.execute(execution(each.fn));
    await flush();
    expect(hung.filter((each) => each.calls() === 1)).toHaveLength(100);
  });

  it('attempts waiting for a place stop listening once they start', async () => {
    const executor = new AsyncExecutor({ concurrency: 1 });
    const shared = new AbortController();
    const gate = deferred();
    const work = Array.from({ length: 100 }, (_, i) =>
      executor.execute(execution(() => gate.promise.then(() => i), shared.signal)),
    );
    expect(pendingAbortListeners(shared.signal)).toBe(99);
    gate.resolve();
    await expect(Promise.all(work)).resolves.toHaveLength(100);
    expect(pendingAbortListeners(shared.signal)).toBe(0);
  });

  it('one shared signal aborting frees every place, and its waiters never run', async () => {
    const executor = new AsyncExecutor({ concurrency: 2 });
    const shared = new AbortController();
    const running = [hanging(), hanging()];
    for (const each of running) void executor.execute(execution(each.fn, shared.signal));
    const queued = hanging();
    const waiting = executor.execute(execution(queued.fn, shared.signal));
    const reason = new Error('shutting down');
    shared.abort(reason);
    await expect(within(waiting as Promise<unknown>)).rejects.toBe(reason);
    expect(queued.calls()).toBe(0);
    const next = [hanging(), hanging(), hanging()];
    for (const each of next) void executor.execute(execution(each.fn));
    await flush();
    expect(next.map((each) => each.calls())).toEqual([1, 1, 0]);
  });

  it('shutdown({ wait: true }) returns once a hung attempt is abandoned', async () => {
    const executor = new AsyncExecutor({ concurrency: 1 });
    const timeout = new AbortController();
    void executor.execute(execution(hanging().fn, timeout.signal));
    const waiter = executor.execute(execution(hanging().fn, timeout.signal));
    let stopped = false;
    const stopping = executor.shutdown({ wait: true }).then(() => {
      stopped = true;
    });
    await flush();
    expect(stopped).toBe(false);
    timeout.abort(new Error('timed out'));
    await expect(within(waiter as Promise<unknown>)).rejects.toThrow('timed out');
    await within(stopping);
    expect(stopped).toBe(true);
  });

  it('an attempt started on an already aborted signal gives its place back at once', async () => {
    const executor = new AsyncExecutor({ concurrency: 1 });
    const aborted = new AbortController();
    aborted.abort(new Error('too late'));
    void executor.execute(execution(hanging().fn, aborted.signal));
    const next = hanging();
    void executor.execute(execution(next.fn));
    expect(next.calls()).toBe(1);
  });
});

describe('onAbort', () => {
  it('calls each subscribed listener once on abort, skips unsubscribed ones, and calls at once if already aborted', () => {
    const controller = new AbortController();
    const added = vi.spyOn(controller.signal, 'addEventListener');
    const calls: string[] = [];
    const offs = ['a', 'b', 'c'].map((name) => onAbort(controller.signal, () => void calls.push(name)));
    offs[1]?.();
    expect(pendingAbortListeners(controller.signal)).toBe(2);
    controller.abort();
    controller.abort();
    expect(calls).toEqual(['a', 'c']);
    expect(added).toHaveBeenCalledTimes(1);
    expect(pendingAbortListeners(controller.signal)).toBe(0);
    onAbort(controller.signal, () => void calls.push('late'));
    expect(calls).toEqual(['a', 'c', 'late']);
  });

  it('a listener that throws does not keep the others from being called', async () => {
    const controller = new AbortController();
    const calls: string[] = [];
    onAbort(controller.signal, () => {
      throw new Error('listener failed');
    });
    onAbort(controller.signal, () => void calls.push('second'));
    const uncaught = new Promise<unknown>((resolve) => process.once('uncaughtException', resolve));
    controller.abort();
    expect(calls).toEqual(['second']);
    expect(await uncaught).toHaveProperty('message', 'listener failed');
  });
});
