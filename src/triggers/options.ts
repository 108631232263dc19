/** Shape checks shared by the triggers: options objects and specs are objects without unknown keys. */
import { ValueError } from '../errors.js';
import { describeValue, rejectUnknownKeys } from '../validate.js';

/**
 * Throws a `ValueError` unless `input` is a non-array object whose keys are all in `allowed`
 * (`timeZone` is not `timezone`). `what` names the component, `noun` the argument (`options`, `spec`).
 */
export function checkKeys(
  input: unknown,
  allowed: ReadonlySet<string>,
  what: string,
  noun = 'options',
): void {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ValueError(`${what}: ${noun} must be an object, got ${describeValue(input)}`);
  }
  rejectUnknownKeys(input, allowed, what);
}

/**
 * Throws a `ValueError` unless `spec` is an object whose `type` is `type` and whose keys are all in
 * `allowed`. `component` names the trigger class, `kind` the trigger in words (`cron`, `calendar interval`).
 */
export function checkSpec(
  spec: unknown,
  type: string,
  allowed: ReadonlySet<string>,
  component: string,
  kind = type,
): void {
  if (typeof spec !== 'object' || spec === null || (spec as { type?: unknown }).type !== type) {
    const article = /^[aeiou]/.test(kind) ? 'an' : 'a';
    throw new ValueError(`${component}: not ${article} ${kind} trigger spec: ${describeValue(spec)}`);
  }
  checkKeys(spec, allowed, `${component}: spec`, 'spec');
}
