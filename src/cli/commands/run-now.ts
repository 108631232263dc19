/**
 * `kairos run-now ID` and `kairos replay RUN_ID`: ask a scheduler running on the store to run a task now (a replay:
 * with a recorded run's args), through the store's run requests (`requestRun`). The command waits (`--timeout`,
 * default 5 s) until a scheduler took the request; if none did, it withdraws it (`cancelRunRequest`), says that no
 * scheduler is running and exits 1, having changed nothing. The request's id becomes the run's id in history, so
 * `--wait` then waits for that run's record and reports its outcome (exit 1 unless it succeeded).
 */
import { randomUUID } from 'node:crypto';
import type { RunNowRequest, StoredRunRecord } from '../../history.js';
import type { SharedTaskStore } from '../../store.js';
import { formatDuration, parseDurationArg } from '../durations.js';
import { badInput, EXIT, type ExitCode, failed } from '../errors.js';
import type { Output } from '../output.js';
import type { OpenStore } from '../store-open.js';
import { runJson } from '../views.js';
import { findTask } from './tasks.js';

/** Options of `run-now` and `replay`. */
export interface RunNowOptions {
  timeout: string;
  wait?: boolean;
  /** With `--wait`: the longest to wait for the run to end (default: no limit). */
  waitTimeout?: string;
}

/** How often the command looks again, besides the store's watch. */
const RECHECK_MS = 250;

/** The message when no scheduler took the request. */
export const NO_SCHEDULER = 'no scheduler is running on this store; nothing was run';

export async function runNowCommand(
  open: OpenStore,
  id: string,
  options: RunNowOptions,
  out: Output,
): Promise<ExitCode> {
  const timeoutMs = parseDurationArg(options.timeout, '--timeout');
  parseWait(options);
  await findTask(open, id);
  return request(
    open,
    { requestId: randomUUID(), taskId: id, requestedAt: Date.now() },
    timeoutMs,
    options,
    out,
  );
}

export async function replayCommand(
  open: OpenStore,
  runId: string,
  options: RunNowOptions,
  out: Output,
): Promise<ExitCode> {
  const timeoutMs = parseDurationArg(options.timeout, '--timeout');
  parseWait(options);
  const [run] = await open.store.getRuns({ runId, limit: 1 });
  if (run === undefined) throw badInput(`no run with id '${runId}' in ${open.location.label}`);
  if ((await open.store.getTask(run.taskId)) === undefined) {
    throw badInput(`run '${runId}' is of task '${run.taskId}', which is no longer in ${open.location.label}`);
  }
  if (run.argsTruncated === true) {
    throw badInput(`run '${runId}' cannot be replayed: its args were too large to keep in run history`);
  }
  const replay: RunNowRequest = {
    requestId: randomUUID(),
    taskId: run.taskId,
    requestedAt: Date.now(),
    args: run.args,
    replayOf: runId,
  };
  return request(open, replay, timeoutMs, options, out);
}

async function request(
  open: OpenStore,
  runRequest: RunNowRequest,
  timeoutMs: number,
  options: RunNowOptions,
  out: Output,
): Promise<ExitCode> {
  const { store } = open;
  const { requestId, taskId, replayOf } = runRequest;
  await store.requestRun(runRequest);
  const taken = await waitUntil(store, async () => !(await store.hasRunRequest(requestId)), timeoutMs);
  // Withdrawn only if still there: a scheduler that took it at the last moment runs it, and that is a success.
  if (!taken && (await store.cancelRunRequest(requestId))) throw failed(NO_SCHEDULER);
  const what = `run ${requestId} of task ${taskId}${replayOf === undefined ? '' : ` (replay of ${replayOf})`}`;
  const waitMs = parseWait(options);
  if (waitMs === null) {
    if (out.json) out.emitJson({ runId: requestId, taskId, replayOf: replayOf ?? null, started: true });
    else out.lines([`${what} started by a scheduler`]);
    return EXIT.ok;
  }
  if (!out.json) out.lines([`${what} started by a scheduler; waiting for it to end`]);
  let record: StoredRunRecord | undefined;
  let gone = false;
  await waitUntil(
    store,
    async () => {
      [record] = await store.getRuns({ runId: requestId, limit: 1 });
      if (record !== undefined) return true;
      // A task removed meanwhile may never get a record (nor may a scheduler running with history off).
      gone = (await store.getTask(taskId)) === undefined;
      return gone;
    },
    waitMs,
  );
  if (record === undefined) {
    throw failed(
      gone
        ? `${what}: task ${taskId} was removed from the store before its run was recorded`
        : `${what} has not ended after ${formatDuration(waitMs)} (it may still be running)`,
    );
  }
  const run = record as StoredRunRecord;
  if (out.json) out.emitJson(runJson(run));
  else {
    const took = run.durationMs === null ? '' : ` in ${formatDuration(run.durationMs)}`;
    const error = run.error === undefined ? '' : `: ${run.error.name}: ${run.error.message}`;
    out.lines([`${what} ended: ${run.outcome}${took}${error}`.replace(/\s*[\r\n]+\s*/g, ' ')]);
  }
  return run.outcome === 'success' ? EXIT.ok : EXIT.failed;
}

/**
 * How long `--wait` waits, in ms (`--wait-timeout`, else no limit: infinity); null without `--wait`. A bad duration,
 * or `--wait-timeout` without `--wait`, is bad input.
 */
function parseWait(options: RunNowOptions): number | null {
  const limit =
    options.waitTimeout === undefined ? undefined : parseDurationArg(options.waitTimeout, '--wait-timeout');
  if (options.wait !== true) {
    if (limit !== undefined) throw badInput('--wait-timeout is for --wait; give both');
    return null;
  }
  return limit ?? Number.POSITIVE_INFINITY;
}

/**
 * Resolves true once `check` does, looking again at each change the store's watch reports and every
 * `RECHECK_MS`; false if it still does not after `timeoutMs` (checked once more at the end).
 */
async function waitUntil(
  store: SharedTaskStore,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let wake: (() => void) | null = null;
  const unwatch = store.watch?.(() => wake?.());
  try {
    for (;;) {
      if (await check()) return true;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(RECHECK_MS, left));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  } finally {
    unwatch?.();
  }
}
