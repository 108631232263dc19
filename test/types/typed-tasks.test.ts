// Typed tasks (API.md "Task composition"): `addTask` checks `args` against the function's parameters at compile time,
// for a function given directly and for a name in the `functions` registry whose type the scheduler keeps.
// Each `@ts-expect-error` below is on a call that must not compile: tsc fails on one that is not needed, so these
// lines are the proof. The calls of the compile-time cases are type-checked but never run (`typeOnly`).
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import {
  type ArgsOf,
  type FunctionRegistry,
  IntervalTrigger,
  type RunContext,
  Scheduler,
  type Task,
  type TaskArgs,
  type TaskFunction,
  type TaskFunctionRef,
  ValueError,
} from '../../src/index.js';
import { recordEvents, silentLogger } from '../support/events.js';
import { T0, useFakeClock } from '../support/fake-clock.js';

const trigger = new IntervalTrigger({ seconds: 1 });
/** A trigger made under the fake clock, so it starts there (the one above is made at import, on the real clock). */
const everySecond = () => new IntervalTrigger({ seconds: 1 });

function send(to: string, copies: number): string {
  return `${copies} to ${to}`;
}
function greet(name?: string): string {
  return `hello ${name ?? 'you'}`;
}
function sum(...values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
function head(first: string, second?: number, ...rest: boolean[]): unknown[] {
  return [first, second, ...rest];
}
function tick(): void {}
async function* pool(url: string, size = 2) {
  yield `${url} x${size}`;
}

/** Type-checks `body` without running it. */
function typeOnly(_body: () => unknown): void {}

describe('typed tasks: compile-time checks', () => {
  it('ArgsOf is the parameter tuple of a function, generator functions included; untyped is unknown[]', () => {
    expectTypeOf<ArgsOf<typeof send>>().toEqualTypeOf<[string, number]>();
    expectTypeOf<ArgsOf<typeof greet>>().toEqualTypeOf<[name?: string]>();
    expectTypeOf<ArgsOf<typeof sum>>().toEqualTypeOf<number[]>();
    expectTypeOf<ArgsOf<typeof head>>().toEqualTypeOf<[string, number?, ...boolean[]]>();
    expectTypeOf<ArgsOf<typeof tick>>().toEqualTypeOf<[]>();
    expectTypeOf<ArgsOf<typeof pool>>().toEqualTypeOf<[url: string, size?: number]>();
    // No `any` leaks out of an untyped function, a name of an untyped registry or a module reference.
    expectTypeOf<ArgsOf<TaskFunction>>().toEqualTypeOf<unknown[]>();
    expectTypeOf<TaskArgs<FunctionRegistry, 'whatever'>>().toEqualTypeOf<unknown[]>();
    expectTypeOf<TaskArgs<{ send: typeof send }, './jobs.js#report'>>().toEqualTypeOf<unknown[]>();
    expectTypeOf<TaskArgs<{ send: typeof send }, 'send'>>().toEqualTypeOf<[string, number]>();
    expectTypeOf<TaskFunctionRef<FunctionRegistry>>().not.toBeAny();
  });

  it('a function given directly: args must match its parameters', () => {
    typeOnly(async () => {
      const s = new Scheduler();
      await s.addTask(send, { trigger, args: ['a@b', 2] });
      await s.addTask((a: number, b: string) => [a, b], { trigger, args: [1, 'x'] });
      // @ts-expect-error: a string where a number is expected
      await s.addTask((a: number, b: string) => [a, b], { trigger, args: ['x'] });
      // @ts-expect-error: a required parameter is missing
      await s.addTask((a: number, b: string) => [a, b], { trigger, args: [1] });
      // @ts-expect-error: one argument too many
      await s.addTask((a: number, b: string) => [a, b], { trigger, args: [1, 'x', 3] });
      // @ts-expect-error: args omitted, but the function has required parameters
      await s.addTask(send, { trigger });
      // @ts-expect-error: wrong order
      await s.addTask(send, { trigger, args: [2, 'a@b'] });
    });
  });

  it('no parameters, optional and rest parameters behave as TS tuples do', () => {
    typeOnly(async () => {
      const s = new Scheduler();
      await s.addTask(tick, { trigger });
      await s.addTask(tick, { trigger, args: [] });
      // @ts-expect-error: tick takes no arguments
      await s.addTask(tick, { trigger, args: [1] });
      await s.addTask(greet, { trigger });
      await s.addTask(greet, { trigger, args: [] });
      await s.addTask(greet, { trigger, args: ['ann'] });
      // @ts-expect-error: the optional parameter is a string
      await s.addTask(greet, { trigger, args: [1] });
      await s.addTask(sum, { trigger });
      await s.addTask(sum, { trigger, args: [1, 2, 3] });
      // @ts-expect-error: rest of numbers
      await s.addTask(sum, { trigger, args: [1, '2'] });
      await s.addTask(head, { trigger, args: ['a'] });
      await s.addTask(head, { trigger, args: ['a', 1, true, false] });
      // @ts-expect-error: the rest is booleans
      await s.addTask(head, { trigger, args: ['a', 1, 'c'] });
      // @ts-expect-error: the first parameter is required
      await s.addTask(head, { trigger });
    });
  });

  it('generator functions (lifecycle tasks): args are the generator function parameters', () => {
    typeOnly(async () => {
      const s = new Scheduler();
      await s.addTask(pool, { trigger, args: ['db://x'] });
      await s.addTask(pool, { trigger, args: ['db://x', 4] });
      // @ts-expect-error: url is required
      await s.addTask(pool, { trigger });
      // @ts-expect-error: size is a number
      await s.addTask(pool, { trigger, args: ['db://x', '4'] });
    });
  });

  it('a literal functions registry keeps its names and parameters', () => {
    typeOnly(async () => {
      const s = new Scheduler({ functions: { send, tick, pool } });
      expectTypeOf(s).toEqualTypeOf<Scheduler<{ send: typeof send; tick: typeof tick; pool: typeof pool }>>();
      await s.addTask('send', { trigger, args: ['a@b', 1] });
      await s.addTask('tick', { trigger });
      await s.addTask('pool', { trigger, args: ['db://x'] });
      // @ts-expect-error: not a registered name
      await s.addTask('sned', { trigger, args: ['a@b', 1] });
      // @ts-expect-error: wrong args for 'send'
      await s.addTask('send', { trigger, args: [1] });
      // @ts-expect-error: 'send' has required parameters
      await s.addTask('send', { trigger });
      // @ts-expect-error: 'tick' takes none
      await s.addTask('tick', { trigger, args: ['x'] });
      // Module references are always accepted, with unchecked args.
      await s.addTask('./jobs/report.js#daily', { trigger, args: [1, { any: 'thing' }] });
      await s.addTask('./jobs/report.js#daily', { trigger });
      // Functions given directly are still checked against their own parameters.
      await s.addTask(greet, { trigger, args: ['ann'] });
      // @ts-expect-error: a string of unknown content is not a known name
      await s.addTask(String(Math.random()), { trigger });
      // A name (or function) known only as one of several cannot be checked, like updateTask: unknown[].
      const either = Math.random() < 0.5 ? 'send' : 'tick';
      expectTypeOf<TaskArgs<{ send: typeof send; tick: typeof tick }, typeof either>>().toEqualTypeOf<
        unknown[]
      >();
      await s.addTask(either, { trigger, args: ['a@b', 1] });
      // updateTask cannot know the function: its args stay unknown[].
      await s.updateTask('id', { args: [1, 'anything'] });
      expectTypeOf(s.addTask('send', { trigger, args: ['a@b', 1] })).resolves.toEqualTypeOf<Task>();
    });
  });

  it('a scheduler without functions, or with a registry that is not a literal, accepts any name', () => {
    typeOnly(async () => {
      const plain = new Scheduler();
      expectTypeOf(plain).toEqualTypeOf<Scheduler>();
      await plain.addTask('registeredLater', { trigger, args: [1, 'x'] });
      await plain.addTask('./jobs.js#fn', { trigger });
      const registry: Record<string, TaskFunction> = { send };
      const loose = new Scheduler({ functions: registry, timezone: 'UTC' });
      expectTypeOf(loose).toEqualTypeOf<Scheduler>();
      await loose.addTask('send', { trigger, args: ['not checked'] });
      const fnOrName = Math.random() < 0.5 ? send : 'send';
      await loose.addTask(fnOrName, { trigger, args: ['a@b', 1] });
      // A typed scheduler is still a Scheduler, for code that takes any.
      const typed: Scheduler = new Scheduler({ functions: { send } });
      await typed.addTask('anything', { trigger });
    });
  });
});

describe('typed tasks: run time', () => {
  const clock = useFakeClock();
  const built: Scheduler[] = [];
  afterEach(async () => {
    for (const scheduler of built.splice(0)) if (scheduler.running) await scheduler.shutdown({ wait: false });
  });
  /** A started scheduler (silent, UTC) that keeps the type of its functions. */
  async function typedScheduler<const F extends FunctionRegistry>(functions: F): Promise<Scheduler<F>> {
    const scheduler = new Scheduler({ logger: silentLogger, timezone: 'UTC', functions });
    built.push(scheduler);
    await scheduler.start();
    return scheduler;
  }

  it('a typed call runs the function with its args', async () => {
    const calls: unknown[][] = [];
    const scheduler = await clock.started();
    const task = await scheduler.addTask((a: number, b: string) => void calls.push([a, b]), {
      trigger: everySecond(),
      args: [1, 'x'],
    });
    expect(task.args).toEqual([1, 'x']);
    await clock.advance(2000);
    expect(calls).toEqual([
      [1, 'x'],
      [1, 'x'],
    ]);
  });

  it('a registered name runs the registered function with its args', async () => {
    const scheduler = await typedScheduler({ send });
    const seen = recordEvents(scheduler, 'task:executed');
    await scheduler.addTask('send', { id: 'report', trigger: everySecond(), args: ['a@b', 3] });
    await clock.advance(1000);
    expect(seen.map(([, event]) => event.result)).toEqual(['3 to a@b']);
  });

  it('omitted args are [] for a function whose parameters are all optional', async () => {
    const scheduler = await typedScheduler({ greet });
    const seen = recordEvents(scheduler, 'task:executed');
    const task = await scheduler.addTask('greet', { trigger: everySecond() });
    expect(task.args).toEqual([]);
    await clock.advance(1000);
    expect(seen.map(([, event]) => event.result)).toEqual(['hello you']);
  });

  it("a lifecycle task's args go to the generator function", async () => {
    const log: string[] = [];
    async function* connection(url: string, size: number) {
      log.push(`open ${url} x${size}`);
      try {
        while (true) {
          const run = (yield) as RunContext;
          log.push(`fire at ${run.scheduledRunTime.getTime() - T0}`);
        }
      } finally {
        log.push(`close ${url}`);
      }
    }
    const scheduler = await typedScheduler({ connection });
    await scheduler.addTask('connection', { id: 'db', trigger: everySecond(), args: ['db://x', 4] });
    expect(log).toEqual(['open db://x x4']);
    await clock.advance(1000);
    await scheduler.removeTask('db');
    expect(log).toEqual(['open db://x x4', 'fire at 1000', 'close db://x']);
  });

  it('run-time validation is unchanged: a name that is not registered is still refused', async () => {
    const scheduler = await typedScheduler({ send });
    await expect(scheduler.addTask('sned' as never, { trigger: everySecond() })).rejects.toThrow(ValueError);
  });
});
