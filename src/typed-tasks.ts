/**
 * Typed tasks (API.md "Task composition"): the types that let `addTask` check a task's `args` against its
 * function's parameters at compile time, for a function given directly and for the name of one in the
 * scheduler's `functions` (whose type `new Scheduler({ functions })` keeps). Types only: nothing here exists at
 * run time, and the runtime validation of `args` (JSON in persistent stores…) is unchanged.
 */
import type { SchedulerOptions } from './options.js';
import type { TaskFunction } from './store.js';
import type { TaskOptions } from './task.js';

/**
 * The scheduler's named functions (its `functions` option). `new Scheduler({ functions: { … } })` keeps the
 * literal's type, so `addTask('name', { args })` knows the names and their parameters; a scheduler without
 * `functions`, or with a `Record<string, TaskFunction>`, knows neither and accepts any name.
 */
export type FunctionRegistry = Record<string, TaskFunction>;

/**
 * A module reference, `'./path/to/module.js#exportName'`: always accepted by `addTask`, with unchecked `args`
 * (the module is loaded at run time, so its export's parameters are unknown here).
 */
export type ModuleReference = `${string}#${string}`;

/** The names `addTask` accepts for a registry: its keys (any string for a registry that is not a literal). */
export type FunctionName<F extends FunctionRegistry> = keyof F & string;

/**
 * What `addTask` accepts as the function of a task, for a scheduler whose functions are `F`: a function (plain,
 * async, or a generator function for a lifecycle task), the name of one in `F`, or a module reference.
 * (`Scheduler.addTask` spells this union out, so that a compile error lists the registered names.)
 */
export type TaskFunctionRef<F extends FunctionRegistry> = TaskFunction | FunctionName<F> | ModuleReference;

/**
 * The `args` of a task of `fn`: its parameters, as a tuple (optional and rest parameters as in any TS tuple). A
 * generator function's args go to the generator function itself, so they are its parameters too. Parameters
 * that are not typed at all (`(...args: any[])`) give `unknown[]`: anything goes, but nothing is `any`.
 *
 * @example ArgsOf<(to: string, cc?: string) => void> // [to: string, cc?: string]
 */
export type ArgsOf<Fn> = Fn extends (...args: infer A) => unknown
  ? unknown[] extends A
    ? unknown[]
    : A
  : never;

/**
 * The `args` of a task added as `fn` (a function, a name or a module reference) to a scheduler whose functions are
 * `F`. A name of `F` is looked up first (as the scheduler does at run time); a module reference, or a name of a
 * registry that is not a literal, gives `unknown[]`. So does an `fn` that is not one function or name known at
 * compile time (a union such as `keyof typeof functions`, or `never`): like `updateTask`, the call cannot know
 * which parameters the task will get, so its `args` are not checked.
 */
export type TaskArgs<F extends FunctionRegistry, Fn> = [Fn] extends [never]
  ? unknown[]
  : IsUnion<Fn> extends true
    ? unknown[]
    : Fn extends TaskFunction
      ? ArgsOf<Fn>
      : Fn extends keyof F
        ? ArgsOf<F[Fn]>
        : unknown[];

/** True when `T` is a union of several types. */
type IsUnion<T, All = T> = T extends unknown ? ([All] extends [T] ? false : true) : never;

/**
 * The `args` option for a function whose parameters are `A`: required when `A` has a required element, optional
 * (default `[]`) when every parameter is optional or there is none.
 */
export type ArgsOption<A extends unknown[]> = [] extends A
  ? {
      /** Positional arguments passed to the function, checked against its parameters. @default [] */
      args?: A;
    }
  : {
      /** Positional arguments passed to the function, checked against its parameters (some are required). */
      args: A;
    };

/** The options of `addTask` for a function whose parameters are `A`: `TaskOptions` with `args` typed as `A`. */
export type TypedTaskOptions<A extends unknown[]> = Omit<TaskOptions, 'args'> & ArgsOption<A>;

/** The options of `new Scheduler()`, with the type of its `functions` kept as `F`. */
export type TypedSchedulerOptions<F extends FunctionRegistry> = Omit<SchedulerOptions, 'functions'> & {
  /** Named functions that tasks refer to by name (required for tasks in persistent stores); their types are kept. */
  functions?: F;
};
