/**
 * Opening the store a command works on, without ever creating one: the file, database or schema must exist and
 * be a kairos store before the real store class is started on it (a store class creates what is missing, which
 * is right for a scheduler and wrong for a typo on the command line). Then the command uses the store contract
 * (`getTasks`, `updateTask`, `getRuns`, `requestRun`…) like any scheduler sharing the store, and closes it.
 *
 * Exit codes (errors.ts): a missing file, a file or schema that is not a kairos store, a database that does not
 * exist or refuses the credentials are bad input (2); a server that cannot be reached is a failure (1).
 */
import { readFile, stat } from 'node:fs/promises';
import { pino } from 'pino';
import type { SharedTaskStore, StoreContext } from '../store.js';
import { badInput, failed } from './errors.js';
import type { StoreLocation } from './store-url.js';

/** A started store and what it reported while the command used it. */
export interface OpenStore {
  store: SharedTaskStore;
  location: StoreLocation;
  /** Task records the store could not read back, by id, with why (reported by the store, kept untouched). */
  broken: Map<string, Error>;
}

/** How long connecting to PostgreSQL may take. */
const CONNECT_TIMEOUT_MS = 5000;

/** Opens the store at `location` (after checking it exists and is a kairos store), runs `work`, closes the store. */
export async function withStore<T>(
  location: StoreLocation,
  work: (open: OpenStore) => Promise<T>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<T> {
  await checkExists(location);
  const store = await construct(location);
  const broken = new Map<string, Error>();
  const context: StoreContext = {
    logger: cliLogger(env),
    alias: location.label,
    reportBrokenRecord: (taskId, error) => {
      broken.set(taskId, error);
    },
  };
  try {
    await store.start(context);
  } catch (error) {
    throw openFailure(location, error);
  }
  try {
    return await work({ store, location, broken });
  } finally {
    await store.close().catch(() => {});
  }
}

/** The stores' logger: silent, unless `KAIROS_LOG_LEVEL` asks for more (then to stderr). */
function cliLogger(env: NodeJS.ProcessEnv) {
  const level = env.KAIROS_LOG_LEVEL ?? 'silent';
  return pino({ level, base: undefined }, pino.destination({ dest: 2, sync: true }));
}

/** Refuses a location that is not an existing kairos store, touching nothing. */
async function checkExists(location: StoreLocation): Promise<void> {
  if (location.kind === 'file') return checkFileStore(location.path);
  if (location.kind === 'sqlite') return checkSqliteStore(location.path);
  return checkPostgresStore(location);
}

/** The path exists and is a regular file; else bad input. */
async function checkFile(path: string): Promise<void> {
  let isFile: boolean;
  try {
    isFile = (await stat(path)).isFile();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw badInput(`no such store file: ${path}`);
    throw failed(`cannot read the store file ${path}: ${(error as Error).message}`);
  }
  if (!isFile) throw badInput(`not a store file: ${path} is a directory or a special file`);
}

async function checkFileStore(path: string): Promise<void> {
  await checkFile(path);
  const { FILE_STORE_FORMAT } = await import('../../stores/file.js');
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    if (error instanceof SyntaxError) throw badInput(`${path} is not a kairos file store (not JSON)`);
    throw failed(`cannot read the store file ${path}: ${(error as Error).message}`);
  }
  const format =
    typeof json === 'object' && json !== null ? (json as { format?: unknown }).format : undefined;
  if (format !== FILE_STORE_FORMAT) {
    throw badInput(`${path} is not a kairos file store (it has no "format": "${FILE_STORE_FORMAT}")`);
  }
}

async function checkSqliteStore(path: string): Promise<void> {
  await checkFile(path);
  const { SQLITE_APPLICATION_ID } = await import('../../stores/sqlite.js');
  let Driver: typeof import('better-sqlite3');
  try {
    Driver = (await import('better-sqlite3')).default;
  } catch (error) {
    throw failed(
      `sqlite stores need better-sqlite3 (npm install better-sqlite3): ${(error as Error).message}`,
    );
  }
  let db: import('better-sqlite3').Database | undefined;
  try {
    db = new Driver(path, { readonly: true, fileMustExist: true, timeout: 5000 });
    const applicationId = db.pragma('application_id', { simple: true });
    const table = db
      .prepare("SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = 'kairos_tasks'")
      .get();
    if (applicationId !== SQLITE_APPLICATION_ID || table === undefined) {
      throw badInput(`${path} is not a kairos SQLite store (no kairos tables in it)`);
    }
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT')
      throw badInput(`${path} is not a kairos SQLite store (not an SQLite database)`);
    if (code === 'SQLITE_CANTOPEN') throw badInput(`no such store file: ${path}`);
    if (typeof code === 'string' && code.startsWith('SQLITE_'))
      throw failed(`cannot read the SQLite store ${path}: ${(error as Error).message}`);
    throw error;
  } finally {
    db?.close();
  }
}

async function checkPostgresStore(location: Extract<StoreLocation, { kind: 'postgres' }>): Promise<void> {
  let pg: typeof import('pg').default;
  try {
    pg = (await import('pg')).default;
  } catch (error) {
    throw failed(`postgres stores need pg (npm install pg): ${(error as Error).message}`);
  }
  const client = new pg.Client({
    connectionString: location.connectionString,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    application_name: 'kairos-cli',
  });
  // A connection lost after the check is no concern of the command's; it must never crash it.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    throw connectFailure(location, error);
  }
  try {
    const { rows } = await client.query<{ tasks: string | null }>(
      'SELECT to_regclass(quote_ident($1) || $2) AS tasks',
      [location.schema, '.tasks'],
    );
    if (rows[0]?.tasks == null) {
      throw badInput(`no kairos store in schema '${location.schema}' of ${location.label.split(' (')[0]}`);
    }
  } finally {
    await client.end().catch(() => {});
  }
}

/** A failure to connect to PostgreSQL: a wrong database or credentials are bad input, the rest a failure. */
function connectFailure(location: StoreLocation, error: unknown): Error {
  const code = String((error as { code?: unknown }).code ?? '');
  const message = (error as Error).message || code || String(error);
  const where = location.kind === 'postgres' ? location.label.split(' (')[0] : location.label;
  if (code === '3D000' || code.startsWith('28')) return badInput(`cannot use ${where}: ${message}`);
  return failed(`cannot connect to ${where}: ${message}`);
}

/** The store class for a location, loaded on demand (a command loads one store's code and driver). */
async function construct(location: StoreLocation): Promise<SharedTaskStore> {
  if (location.kind === 'file') {
    const { FileStore } = await import('../../stores/file.js');
    return new FileStore({ path: location.path });
  }
  if (location.kind === 'sqlite') {
    const { SQLiteStore } = await import('../../stores/sqlite.js');
    return new SQLiteStore({ path: location.path });
  }
  const { PostgresStore } = await import('../../stores/postgres.js');
  return new PostgresStore({
    connectionString: location.connectionString,
    schema: location.schema,
    maxConnections: 2,
    connectTimeout: CONNECT_TIMEOUT_MS,
  });
}

/** A store that failed to start after the checks: the message says which store; a connection failure is exit 1. */
function openFailure(location: StoreLocation, error: unknown): Error {
  if (location.kind === 'postgres' && typeof (error as { code?: unknown }).code === 'string') {
    return connectFailure(location, error);
  }
  return error instanceof Error ? error : new Error(String(error));
}
