/**
 * The `--store` argument (or `KAIROS_STORE`): which store a command works on.
 *
 * - `sqlite:PATH`: a `SQLiteStore` database file;
 * - `file:PATH`: a `FileStore` JSON document;
 * - `postgres://…` or `postgresql://…`: a `PostgresStore`; `?schema=NAME` (default `kairos`) names its schema and
 *   is taken out of the URL before connecting.
 *
 * A relative PATH is read from the working directory. Parsing touches nothing; see store-open.ts.
 */
import { resolve } from 'node:path';
import { badInput } from './errors.js';

/** The environment variable that gives `--store` its default. */
export const STORE_ENV = 'KAIROS_STORE';

/** The default schema of a PostgreSQL store (PostgresStore's own default). */
export const DEFAULT_POSTGRES_SCHEMA = 'kairos';

/** A store location, parsed. `label` names it in messages, a password never shown. */
export type StoreLocation =
  | { kind: 'sqlite'; path: string; label: string }
  | { kind: 'file'; path: string; label: string }
  | { kind: 'postgres'; connectionString: string; schema: string; label: string };

/** The forms `--store` takes, for messages and help. */
export const STORE_FORMS = 'sqlite:PATH, file:PATH or postgres://USER@HOST:PORT/DB[?schema=NAME]';

/** Same rule as PostgresStore's schema names (checked here so that a bad one is bad input before connecting). */
const SCHEMA_NAME = /^(?!pg_)[a-z_][a-z0-9_]{0,47}$/;

/**
 * The store `--store` names (else `KAIROS_STORE`); none given, an empty path, an unknown scheme or a bad
 * schema name is bad input (a `CliError` with exit code 2).
 */
export function parseStoreLocation(
  given: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): StoreLocation {
  const text = given ?? env[STORE_ENV];
  if (text === undefined || text.trim() === '') {
    throw badInput(`no store given: pass --store ${STORE_FORMS}, or set ${STORE_ENV}`);
  }
  const trimmed = text.trim();
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme === 'sqlite' || scheme === 'file') {
    const path = trimmed.slice(scheme.length + 1);
    if (path === '')
      throw badInput(`--store ${trimmed}: no path after '${scheme}:' (expected ${scheme}:PATH)`);
    return { kind: scheme, path: resolve(path), label: `${scheme}:${path}` };
  }
  if (scheme === 'postgres' || scheme === 'postgresql') return parsePostgres(trimmed);
  const shown = redact(trimmed);
  if (scheme === undefined) {
    throw badInput(`--store ${shown}: no scheme; expected ${STORE_FORMS} (e.g. sqlite:${shown})`);
  }
  throw badInput(`--store ${shown}: unknown store scheme '${scheme}:'; expected ${STORE_FORMS}`);
}

function parsePostgres(text: string): StoreLocation {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw badInput(
      `--store ${redact(text)}: not a valid PostgreSQL URL (expected postgres://USER@HOST:PORT/DB)`,
    );
  }
  const schemas = url.searchParams.getAll('schema');
  if (schemas.length > 1) throw badInput(`--store ${redact(text)}: schema is given ${schemas.length} times`);
  const schema = schemas[0] ?? DEFAULT_POSTGRES_SCHEMA;
  if (!SCHEMA_NAME.test(schema)) {
    throw badInput(
      `--store ${redact(text)}: schema must be a lower-case SQL identifier of at most 48 characters (letters, digits, _), not starting with pg_, got '${schema}'`,
    );
  }
  url.searchParams.delete('schema');
  const connectionString = url.toString();
  return {
    kind: 'postgres',
    connectionString,
    schema,
    label: `${redact(connectionString)} (schema ${schema})`,
  };
}

/** A URL with its password, if any, replaced by `***`. */
export function redact(text: string): string {
  try {
    const url = new URL(text);
    if (url.password === '') return text;
    url.password = '***';
    return url.toString();
  } catch {
    return text.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1***@');
  }
}
