/**
 * A sub-millisecond wall clock on Date.now()'s timeline.
 *
 * Schedulers decide on `Date.now()` (integer ms); lateness is measured against that timeline with
 * `performance.now()` resolution. The offset is taken at a millisecond edge of `Date.now()` and can be
 * re-taken before each measured window, so that a slewing wall clock cannot add drift of its own.
 */
let offset = performance.timeOrigin;

/** Re-anchors the clock to `Date.now()` (spins for at most ~1 ms). */
export function calibrate(): void {
  const start = Date.now();
  let edge = start;
  while (edge === start) edge = Date.now();
  offset = edge - performance.now();
}

/** Epoch ms, fractional. */
export function wallNow(): number {
  return offset + performance.now();
}

calibrate();

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves once `Date.now() >= at`. */
export async function sleepUntil(at: number): Promise<void> {
  for (;;) {
    const left = at - Date.now();
    if (left <= 0) return;
    await sleep(Math.min(left, 1000));
  }
}
