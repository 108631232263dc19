/**
 * Internal to kairos' stores, not a public API: reading the after-trigger of a stored task body for
 * `TaskStoreBase.getAfterTriggers`, without rebuilding the whole task.
 */
import type { AfterTriggerEntry } from '../../src/store.js';

/**
 * The entry of a stored task body (its JSON text, or the parsed object) whose trigger is an after-trigger; null
 * for any other body, and for one that does not parse (the store reports those where it reads tasks).
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
  if (trigger?.type !== 'after' || !Array.isArray(trigger.tasks)) return null;
  const tasks = trigger.tasks.filter((task): task is string => typeof task === 'string');
  return { id, tasks };
}
