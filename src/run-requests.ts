/**
 * Takes the run requests another process (the `kairos` command's `run-now` and `replay`) wrote into a shared
 * store, and runs them here: each request is taken by exactly one scheduler sharing the store, and its run takes
 * the request's id as its run id, so the command can find it in history.
 */
import type { RunNowRequest } from './history.js';
import type { Reports } from './reports.js';
import type { RunTracker } from './runs.js';
import { copyTaskRecord, isSharedStore, type SharedTaskStore } from './store.js';
import type { StoreLane } from './store-lane.js';

/** What the taker needs from its scheduler. */
export interface RunRequestContext {
  reports: Reports;
  runs: RunTracker;
  /** True while this scheduler may dispatch the lane's tasks (running, not paused, holding any lock). */
  mayDispatch(lane: StoreLane): boolean;
}

/** Takes and runs the run requests of shared stores, one look per store at a time. */
export class RunRequestTaker {
  readonly #context: RunRequestContext;
  /** Stores being looked at, with whether another look was asked for meanwhile. */
  readonly #looking = new Map<string, boolean>();

  constructor(context: RunRequestContext) {
    this.#context = context;
  }

  /** Takes the lane's waiting requests (after its store's watch reported another process's change). */
  take(lane: StoreLane): void {
    const { store, alias } = lane;
    if (!isSharedStore(store) || !this.#context.mayDispatch(lane)) return;
    if (this.#looking.has(alias)) {
      this.#looking.set(alias, true);
      return;
    }
    this.#looking.set(alias, false);
    void this.#takeAll(lane, store).finally(() => {
      const again = this.#looking.get(alias) === true;
      this.#looking.delete(alias);
      if (again) this.take(lane);
    });
  }

  async #takeAll(lane: StoreLane, store: SharedTaskStore): Promise<void> {
    let requests: RunNowRequest[];
    try {
      requests = await store.takeRunRequests(Date.now());
    } catch (error) {
      this.#context.reports.storeError(lane.alias, error);
      return;
    }
    for (const request of requests) await this.#run(lane, store, request);
  }

  async #run(lane: StoreLane, store: SharedTaskStore, request: RunNowRequest): Promise<void> {
    const { reports, runs } = this.#context;
    const fields = { store: lane.alias, taskId: request.taskId, requestId: request.requestId };
    try {
      // The run takes the request's id: one already in the history (a request made by hand, or written twice)
      // would run a task whose record the store then leaves out as a duplicate, and the command would report the
      // old run's outcome as this one's.
      const [known] = await store.getRuns({ runId: request.requestId, limit: 1 });
      if (known !== undefined) {
        reports.log(
          'warn',
          fields,
          `run request '${request.requestId}': a run with that id is in the history already; not run`,
        );
        return;
      }
      const record = await store.getTask(request.taskId);
      if (record === undefined) {
        reports.log('warn', fields, `run request for task '${request.taskId}': no such task; not run`);
        return;
      }
      const run = request.args === undefined ? record : { ...copyTaskRecord(record), args: request.args };
      const origin = {
        runId: request.requestId,
        ...(request.replayOf === undefined ? {} : { replayOf: request.replayOf }),
      };
      reports.log('info', fields, `task '${request.taskId}': running it now, as asked by a run request`);
      await runs.submit(lane.alias, store, run, new Date(), origin);
    } catch (error) {
      reports.log('error', { ...fields, err: error }, `run request for task '${request.taskId}' failed`);
    }
  }
}
