/**
 * Tasks with a `ShutdownTrigger`: they never fire on the clock, only once during `shutdown()`. The scheduler
 * notes the ones it wrote, so that a shutdown fires them without scanning a store. They live only in a
 * `MemoryStore` (a persistent store refuses them: a crashed process would leave them behind).
 */
import type { Reports } from './reports.js';
import type { RunTracker } from './runs.js';
import type { TaskRecord } from './store.js';
import type { StoreLane } from './store-lane.js';
import { ShutdownTrigger } from './triggers/shutdown.js';

/** The shutdown-triggered tasks one scheduler wrote, by store alias and id. */
export class ShutdownTasks {
  readonly #keys = new Set<string>();

  /** Keeps the set in step with a task the scheduler wrote (it fires at shutdown or it does not). */
  note(alias: string, record: TaskRecord): void {
    const shutdown = record.trigger instanceof ShutdownTrigger;
    // No key is built on every add while no task has a shutdown trigger (the usual case).
    if (!shutdown && this.#keys.size === 0) return;
    const key = `${alias}\u0000${record.id}`;
    if (shutdown) this.#keys.add(key);
    else this.#keys.delete(key);
  }

  /** Forgets a task (it moved to another store). */
  forget(alias: string, id: string): void {
    this.#keys.delete(`${alias}\u0000${id}`);
  }

  /**
   * Submits one run of each noted task still stored with its shutdown trigger, then removes it (it fires once);
   * `removed` reports each removal. A task that cannot be fired is logged, and the others still fire.
   */
  async fire(
    lane: (alias: string) => StoreLane | undefined,
    runs: RunTracker,
    reports: Reports,
    removed: (alias: string, id: string) => void,
  ): Promise<void> {
    for (const key of this.#keys) {
      const [alias, id] = key.split('\u0000') as [string, string];
      const found = lane(alias);
      if (found === undefined) continue;
      try {
        await found.exclusive(async () => {
          const record = await found.store.getTask(id);
          if (record === undefined || !(record.trigger instanceof ShutdownTrigger)) return;
          await runs.submit(alias, found.store, record, new Date());
          await found.store.removeTask(id);
          removed(alias, id);
        });
      } catch (error) {
        reports.log(
          'error',
          { err: error, taskId: id, store: alias },
          `shutdown task '${id}' could not be fired`,
        );
      }
    }
    this.#keys.clear();
  }
}
