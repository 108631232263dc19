/** Runs in progress per task, counted by the scheduler for the stores that only it uses. */

/**
 * Counts the runs in progress of each task of stores that are not shared, so `maxInstances` holds without a
 * store round trip (a shared store keeps run slots itself, counted across schedulers). Keyed by store alias,
 * then task id: both are strings the scheduler already holds, so no key is built per run.
 */
export class LocalRunCounts {
  /** Runs in progress by store alias and task id; absent means none. */
  readonly #counts = new Map<string, Map<string, number>>();

  /** How many runs of the task are in progress. */
  running(alias: string, taskId: string): number {
    return this.#counts.get(alias)?.get(taskId) ?? 0;
  }

  /** Counts one more run of the task. */
  add(alias: string, taskId: string): void {
    let tasks = this.#counts.get(alias);
    if (tasks === undefined) {
      tasks = new Map();
      this.#counts.set(alias, tasks);
    }
    tasks.set(taskId, (tasks.get(taskId) ?? 0) + 1);
  }

  /** Counts one run of the task less. */
  release(alias: string, taskId: string): void {
    const tasks = this.#counts.get(alias);
    const running = tasks?.get(taskId) ?? 0;
    if (running > 1) tasks?.set(taskId, running - 1);
    else tasks?.delete(taskId);
  }
}
