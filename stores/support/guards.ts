/**
 * Internal to kairos' file-backed stores (`FileStore`, `SQLiteStore`), not a public API: the checks a store makes
 * on its callers, of its options (in the constructor) and that it is started (in every method).
 */
import { KairosError, ValueError } from '../../src/errors.js';
import { describeValue, isPlainObject, rejectUnknownKeys } from '../../src/validate.js';

/**
 * Checks a store's options: a plain object with no key but `allowed` (`example` shows one in the message).
 * @throws ValueError naming the store and the bad value or key.
 */
export function checkStoreOptions(
  options: unknown,
  allowed: ReadonlySet<string>,
  store: string,
  example = '{ path }',
): asserts options is Record<string, unknown> {
  if (!isPlainObject(options))
    throw new ValueError(
      `${store}: options must be an object like ${example}, got ${describeValue(options)}`,
    );
  rejectUnknownKeys(options, allowed, store);
}

/** The error of an operation on a store that is not started (never started, or closed). */
export function notStartedError(store: string, path: string): KairosError {
  return new KairosError(`${store} '${path}' is not started`);
}
