/**
 * Middleware (API.md "Task composition"): functions that wrap each attempt of a run, in the Koa idiom. The
 * scheduler's (`scheduler.use`) wrap the task's own (`middleware` option), which wrap the task.
 */
import type { RunContext } from './context.js';
import { KairosError } from './errors.js';

/** What a middleware sees of the attempt: its `currentRun()` context and the args the task will be called with. */
export interface MiddlewareRun extends RunContext {
  /** The args the task is called with; a middleware may replace or change them before `next()`. */
  args: unknown[];
}

/**
 * Wraps one attempt: `next()` runs the rest of the chain and the task, and resolves with its result (or rejects with
 * its error). What a middleware returns (or throws) is the attempt's result (or error): it may observe, replace or
 * catch. One that never calls `next()` runs nothing further, and its own return value is the result.
 */
export type Middleware = (run: MiddlewareRun, next: () => Promise<unknown>) => unknown;

/**
 * An attempt's call with `chain` around it. `inner` calls the task with the args as the middleware left them.
 * Built only for tasks that have middleware: a task without any is called as before, at no cost.
 */
export function withMiddleware(
  chain: readonly Middleware[],
  inner: (context: RunContext, args: readonly unknown[]) => unknown,
  args: readonly unknown[],
): (context: RunContext) => Promise<unknown> {
  return (context) => {
    const run: MiddlewareRun = {
      taskId: context.taskId,
      scheduledRunTime: context.scheduledRunTime,
      attempt: context.attempt,
      signal: context.signal,
      get logger() {
        return context.logger;
      },
      args: [...args],
    };
    const dispatch = async (index: number): Promise<unknown> => {
      const middleware = chain[index];
      if (middleware === undefined) return inner(context, run.args);
      let called = false;
      return middleware(run, () => {
        if (called)
          return Promise.reject(new KairosError(`middleware ${index} called next() more than once`));
        called = true;
        return dispatch(index + 1);
      });
    };
    return dispatch(0);
  };
}
