/**
 * A child process for test/stores/optional-driver.test.ts: `node --import tsx test/support/store-no-sqlite.ts <db path>`.
 * Hides better-sqlite3 (a module resolve hook fails to find it, as when it is not installed), starts an
 * SQLiteStore, and prints the error as one JSON line: `{ name, kairos, message }`.
 */
import { register } from 'node:module';
import { pino } from 'pino';

const [path] = process.argv.slice(2);
if (path === undefined) throw new Error('usage: store-no-sqlite.ts <db path>');

const HIDE_DRIVER = `
export async function resolve(specifier, context, next) {
  if (specifier === 'better-sqlite3') {
    throw Object.assign(new Error("Cannot find package 'better-sqlite3'"), { code: 'ERR_MODULE_NOT_FOUND' });
  }
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(HIDE_DRIVER)}`);

const { KairosError } = await import('../../src/errors.js');
const { SQLiteStore } = await import('../../stores/sqlite.js');
try {
  await new SQLiteStore({ path }).start({
    logger: pino({ level: 'silent' }),
    alias: 'default',
    reportBrokenRecord: () => {},
  });
  process.stdout.write(`${JSON.stringify({ name: null })}\n`);
} catch (error) {
  const { name, message } = error as Error;
  process.stdout.write(`${JSON.stringify({ name, kairos: error instanceof KairosError, message })}\n`);
}
