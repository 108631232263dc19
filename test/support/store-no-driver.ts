/**
 * A child process for test/stores/optional-driver.test.ts:
 * `node --import tsx test/support/store-no-driver.ts sqlite <db path>` or `… postgres <url> [schema]`.
 * Hides the store's driver (better-sqlite3 or pg: a module resolve hook fails to find it, as when it is not
 * installed), starts the store, and prints the error as one JSON line: `{ name, kairos, message }`.
 */
import { register } from 'node:module';
import { pino } from 'pino';
import type { StoreContext, TaskStore } from '../../src/store.js';

const DRIVERS = { sqlite: 'better-sqlite3', postgres: 'pg' } as const;

const [kind, location, schema] = process.argv.slice(2);
if (!(kind === 'sqlite' || kind === 'postgres') || location === undefined)
  throw new Error('usage: store-no-driver.ts sqlite <db path> | postgres <url> [schema]');
const driver = DRIVERS[kind];

const HIDE_DRIVER = `
const driver = ${JSON.stringify(driver)};
export async function resolve(specifier, context, next) {
  if (specifier === driver || specifier.startsWith(driver + '/')) {
    throw Object.assign(new Error("Cannot find package '" + driver + "'"), { code: 'ERR_MODULE_NOT_FOUND' });
  }
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(HIDE_DRIVER)}`);

const { KairosError } = await import('../../src/errors.js');
let store: TaskStore;
if (kind === 'sqlite') {
  const { SQLiteStore } = await import('../../stores/sqlite.js');
  store = new SQLiteStore({ path: location });
} else {
  const { PostgresStore } = await import('../../stores/postgres.js');
  store = new PostgresStore({ connectionString: location, ...(schema === undefined ? {} : { schema }) });
}
const context: StoreContext = {
  logger: pino({ level: 'silent' }),
  alias: 'default',
  reportBrokenRecord: () => {},
};
try {
  await store.start(context);
  await store.close();
  process.stdout.write(`${JSON.stringify({ name: null })}\n`);
} catch (error) {
  const { name, message } = error as Error;
  process.stdout.write(`${JSON.stringify({ name, kairos: error instanceof KairosError, message })}\n`);
}
