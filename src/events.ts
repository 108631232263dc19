/** The typed event map of the scheduler, and a small emitter whose listeners can never break dispatch. */
import type { Logger } from 'pino';
import { ValueError } from './errors.js';
import { describeValue } from './validate.js';

/** Payload shared by every `task:*` event. */
export interface TaskEvent {
  taskId: string;
  /** Alias of the store the task lives in. */
  store: string;
}

/** Payload of events about one run of a task. */
export interface TaskRunEvent extends TaskEvent {
  /** The fire time this run was scheduled for (for `runTaskNow`, the moment it was asked for). */
  scheduledRunTime: Date;
}

/** Payload of `task:waiting`: a run waits for a free slot of one of its tags (a tag concurrency limit). */
export interface TaskWaitingEvent extends TaskRunEvent {
  /** The tag at its limit. */
  tag: string;
}

/** Payload of `task:executed`. */
export interface TaskExecutedEvent extends TaskRunEvent {
  /** What the task function returned (awaited). */
  result: unknown;
  /** Wall time of the successful attempt, in ms. */
  durationMs: number;
}

/** Payload of `task:error`: the run failed for good (after its retries, if any). */
export interface TaskErrorEvent extends TaskRunEvent {
  error: unknown;
  /** 1-based number of the attempt that failed last. */
  attempt: number;
}

/** Payload of `task:retry`: an attempt failed and another follows after `delayMs`. */
export interface TaskRetryEvent extends TaskErrorEvent {
  delayMs: number;
}

/** Payload of `task:missed`: runs not made because they were later than `misfireGraceTime`. */
export interface TaskMissedEvent extends TaskEvent {
  /** How many runs were missed at this wake-up. */
  count: number;
  /** False when the count was cut off at the stepping cap (see README) and is a lower bound. */
  countIsExact: boolean;
  /** The most recent missed fire times, oldest first, at most 100. */
  scheduledRunTimes: Date[];
}

/** Payload of `tasks:removed-all`. */
export interface TasksRemovedAllEvent {
  store: string;
  taskIds: string[];
}

/** Payload of `store:*` and `executor:*` events. */
export interface AliasEvent {
  alias: string;
}

/** Payload of `store:error`: a store operation failed; the scheduler retries it with backoff. */
export interface StoreErrorEvent extends AliasEvent {
  /** What the store threw. */
  error: unknown;
}

/** Payload of `scheduler:*` events. */
export interface SchedulerEvent {
  schedulerId: string;
}

/** Every event name and its payload. */
export interface SchedulerEvents {
  'scheduler:started': SchedulerEvent;
  'scheduler:shutdown': SchedulerEvent;
  'scheduler:paused': SchedulerEvent;
  'scheduler:resumed': SchedulerEvent;
  'store:added': AliasEvent;
  'store:removed': AliasEvent;
  'executor:added': AliasEvent;
  'executor:removed': AliasEvent;
  'task:added': TaskEvent;
  'task:modified': TaskEvent;
  'task:removed': TaskEvent;
  'tasks:removed-all': TasksRemovedAllEvent;
  'task:submitted': TaskRunEvent;
  'task:executed': TaskExecutedEvent;
  'task:error': TaskErrorEvent;
  'task:retry': TaskRetryEvent;
  'task:missed': TaskMissedEvent;
  'task:max-instances': TaskRunEvent;
  'task:waiting': TaskWaitingEvent;
  'store:error': StoreErrorEvent;
}

/** A scheduler event name. */
export type SchedulerEventName = keyof SchedulerEvents;

/** Every key of `SchedulerEvents`, once: the compiler rejects a name missing here or one too many. */
const EVENT_NAME_FLAGS = {
  'scheduler:started': true,
  'scheduler:shutdown': true,
  'scheduler:paused': true,
  'scheduler:resumed': true,
  'store:added': true,
  'store:removed': true,
  'executor:added': true,
  'executor:removed': true,
  'task:added': true,
  'task:modified': true,
  'task:removed': true,
  'tasks:removed-all': true,
  'task:submitted': true,
  'task:executed': true,
  'task:error': true,
  'task:retry': true,
  'task:missed': true,
  'task:max-instances': true,
  'task:waiting': true,
  'store:error': true,
} as const satisfies Record<SchedulerEventName, true>;

