/** One timer to the next wake-up: safe past setTimeout's 2^31-1 ms limit, never early, and late by well under 1 ms. */
import { MAX_TIMER_DELAY_MS } from './time.js';

/**
 * The longest single wait. Waking at least this often notices a changed wall clock or a machine back from
 * sleep; such an intermediate wake-up only re-arms (no store query).
 */
export const MAX_TIMER_WAIT_MS = 60_000;

/**
 * Node's `setTimeout` fires 1–2.5 ms after its time (libuv keeps loop time in whole, cached milliseconds).
 * The timer is therefore set this much early, and the rest is waited in event-loop turns (`setImmediate`,
 * so I/O keeps flowing): at most this long, per wake-up.
 */
export const FINAL_APPROACH_MS = 2;

/** Calls `onDue` once the wall clock reaches the armed instant. */
export class WakeupTimer {
  /** The callback at the armed instant. */
  readonly #onDue: () => void;
  /** The pending Node timer, if armed. */
  #handle: NodeJS.Timeout | undefined;
  /** The pending event-loop turn of the final approach, if in it. */
  #turn: NodeJS.Immediate | undefined;
  /** The armed instant (epoch ms), or null. */
  #target: number | null = null;
  /** True once a final approach gave up for the armed instant: plain timers only, until the next `arm`. */
  #plain = false;

  constructor(onDue: () => void) {
    this.#onDue = onDue;
  }

  /** The armed instant, or null when disarmed. */
  get target(): number | null {
    return this.#target;
  }

  /** Arms for `at` (epoch ms), replacing any earlier arming; null disarms. */
  arm(at: number | null): void {
    this.cancel();
    this.#target = at;
    this.#plain = false;
    if (at !== null) this.#schedule();
  }

  /** Disarms. */
  cancel(): void {
    if (this.#handle !== undefined) clearTimeout(this.#handle);
    if (this.#turn !== undefined) clearImmediate(this.#turn);
    this.#handle = undefined;
    this.#turn = undefined;
    this.#target = null;
  }

  /** Sets the Node timer, `FINAL_APPROACH_MS` early (unless `#plain`), and for at most the longest wait. */
  #schedule(): void {
    const early = this.#plain ? 0 : FINAL_APPROACH_MS;
    const remaining = (this.#target as number) - Date.now();
    const wait = Math.min(Math.max(0, remaining - early), MAX_TIMER_WAIT_MS, MAX_TIMER_DELAY_MS);
    this.#handle = setTimeout(() => this.#tick(), wait);
  }

  #tick(): void {
    this.#handle = undefined;
    const target = this.#target;
    if (target === null) return;
    const remaining = target - Date.now();
    if (remaining <= 0) this.#fire();
    else if (remaining <= FINAL_APPROACH_MS && !this.#plain)
      this.#approach(performance.now(), performance.now());
    else this.#schedule();
  }

  /**
   * Waits out the last milliseconds in event-loop turns until the wall clock reaches the target. A clock that
   * does not move between turns (fake timers in tests) or an approach that outlasts its bound (a wall clock that
   * stands still while time passes) falls back to a plain timer for the rest.
   */
  #approach(started: number, previous: number): void {
    this.#turn = setImmediate(() => {
      this.#turn = undefined;
      const target = this.#target;
      if (target === null) return;
      const remaining = target - Date.now();
      if (remaining <= 0) {
        this.#fire();
        return;
      }
      const now = performance.now();
      if (now === previous || now - started > 2 * FINAL_APPROACH_MS) {
        this.#plain = true;
        this.#schedule();
        return;
      }
      this.#approach(started, now);
    });
  }

  #fire(): void {
    this.#target = null;
    this.#onDue();
  }
}
