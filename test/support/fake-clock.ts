/**
 * The fake-clock scheduler fixture of the scheduler tests. `useFakeClock()`, called in a `describe` body, installs
 * vitest's fake timers at `T0` before each test; `clock.scheduler(options)` builds a Scheduler with a silent logger
 * and the UTC zone (options override them); after each test every scheduler it built is shut down and real timers
 * come back. Time moves only when a test says so: `clock.advance(ms)`.
 */
import { afterEach, beforeEach, vi } from 'vitest';
import {
  Scheduler,
  type SchedulerEventName,
  type SchedulerEvents,
  type SchedulerOptions,
} from '../../src/index.js';
import { recordEvents, silentLogger } from './events.js';

/** The instant every fake-clock test starts at. */
export const T0 = Date.parse('2026-03-01T00:00:00Z');

/** How long (fake) a scheduler still running after its test may take to shut down: a store that hangs stops it. */
const SHUTDOWN_TIMEOUT_MS = 1000;

export interface FakeClock {
  /** A new Scheduler (silent logger, UTC, then `options`), shut down after the test. */
  scheduler(options?: SchedulerOptions): Scheduler;
  /** `scheduler(options)`, started. */
  started(options?: SchedulerOptions): Promise<Scheduler>;
  /** Records the payloads of the named events of `scheduler`, in order, as `[name, payload]`. */
  record<E extends SchedulerEventName>(scheduler: Scheduler, ...names: E[]): Array<[E, SchedulerEvents[E]]>;
  /** Moves the fake clock on by `ms`, running every timer due on the way (and the promises they settle). */
  advance(ms: number): Promise<void>;
  /** Sets the fake wall clock to `T0 + ms` without running timers (a machine waking from sleep). */
  setTime(ms: number): void;
  /** Milliseconds since `T0` on the fake clock. */
  elapsed(): number;
}

/** Installs the fixture in the enclosing `describe` (or file): fake timers at `T0` around each test. */
export function useFakeClock(): FakeClock {
  const built: Scheduler[] = [];
  beforeEach(() => {
    vi.useFakeTimers({ now: T0 });
  });
  afterEach(async () => {
    try {
      for (const scheduler of built.splice(0)) {
        if (!scheduler.running) continue;
        let stopped = false;
        const stopping = scheduler.shutdown({ wait: false, timeout: SHUTDOWN_TIMEOUT_MS }).finally(() => {
          stopped = true;
        });
        // The shutdown timeout is a fake timer too: let it elapse if a store or a run holds the shutdown.
        for (let waited = 0; !stopped && waited <= SHUTDOWN_TIMEOUT_MS; waited += 100) {
          await vi.advanceTimersByTimeAsync(100);
        }
        await stopping;
      }
    } finally {
      vi.useRealTimers();
    }
  });
  const clock: FakeClock = {
    scheduler(options = {}) {
      const scheduler = new Scheduler({ logger: silentLogger, timezone: 'UTC', ...options });
      built.push(scheduler);
      return scheduler;
    },
    async started(options = {}) {
      const scheduler = clock.scheduler(options);
      await scheduler.start();
      return scheduler;
    },
    record: (scheduler, ...names) => recordEvents(scheduler, ...names),
    advance: async (ms) => {
      await vi.advanceTimersByTimeAsync(ms);
    },
    setTime: (ms) => {
      vi.setSystemTime(T0 + ms);
    },
    elapsed: () => Date.now() - T0,
  };
  return clock;
}
