/**
 * `AfterTrigger`: fires a task when runs of other tasks end (blast's prerequisites), not on the clock.
 *
 * It has no fire time of its own: `getNextFireTime` answers `AFTER_IDLE`, an instant no clock reaches, so a task
 * waiting for its upstream tasks is neither paused (null) nor removed (no time left). When an upstream run ends
 * with the awaited outcome, the scheduler that ran it changes the dependent atomically in its store
 * (`satisfiedBy`): the upstream task is noted as done, and once every one is, the dependent's next run time
 * becomes now and the progress starts over. A join's progress is the one piece of state this trigger carries
 * (`satisfied`); it is stored with the task, left out of the trigger's definition.
 */
import { ValueError } from '../errors.js';
import { describeValue } from '../validate.js';
import { checkKeys, checkSpec } from './options.js';
import type { AfterTriggerSpec, Trigger } from './trigger.js';

/** Which ends of an upstream run fire an after-trigger. */
export type AfterOutcome = 'success' | 'failure' | 'any';

/** Options of an `AfterTrigger`. */
export interface AfterTriggerOptions {
  /**
   * The outcome an upstream run must end with: `'success'`, `'failure'` (an error, a timeout, an abort, after
   * its retries) or `'any'`.
   * @default 'success'
   */
  outcome?: AfterOutcome;
}

/** The next run time of a task waiting for its upstream tasks: the greatest instant a `Date` can hold. */
export const AFTER_IDLE = 8_640_000_000_000_000;

const OUTCOMES: ReadonlySet<string> = new Set(['success', 'failure', 'any']);
const OPTION_KEYS: ReadonlySet<string> = new Set(['outcome']);
const SPEC_KEYS: ReadonlySet<string> = new Set(['type', 'tasks', 'outcome', 'satisfied']);
/** At most this many upstream tasks. */
const MAX_TASKS = 1000;

/** Fires when runs of other tasks end with an outcome; with several tasks, when each has had one (a join). */
export class AfterTrigger implements Trigger {
  /** The ids of the upstream tasks, distinct, in the order given. */
  readonly tasks: readonly string[];
  readonly outcome: AfterOutcome;
  /** The upstream tasks that had an awaited run since this task last fired (a join's progress). */
  readonly satisfied: readonly string[];

  /**
   * @param tasks the id of the upstream task, or the ids of several (a join: fires when each has had such a run
   *   since this task last fired)
   */
  constructor(tasks: string | readonly string[], options: AfterTriggerOptions = {}) {
    checkKeys(options, OPTION_KEYS, 'AfterTrigger');
    this.tasks = checkTasks(tasks);
    const outcome = options.outcome ?? 'success';
    if (typeof outcome !== 'string' || !OUTCOMES.has(outcome)) {
      throw new ValueError(
        `AfterTrigger: outcome must be 'success', 'failure' or 'any', got ${describeValue(outcome)}`,
      );
    }
    this.outcome = outcome;
    this.satisfied = [];
    Object.freeze(this);
  }

  /** Rebuilds an `AfterTrigger` from its spec; an unknown key is a `ValueError` naming it. */
  static fromJSON(spec: AfterTriggerSpec): AfterTrigger {
    checkSpec(spec, 'after', SPEC_KEYS, 'AfterTrigger');
    const trigger = new AfterTrigger(spec.tasks, spec.outcome === undefined ? {} : { outcome: spec.outcome });
    const satisfied = spec.satisfied ?? [];
    if (!Array.isArray(satisfied) || satisfied.some((id) => !trigger.tasks.includes(id))) {
      throw new ValueError(
        `AfterTrigger: spec: satisfied must list some of its tasks, got ${describeValue(satisfied)}`,
      );
    }
    return satisfied.length === 0 ? trigger : withSatisfied(trigger, [...new Set(satisfied as string[])]);
  }

  /** True when a run ending with `succeeded` is one this trigger waits for. */
  awaits(succeeded: boolean): boolean {
    return this.outcome === 'any' || (this.outcome === 'success') === succeeded;
  }

  /**
   * After an awaited run of `taskId` ended: `'fire'` with the progress started over when that completes the
   * condition, else this trigger with `taskId` noted (itself if it was noted already).
   */
  satisfiedBy(taskId: string): { fire: boolean; trigger: AfterTrigger } {
    if (!this.tasks.includes(taskId)) return { fire: false, trigger: this };
    const satisfied = this.satisfied.includes(taskId) ? this.satisfied : [...this.satisfied, taskId];
    if (satisfied.length === this.tasks.length) return { fire: true, trigger: withSatisfied(this, []) };
    return { fire: false, trigger: satisfied === this.satisfied ? this : withSatisfied(this, satisfied) };
  }

  /** Always `AFTER_IDLE`: the task fires when upstream runs end, never on the clock. */
  getNextFireTime(_previous: Date | null, _now: Date): Date | null {
    return new Date(AFTER_IDLE);
  }

  /** The plain-JSON form, with the join's progress. */
  toJSON(): AfterTriggerSpec {
    return { type: 'after', tasks: [...this.tasks], outcome: this.outcome, satisfied: [...this.satisfied] };
  }

  /** The declaration: the spec without the join's progress. */
  definition(): AfterTriggerSpec {
    return { type: 'after', tasks: [...this.tasks], outcome: this.outcome };
  }
}

/** `trigger` with another join progress (a new frozen trigger). */
function withSatisfied(trigger: AfterTrigger, satisfied: readonly string[]): AfterTrigger {
  const copy: { tasks: readonly string[]; outcome: AfterOutcome; satisfied: readonly string[] } =
    Object.create(AfterTrigger.prototype);
  copy.tasks = trigger.tasks;
  copy.outcome = trigger.outcome;
  copy.satisfied = Object.freeze([...satisfied]);
  return Object.freeze(copy) as AfterTrigger;
}

/** The upstream task ids: a non-empty id or a non-empty array of them, distinct. */
function checkTasks(tasks: unknown): readonly string[] {
  const list = typeof tasks === 'string' ? [tasks] : tasks;
  if (
    !Array.isArray(list) ||
    list.length === 0 ||
    list.length > MAX_TASKS ||
    list.some((id) => typeof id !== 'string' || id === '')
  ) {
    throw new ValueError(
      `AfterTrigger: tasks must be a task id or an array of 1 to ${MAX_TASKS} task ids, got ${describeValue(tasks)}`,
    );
  }
  return Object.freeze([...new Set(list as string[])]);
}
