/**
 * The one place where a `TaskRecord` becomes plain JSON and back, for every persistent store. A stored task
 * keeps its function as a name or module reference (never code), its trigger as `trigger.toJSON()`, and every
 * other field as is. Reading validates the whole shape: any problem is a `SerializationError` naming the task id
 * and what is wrong, so that a store can report the record and keep it untouched.
 */

import { SerializationError } from './errors.js';
import { LruCache } from './lru-cache.js';
import { HOOK_KINDS, type RetryPolicy, type TaskHooks, type TaskRecord } from './store.js';
import { tagListProblem } from './tags.js';

import { triggerFromSpec } from './triggers/spec.js';
import type { Trigger, TriggerSpec } from './triggers/trigger.js';
import { describeValue, isPlainObject } from './validate.js';

/**
 * A task as persistent stores keep it: plain JSON. The same fields as `TaskRecord`, except that the function is
 * a name in the scheduler's `functions` or a module reference (`'./jobs.js#report'`), and the trigger its spec.
 */
export type StoredTaskJson = Omit<TaskRecord, 'fn' | 'trigger' | 'tags' | 'hooks' | 'middleware'> & {
  fn: string;
  trigger: TriggerSpec;
  /** Absent when the task has none (as every task stored before tags existed). */
  tags?: string[];
  /** Hooks by function name; absent when the task has none. */
  hooks?: StoredHooks;
  /** Middleware by function name; absent when the task has none. */
  middleware?: string[];
};

/** A task's hooks as stored: names of registered functions. */
export type StoredHooks = { [K in keyof TaskHooks]?: string };

/** A stored task without its next run time, for stores that keep the next run time in a column of its own. */
export type StoredTaskBody = Omit<StoredTaskJson, 'nextRunTime'>;

/** Turns a record into plain JSON; a function that is code, not a name, is a `SerializationError` naming the task. */
export function serializeTask(record: TaskRecord): StoredTaskJson {
  if (typeof record.fn !== 'string') {
    throw new SerializationError(
      `task '${record.id}': a persistent store keeps a function name or module reference, never code; got a function`,
    );
  }
  const json: StoredTaskJson = {
    id: record.id,
    name: record.name,
    fn: record.fn,
    trigger: record.trigger.toJSON(),
    args: record.args,
    executor: record.executor,
    coalesce: record.coalesce,
    misfireGraceTime: record.misfireGraceTime,
    maxInstances: record.maxInstances,
    nextRunTime: record.nextRunTime,
    retries: record.retries,
    timeout: record.timeout,
  };
  if (record.tags.length > 0) json.tags = record.tags;
  if (record.hooks !== null) json.hooks = serializeHooks(record);
  if (record.middleware.length > 0) {
    json.middleware = record.middleware.map((middleware, index) => {
      if (typeof middleware === 'string') return middleware;
      throw new SerializationError(
        `task '${record.id}': middleware[${index}]: a persistent store keeps middleware by the name of a registered function, never code`,
      );
    });
  }
  return json;
}

/** The hooks of a record as stored; a hook that is code, not a name, is a `SerializationError`. */
function serializeHooks(record: TaskRecord): StoredHooks {
  const stored: StoredHooks = {};
  for (const [kind, hook] of Object.entries(record.hooks ?? {}) as Array<[keyof TaskHooks, unknown]>) {
    if (hook === undefined) continue;
    if (typeof hook !== 'string') {
      throw new SerializationError(
        `task '${record.id}': ${kind}: a persistent store keeps a hook by the name of a registered function, never code`,
      );
    }
    stored[kind] = hook;
  }
  return stored;
}

/** `serializeTask` without `nextRunTime`. */
export function serializeTaskBody(record: TaskRecord): StoredTaskBody {
  const { nextRunTime: _nextRunTime, ...body } = serializeTask(record);
  return body;
}

/** Rebuilds a record from its stored JSON; any problem is a `SerializationError` naming the task and the fault. */
export function deserializeTask(json: unknown): TaskRecord {
  if (!isPlainObject(json))
    throw new SerializationError(`stored task ${describeValue(json)} is not a JSON object`);
  const id = json.id;
  if (typeof id !== 'string' || id === '') {
    throw new SerializationError(
      `stored task has no valid id (got ${describeValue(id)}): ${describeValue(json)}`,
    );
  }
  const read = new FieldReader(id, json);
  return {
    id,
    name: read.string('name'),
    fn: read.string('fn'),
    trigger: read.trigger(),
    args: read.array('args'),
    executor: read.string('executor'),
    coalesce: read.boolean('coalesce'),
    misfireGraceTime: read.nullable('misfireGraceTime', () => read.duration('misfireGraceTime')),
    maxInstances: read.positiveInteger('maxInstances'),
    nextRunTime: read.nullable('nextRunTime', () => read.instant('nextRunTime')),
    retries: read.nullable('retries', () => read.retries()),
    timeout: read.nullable('timeout', () => read.duration('timeout')),
    tags: json.tags === undefined ? [] : read.tags(),
    hooks: json.hooks === undefined || json.hooks === null ? null : read.hooks(),
    middleware: json.middleware === undefined ? [] : read.names('middleware'),
  };
}

/**
 * Rebuilds a record from a stored body (`serializeTaskBody`) and the next run time kept beside it.
 * `id` is the key the store filed the body under; a body that names another id is a `SerializationError`.
 */
export function deserializeTaskBody(body: unknown, id: string, nextRunTime: number | null): TaskRecord {
  if (!isPlainObject(body)) {
    throw new SerializationError(`task '${id}': the stored task ${describeValue(body)} is not a JSON object`);
  }
  if (body.id !== undefined && body.id !== id) {
    throw new SerializationError(`task '${id}': the stored task names another id, ${describeValue(body.id)}`);
  }
  return deserializeTask({ ...body, id, nextRunTime });
}

