/**
 * The PostgreSQL server the tests use: `KAIROS_PG_URL`, else this machine's (127.0.0.1:5432, database `test`,
 * user `postgres`). Each test file works in schemas of its own (`freshSchema`) and drops them after.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The test server's connection string. */
export const PG_URL = process.env.KAIROS_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A new schema name no other test uses (the store creates the schema itself). */
export function freshSchema(prefix = 'kt'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

/** Runs `work` on a connection of its own to the test server, then closes it. */
export async function withClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Drops a schema and everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  await withClient((client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
}

/** Null if the test server answers, else why not. */
export async function unreachableReason(): Promise<string | null> {
  try {
    await withClient((client) => client.query('SELECT 1'));
    return null;
  } catch (error) {
    return (error as Error).message || String(error);
  }
}

/** The location string of a PostgreSQL backing for child processes: `schema|connectionString`. */
export function postgresLocation(schema: string, url = PG_URL): string {
  return `${schema}|${url}`;
}

/** Reads a location made by `postgresLocation`. */
export function parsePostgresLocation(location: string): { schema: string; connectionString: string } {
  const bar = location.indexOf('|');
  if (bar < 0) throw new Error(`not a PostgreSQL location (schema|url): ${location}`);
  return { schema: location.slice(0, bar), connectionString: location.slice(bar + 1) };
}