/** The names of every scheduler event, at run time (the keys of `SchedulerEvents`). */
export const SCHEDULER_EVENT_NAMES: readonly SchedulerEventName[] = Object.freeze(
  Object.keys(EVENT_NAME_FLAGS) as SchedulerEventName[],
);

/** True when `name` is a scheduler event name. */
export function isSchedulerEventName(name: unknown): name is SchedulerEventName {
  return typeof name === 'string' && Object.hasOwn(EVENT_NAME_FLAGS, name);
}

/** A listener of event `E`; a returned promise is awaited only to log its rejection. */
export type SchedulerListener<E extends SchedulerEventName> = (event: SchedulerEvents[E]) => unknown;

/** Emits typed events; a listener that throws or rejects is logged and never reaches the emitter. */
export class EventHub {
  /** Listeners by event name, each with a flag telling whether it fires once. */
  #listeners = new Map<SchedulerEventName, Array<{ listener: SchedulerListener<never>; once: boolean }>>();
  /** Where listener failures are reported. */
  #logger: () => Logger;

  constructor(logger: () => Logger) {
    this.#logger = logger;
  }

  /**
   * Adds a listener (`once`: removed before its first call).
   * @throws ValueError naming an unknown event name or a listener that is not a function.
   */
  on<E extends SchedulerEventName>(name: E, listener: SchedulerListener<E>, once = false): void {
    checkSubscription(once ? 'once' : 'on', name, listener);
    const list = this.#listeners.get(name) ?? [];
    list.push({ listener: listener as SchedulerListener<never>, once });
    this.#listeners.set(name, list);
  }

  /**
   * Removes a listener (the first registration of it); one never added is ignored.
   * @throws ValueError naming an unknown event name or a listener that is not a function.
   */
  off<E extends SchedulerEventName>(name: E, listener: SchedulerListener<E>): void {
    checkSubscription('off', name, listener);
    const list = this.#listeners.get(name);
    const index = list?.findIndex((entry) => entry.listener === listener) ?? -1;
    if (list && index >= 0) list.splice(index, 1);
  }

  /** True if anyone listens to `name` (lets hot paths skip building payloads). */
  has(name: SchedulerEventName): boolean {
    return (this.#listeners.get(name)?.length ?? 0) > 0;
  }

  /** Calls every listener of `name` with `event`, synchronously, isolating failures. */
  emit<E extends SchedulerEventName>(name: E, event: SchedulerEvents[E]): void {
    const list = this.#listeners.get(name);
    if (list === undefined || list.length === 0) return;
    for (const entry of [...list]) {
      if (entry.once) this.off(name, entry.listener as SchedulerListener<E>);
      try {
        const returned = (entry.listener as SchedulerListener<E>)(event);
        if (returned instanceof Promise) returned.catch((error: unknown) => this.#report(name, error));
      } catch (error) {
        this.#report(name, error);
      }
    }
  }

  #report(name: SchedulerEventName, error: unknown): void {
    this.#logger().error({ err: error, event: name }, `a listener of '${name}' threw`);
  }
}

/** Throws a `ValueError` for an unknown event name or a listener that is not a function. */
function checkSubscription(method: 'on' | 'once' | 'off', name: unknown, listener: unknown): void {
  if (!isSchedulerEventName(name)) {
    throw new ValueError(
      `Scheduler.${method}: unknown event ${describeValue(name)} (expected one of ${SCHEDULER_EVENT_NAMES.join(', ')})`,
    );
  }
  if (typeof listener !== 'function') {
    throw new ValueError(
      `Scheduler.${method}: the listener of '${name}' must be a function, got ${describeValue(listener)}`,
    );
  }
}
