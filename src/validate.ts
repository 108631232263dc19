/**
 * The checks every boundary shares: an options object is a plain object without unknown keys, and a bad value
 * is named in the message as the user wrote it. Depends on nothing of kairos but its errors.
 */
import { DateTime } from 'luxon';
import { ValueError } from './errors.js';

/** Renders a user-supplied value for an error message. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  if (DateTime.isDateTime(value)) return value.isValid ? String(value.toISO()) : `invalid DateTime`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** True for a non-null object that is not an array. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Throws `ValueError` for a key of `input` not in `allowed` (a typo would otherwise be ignored silently). */
export function rejectUnknownKeys(input: object, allowed: ReadonlySet<string>, what: string): void {
  // Indexed: this runs on every add and removal, and a `for…of` costs ~1 µs a call until V8 optimises it.
  const keys = Object.keys(input);
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index] as string;
    if (!allowed.has(key)) {
      throw new ValueError(`${what}: unknown option '${key}' (expected one of ${[...allowed].join(', ')})`);
    }
  }
}

/**
 * Throws `ValueError` unless `options` is a plain object whose keys are all in `allowed`; `what` names the
 * component and `noun` the argument (`options`, `spec`, `changes`).
 */
export function checkOptions(
  options: unknown,
  allowed: ReadonlySet<string>,
  what: string,
  noun = 'options',
): asserts options is Record<string, unknown> {
  if (!isPlainObject(options)) {
    throw new ValueError(`${what}: ${noun} must be an object, got ${describeValue(options)}`);
  }
  rejectUnknownKeys(options, allowed, what);
}
