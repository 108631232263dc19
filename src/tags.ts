/** Task tags (API.md "Task composition"): what a tag list may hold, checked in one place. */
import { ValueError } from './errors.js';
import { describeValue } from './validate.js';

/** The most tags a task may have. */
export const MAX_TAGS = 64;
/** The longest tag, in characters. */
export const MAX_TAG_LENGTH = 200;

/** What is wrong with `value` as a tag list, or null if nothing is. */
export function tagListProblem(value: unknown): string | null {
  if (!Array.isArray(value)) return `must be an array of strings, got ${describeValue(value)}`;
  if (value.length > MAX_TAGS) return `must hold at most ${MAX_TAGS} tags, got ${value.length}`;
  for (const tag of value) {
    if (typeof tag !== 'string' || tag === '' || tag.length > MAX_TAG_LENGTH) {
      return `must hold non-empty strings of at most ${MAX_TAG_LENGTH} characters, got ${describeValue(tag)}`;
    }
  }
  return null;
}

/** A validated tag list: distinct tags, in the order first given. A bad list is a `ValueError` naming it. */
export function parseTags(value: unknown, what: string): string[] {
  const problem = tagListProblem(value);
  if (problem !== null) throw new ValueError(`${what} ${problem}`);
  return [...new Set(value as string[])];
}

/** A validated tag to select tasks by (`getTasks({ tag })`). */
export function parseTag(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '' || value.length > MAX_TAG_LENGTH) {
    throw new ValueError(
      `${what} must be a non-empty string of at most ${MAX_TAG_LENGTH} characters, got ${describeValue(value)}`,
    );
  }
  return value;
}
