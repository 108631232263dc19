import { checkSpec } from './options.js';
import type { ShutdownTriggerSpec, Trigger } from './trigger.js';

const SPEC_KEYS: ReadonlySet<string> = new Set(['type']);

/**
 * Fires once, during `shutdown()`, before the stores close (asyncz's `trigger="shutdown"`).
 * It never has a fire time on the clock, so the dispatcher never sees it due.
 */
export class ShutdownTrigger implements Trigger {
  /** Rebuilds a `ShutdownTrigger` from its spec; an unknown key is a `ValueError` naming it. */
  static fromJSON(spec: ShutdownTriggerSpec): ShutdownTrigger {
    checkSpec(spec, 'shutdown', SPEC_KEYS, 'ShutdownTrigger');
    return new ShutdownTrigger();
  }

  /** Always null: the scheduler fires it at shutdown instead. */
  getNextFireTime(_previous: Date | null, _now: Date): Date | null {
    return null;
  }

  /** The plain-JSON form. */
  toJSON(): ShutdownTriggerSpec {
    return { type: 'shutdown' };
  }
}
