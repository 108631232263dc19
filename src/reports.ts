/**
 * How the scheduler reports what goes wrong outside a run's own attempts (a task that cannot be scheduled or
 * found, a store that fails): one log line and one event each, and reporting never throws into dispatch.
 */
import type { Logger } from 'pino';
import type { EventHub } from './events.js';
import type { StoreContext } from './store.js';

/** The scheduler's reports, to its logger and its event listeners. */
export class Reports {
  readonly logger: Logger;
  readonly events: EventHub;

  constructor(logger: Logger, events: EventHub) {
    this.logger = logger;
    this.events = events;
  }

  /**
   * A task that could not be run: `task:error` with attempt 0 when it could not be scheduled at all (its trigger
   * failed, its function cannot be found, its record cannot be read), 1 when its run found no executor.
   */
  taskError(
    alias: string,
    taskId: string,
    scheduledRunTime: Date,
    error: unknown,
    message: string,
    attempt = 0,
  ): void {
    this.log('error', { err: error, taskId, store: alias }, message);
    this.events.emit('task:error', { taskId, store: alias, scheduledRunTime, error, attempt });
  }

  /** A store operation of a wake-up failed: `store:error`; the store is tried again after a backoff. */
  storeError(alias: string, error: unknown): void {
    this.log('error', { err: error, store: alias }, `store '${alias}' failed; retrying with backoff`);
    this.events.emit('store:error', { alias, error });
  }

  /** What a store is given when it starts: the logger, its alias, and where it reports unreadable records. */
  storeContext(alias: string): StoreContext {
    return {
      logger: this.logger,
      alias,
      reportBrokenRecord: (taskId, error) => {
        const message = `task '${taskId}' in store '${alias}' cannot be read; it is kept untouched`;
        this.taskError(alias, taskId, new Date(), error, message);
      },
    };
  }

  /** Logs; a logger that throws (for its own reasons) must never stop dispatch. */
  log(level: 'debug' | 'info' | 'warn' | 'error', fields: Record<string, unknown>, message: string): void {
    try {
      this.logger[level](fields, message);
    } catch {
      // Nothing left to report it to.
    }
  }
}
