/** One timer to the next wake-up: safe past setTimeout's 2^31-1 ms limit, and never early. */
import { MAX_TIMER_DELAY_MS } from './time.js';

/**
 * The longest single wait. Waking at least this often notices a changed wall clock or a machine back from
 * sleep; such an intermediate wake-up only re-arms (no store query).
 */
export const MAX_TIMER_WAIT_MS = 60_000;

/** Calls `onDue` once the wall clock reaches the armed instant. */
export class WakeupTimer {
  /** The callback at the armed instant. */
  readonly #onDue: () => void;
  /** The pending Node timer, if armed. */
  #handle: NodeJS.Timeout | undefined;
  /** The armed instant (epoch ms), or null. */
  #target: number | null = null;

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
    if (at !== null) this.#schedule();
  }

  /** Disarms. */
  cancel(): void {
    if (this.#handle !== undefined) clearTimeout(this.#handle);
    this.#handle = undefined;
    this.#target = null;
  }

  #schedule(): void {
    const wait = Math.min(
      Math.max(0, (this.#target as number) - Date.now()),
      MAX_TIMER_WAIT_MS,
      MAX_TIMER_DELAY_MS,
    );
    this.#handle = setTimeout(() => this.#tick(), wait);
  }

  #tick(): void {
    this.#handle = undefined;
    if (this.#target === null) return;
    if (Date.now() < this.#target) {
      this.#schedule();
      return;
    }
    this.#target = null;
    this.#onDue();
  }
}
