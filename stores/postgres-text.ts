/**
 * Internal to `PostgresStore` (stores/postgres.ts), not a public API: which strings PostgreSQL keeps as given in a
 * key column (a task id, a run id, a request id).
 */

/** Keys PostgreSQL's btree index takes with room to spare (a row over about 2.7 kB cannot be indexed). */
export const MAX_KEY_BYTES = 1024;

/** A UTF-16 surrogate without its pair: not text PostgreSQL can store (it would become U+FFFD). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True if PostgreSQL stores `key` as it is: well-formed text without NUL, at most `MAX_KEY_BYTES` bytes. */
export function isStorableKey(key: string): boolean {
  return !key.includes('\u0000') && !LONE_SURROGATE.test(key) && Buffer.byteLength(key) <= MAX_KEY_BYTES;
}