/** `JSON.parse` for one stored task's text; malformed JSON is a `SerializationError` naming the task. */
export function parseTaskText(text: string, id: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new SerializationError(
      `task '${id}': the stored task is not valid JSON (${(error as Error).message})`,
      {
        cause: error,
      },
    );
  }
}

/** How many rebuilt triggers `rebuildTrigger` keeps (a cron trigger takes about 3 KB). */
const TRIGGER_CACHE_SIZE = 4096;
/** Rebuilt triggers by spec text. */
const triggerCache = new LruCache<string, Trigger>(TRIGGER_CACHE_SIZE);

/**
 * `triggerFromSpec`, remembering the last few thousand results: triggers are immutable, and a store reads
 * the same tasks again at every wake-up, while building a trigger with a timezone costs up to a millisecond.
 */
function rebuildTrigger(spec: TriggerSpec): Trigger {
  const key = JSON.stringify(spec);
  let trigger = triggerCache.get(key);
  if (trigger === undefined) {
    trigger = triggerFromSpec(spec);
    triggerCache.set(key, trigger);
  }
  return trigger;
}

/** True for a non-null object that is not an array (kept here for existing imports; see validate.ts). */
export { isPlainObject } from './validate.js';

/** Reads and checks the fields of one stored task, naming the task and field in every error. */
class FieldReader {
  readonly #id: string;
  readonly #json: Record<string, unknown>;

  constructor(id: string, json: Record<string, unknown>) {
    this.#id = id;
    this.#json = json;
  }

  string(field: string): string {
    const value = this.#json[field];
    if (typeof value !== 'string' || value === '') throw this.#fault(field, 'a non-empty string');
    return value;
  }

  boolean(field: string): boolean {
    const value = this.#json[field];
    if (typeof value !== 'boolean') throw this.#fault(field, 'true or false');
    return value;
  }

  array(field: string): unknown[] {
    const value = this.#json[field];
    if (!Array.isArray(value)) throw this.#fault(field, 'an array');
    return value;
  }

  /** The `hooks` field: an object of `onSuccess` / `onFailure` / `onRetry` function names. */
  hooks(): TaskHooks {
    const value = this.#json.hooks;
    const fault = () => this.#fault('hooks', 'an object of onSuccess, onFailure and onRetry function names');
    if (!isPlainObject(value)) throw fault();
    const hooks: TaskHooks = {};
    for (const [kind, name] of Object.entries(value)) {
      if (!HOOK_KINDS.includes(kind as keyof TaskHooks) || typeof name !== 'string' || name === '')
        throw fault();
      hooks[kind as keyof TaskHooks] = name;
    }
    return hooks;
  }

  /** A list of function names. */
  names(field: string): string[] {
    const value = this.#json[field];
    if (!Array.isArray(value) || !value.every((name) => typeof name === 'string' && name !== '')) {
      throw this.#fault(field, 'a list of function names');
    }
    return value as string[];
  }

  /** The `tags` field: distinct non-empty strings (src/tags.ts). */
  tags(): string[] {
    const value = this.#json.tags;
    if (tagListProblem(value) !== null || new Set(value as string[]).size !== (value as string[]).length) {
      throw this.#fault('tags', 'a list of distinct non-empty strings');
    }
    return value as string[];
  }

  positiveInteger(field: string): number {
    const value = this.#json[field];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
      throw this.#fault(field, 'an integer of at least 1');
    return value;
  }

  /** Milliseconds: a finite number of at least 0. */
  duration(field: string, source: Record<string, unknown> = this.#json, label = field): number {
    const value = source[field];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
      throw this.#fault(label, 'a duration in ms', value);
    return value;
  }

  /** Epoch ms: a finite number. */
  instant(field: string): number {
    const value = this.#json[field];
    if (typeof value !== 'number' || !Number.isFinite(value)) throw this.#fault(field, 'epoch milliseconds');
    return value;
  }

  /** `null` if the field is null, else what `read` returns; a missing field is a fault. */
  nullable<T>(field: string, read: () => T): T | null {
    if (!(field in this.#json)) throw this.#fault(field, 'present (null or a value)');
    return this.#json[field] === null ? null : read();
  }

  retries(): RetryPolicy {
    const value = this.#json.retries;
    if (!isPlainObject(value)) throw this.#fault('retries', 'null or a retry policy object');
    const max = value.max;
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 0)
      throw this.#fault('retries.max', 'a non-negative integer', max);
    const backoff = value.backoff;
    if (typeof backoff !== 'number' || !Number.isFinite(backoff) || backoff < 1) {
      throw this.#fault('retries.backoff', 'a number of at least 1', backoff);
    }
    if (typeof value.jitter !== 'boolean') throw this.#fault('retries.jitter', 'true or false', value.jitter);
    return {
      max,
      delayMs: this.duration('delayMs', value, 'retries.delayMs'),
      backoff,
      maxDelayMs: this.duration('maxDelayMs', value, 'retries.maxDelayMs'),
      jitter: value.jitter,
    };
  }

  trigger(): Trigger {
    const spec = this.#json.trigger;
    if (!isPlainObject(spec)) throw this.#fault('trigger', 'a trigger spec object');
    try {
      return rebuildTrigger(spec as unknown as TriggerSpec);
    } catch (error) {
      throw new SerializationError(
        `task '${this.#id}': its trigger cannot be rebuilt: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }

  #fault(
    field: string,
    expected: string,
    value: unknown = this.#json[field.split('.')[0] as string],
  ): SerializationError {
    return new SerializationError(
      `task '${this.#id}': stored field '${field}' must be ${expected}, got ${describeValue(value)}`,
    );
  }
}
