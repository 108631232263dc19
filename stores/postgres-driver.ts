/**
 * Internal to kairos' PostgreSQL pieces (`PostgresStore`, `PostgresLock`), not a public API: loading the optional
 * `pg` driver on demand (importing kairos never loads it), and telling a `pg.Pool` from anything else.
 */
import type pg from 'pg';
import { KairosError } from '../src/errors.js';

/** The `pg` module. */
export type PgModule = typeof pg;

/** Loads `pg`; if it is missing, a `KairosError` naming `user` (`'PostgresStore'`) and how to install it. */
export async function loadPg(user: string): Promise<PgModule> {
  try {
    const module = (await import('pg')) as { default: PgModule };
    return module.default;
  } catch (error) {
    throw new KairosError(
      `${user} needs the optional peer dependency 'pg', which could not be loaded ` +
        `(${(error as Error).message}). Install it with: npm install pg`,
      { cause: error },
    );
  }
}

/**
 * True for a `pg.Pool`: it connects and queries, counts its connections and keeps its `options` (a `pg.Client`
 * has none of the last two).
 */
export function isPool(value: unknown): value is pg.Pool {
  const pool = value as Partial<pg.Pool> | null;
  return (
    typeof pool === 'object' &&
    pool !== null &&
    typeof pool.connect === 'function' &&
    typeof pool.query === 'function' &&
    typeof pool.on === 'function' &&
    typeof pool.totalCount === 'number' &&
    typeof pool.idleCount === 'number' &&
    typeof pool.options === 'object' &&
    pool.options !== null
  );
}
