/**
 * Internal to kairos' stores, not a public API: reading the after-trigger of a stored task body for
 * `TaskStoreBase.getAfterTriggers`, without rebuilding the whole task.
 */
import type { AfterTriggerEntry } from '../../src/store.js';

/**
 * The entry of a stored task body (its JSON text, or the parsed object) whose trigger is an after-trigger; null
 * for any other body, one that does not parse, or a spec whose task list is not one of ids (the store reports
 * unreadable tasks where it reads them).
 */
export function afterTriggerEntry(id: string, data: unknown): AfterTriggerEntry | null {
  let body: unknown = data;
  if (typeof data === 'string') {
    try {
      body = JSON.parse(data);
    } catch {
      return null;
    }
  }
  const trigger = (body as { trigger?: { type?: unknown; tasks?: unknown } } | null)?.trigger;
  const tasks = trigger?.tasks;
  if (trigger?.type !== 'after' || !Array.isArray(tasks) || !tasks.every((task) => typeof task === 'string'))
    return null;
  return { id, tasks: tasks as string[] };
}
