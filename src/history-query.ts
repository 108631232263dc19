/** The options of `scheduler.getRuns()`, validated once into a store query. */
import { ValueError } from './errors.js';
import { RUN_OUTCOMES, type RunOutcome, type RunQuery } from './history.js';
import { type DateInput, parseDate } from './time.js';
import { checkOptions, describeValue } from './validate.js';

/** Options of `scheduler.getRuns()`. */
export interface GetRunsOptions {
  /** Only this task's runs. */
  taskId?: string;
  /** Only runs with this outcome (or one of these). */
  outcome?: RunOutcome | readonly RunOutcome[];
  /** Only runs that ended at or after this instant. */
  since?: DateInput;
  /** At most this many (1 to 100,000). @default 100 */
  limit?: number;
  /** Only this store's records. @default every store */
  store?: string;
}

/** The default `limit` of `getRuns`. */
const DEFAULT_LIMIT = 100;
/** The largest `limit` of `getRuns`. */
const MAX_LIMIT = 100_000;
const KEYS = new Set(['taskId', 'outcome', 'since', 'limit', 'store']);

/** Validates `getRuns` options: the store query, and the store alias if one is named. */
export function parseGetRunsOptions(
  options: GetRunsOptions,
  timezone: string,
): { query: RunQuery; store: string | undefined } {
  checkOptions(options as unknown, KEYS, 'getRuns');
  const query: RunQuery = { limit: DEFAULT_LIMIT };
  if (options.taskId !== undefined) {
    if (typeof options.taskId !== 'string')
      throw new ValueError(`getRuns: taskId must be a string, got ${describeValue(options.taskId)}`);
    query.taskId = options.taskId;
  }
  if (options.outcome !== undefined) query.outcomes = parseOutcomes(options.outcome);
  if (options.since !== undefined)
    query.since = parseDate(options.since, timezone, 'getRuns: since').getTime();
  if (options.limit !== undefined) {
    const { limit } = options;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT)
      throw new ValueError(
        `getRuns: limit must be an integer from 1 to ${MAX_LIMIT}, got ${describeValue(limit)}`,
      );
    query.limit = limit;
  }
  if (options.store !== undefined && typeof options.store !== 'string')
    throw new ValueError(
      `getRuns: store must be a store alias (a string), got ${describeValue(options.store)}`,
    );
  return { query, store: options.store };
}

function parseOutcomes(input: unknown): RunOutcome[] {
  const list = Array.isArray(input) ? input : [input];
  for (const outcome of list) {
    if (!RUN_OUTCOMES.includes(outcome as RunOutcome))
      throw new ValueError(
        `getRuns: outcome must be one of ${RUN_OUTCOMES.join(', ')} (or a list of them), got ${describeValue(outcome)}`,
      );
  }
  if (list.length === 0) throw new ValueError('getRuns: outcome must not be an empty list');
  return list as RunOutcome[];
}
