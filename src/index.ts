/** The public entry point of kairos. */

export { MemoryStore } from '../stores/memory.js';
export { currentRun, type RunContext } from './context.js';
export {
  ConflictingIdError,
  ExecutorLookupError,
  KairosError,
  RunLookupError,
  SchedulerAlreadyRunningError,
  SchedulerNotRunningError,
  SerializationError,
  StoreLookupError,
  TaskLookupError,
  TimeoutError,
  ValueError,
} from './errors.js';
export type {
  AliasEvent,
  SchedulerEvent,
  SchedulerEventName,
  SchedulerEvents,
  SchedulerListener,
  StoreErrorEvent,
  TaskErrorEvent,
  TaskEvent,
  TaskExecutedEvent,
  TaskMissedEvent,
  TaskRetryEvent,
  TaskRunEvent,
  TasksRemovedAllEvent,
  TaskWaitingEvent,
} from './events.js';
export { AsyncExecutor, type AsyncExecutorOptions } from './executors/async.js';
export type { Execution, Executor, ExecutorContext } from './executors/executor.js';
export { WorkerExecutor, type WorkerExecutorOptions } from './executors/worker.js';
export type {
  RunError,
  RunNowRequest,
  RunOutcome,
  RunQuery,
  RunRecord,
  StoredRunRecord,
} from './history.js';
export type { GetRunsOptions } from './history-query.js';
export {
  type AcquireOptions as LockAcquireOptions,
  FileLock,
  type FileLockEvents,
  type FileLockOptions,
  type LockCompromisedEvent,
  LockLostError,
  LockTimeoutError,
  type WithLockOptions,
} from './lock.js';
export type { Lock, LockLossEvent, LockLossListener } from './lock-interface.js';
export type { Middleware, MiddlewareRun } from './middleware.js';
export type { HistoryOptions } from './options.js';
export {
  type GetTasksOptions,
  Scheduler,
  type SchedulerOptions,
  type ShutdownOptions,
  type StartOptions,
  type StoreSelector,
} from './scheduler.js';
export type {
  AcquireOptions,
  LocalTaskStore,
  RetryPolicy,
  RunNowRequests,
  RunSlotClaim,
  SharedTaskStore,
  StoreContext,
  StoredTaskState,
  TaskChange,
  TaskFunction,
  TaskHooks,
  TaskRecord,
  TaskRelease,
  TaskStore,
  TaskStoreBase,
} from './store.js';
export {
  type RetryOptions,
  Task,
  type TaskChanges,
  type TaskDefaults,
  type TaskHook,
  type TaskOptions,
} from './task.js';
export type { DateInput, DurationInput } from './time.js';
export {
  AFTER_IDLE,
  type AfterOutcome,
  AfterTrigger,
  type AfterTriggerOptions,
} from './triggers/after.js';
export { CalendarIntervalTrigger } from './triggers/calendar-interval.js';
export { AndTrigger, OrTrigger } from './triggers/combining.js';
export { CronTrigger } from './triggers/cron.js';
export { DateTrigger, type DateTriggerOptions } from './triggers/date.js';
export { sameTriggerDeclaration, triggerDefinition } from './triggers/definition.js';
export { type IntervalLength, IntervalTrigger, type IntervalTriggerOptions } from './triggers/interval.js';
export { ShutdownTrigger } from './triggers/shutdown.js';
export { isTrigger, triggerFromSpec } from './triggers/spec.js';
export type * from './triggers/trigger.js';
export type {
  ArgsOf,
  ArgsOption,
  FunctionName,
  FunctionRegistry,
  ModuleReference,
  TaskArgs,
  TaskFunctionRef,
  TypedSchedulerOptions,
  TypedTaskOptions,
} from './typed-tasks.js';
