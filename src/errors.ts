/** Base class of every error kairos throws; `instanceof KairosError` catches them all. */
export class KairosError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An option or argument has a bad value; the message names the option and repeats the value. */
export class ValueError extends KairosError {}

/** A task with this id already exists in the store (and `replaceExisting` was not set). */
export class ConflictingIdError extends KairosError {
  /** The id that is already taken. */
  readonly taskId: string;
  constructor(taskId: string, store: string) {
    super(`a task with id '${taskId}' already exists in store '${store}'`);
    this.taskId = taskId;
  }
}

/** No task with this id exists. */
export class TaskLookupError extends KairosError {
  /** The id that was looked up. */
  readonly taskId: string;
  constructor(taskId: string, store?: string) {
    super(`no task with id '${taskId}'${store === undefined ? '' : ` in store '${store}'`}`);
    this.taskId = taskId;
  }
}

/** No store is registered under this alias. */
export class StoreLookupError extends KairosError {
  /** The alias that was looked up. */
  readonly alias: string;
  constructor(alias: string) {
    super(`no store with alias '${alias}'`);
    this.alias = alias;
  }
}

/** No executor is registered under this alias. */
export class ExecutorLookupError extends KairosError {
  /** The alias that was looked up. */
  readonly alias: string;
  constructor(alias: string) {
    super(`no executor with alias '${alias}'`);
    this.alias = alias;
  }
}

/** `start()` was called on a scheduler that is already running. */
export class SchedulerAlreadyRunningError extends KairosError {
  constructor() {
    super('the scheduler is already running');
  }
}

/** An operation that needs a running scheduler was called on one that is not running. */
export class SchedulerNotRunningError extends KairosError {
  constructor() {
    super('the scheduler is not running');
  }
}

/** A task (its function, trigger or args) cannot be stored in, or read back from, a store. */
export class SerializationError extends KairosError {}

/** A run took longer than its task's `timeout`. */
export class TimeoutError extends KairosError {
  /** The timeout that was exceeded, in milliseconds. */
  readonly timeoutMs: number;
  constructor(taskId: string, timeoutMs: number) {
    super(`task '${taskId}' timed out after ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/** No run with this id is in any store's run history (`replayRun`). */
export class RunLookupError extends KairosError {
  /** The run id that was looked up. */
  readonly runId: string;
  constructor(runId: string) {
    // An id of any length may be asked for; the message names at most its first 200 characters.
    super(`no run with id '${runId.length > 200 ? `${runId.slice(0, 200)}…` : runId}' in run history`);
    this.runId = runId;
  }
}
