/**
 * A child process for test/stores/optional-driver.test.ts: `node --import tsx test/support/store-loaded-modules.ts <db path>`.
 * Prints one JSON line saying which optional drivers were loaded: better-sqlite3 (its JS in the CommonJS cache,
 * its native addon among the process's shared objects) and pg (its JS in the CommonJS cache), after importing
 * kairos, after importing kairos/stores/sqlite, after starting an SQLiteStore, after importing
 * kairos/stores/postgres, and after starting a PostgresStore (on a port nothing listens on: `start()` loads pg,
 * then fails to connect).
 */
import { createRequire } from 'node:module';
import { sep } from 'node:path';
import { pino } from 'pino';
import type { StoreContext } from '../../src/store.js';

const [path] = process.argv.slice(2);
if (path === undefined) throw new Error('usage: store-loaded-modules.ts <db path>');

const require = createRequire(import.meta.url);
const context: StoreContext = {
  logger: pino({ level: 'silent' }),
  alias: 'default',
  reportBrokenRecord: () => {},
};

function driversLoaded(): { sqlite: { javascript: boolean; native: boolean }; pg: boolean } {
  const report = process.report.getReport() as unknown as { sharedObjects: string[] };
  const files = Object.keys(require.cache);
  return {
    sqlite: {
      javascript: files.some((file) => file.includes(`${sep}better-sqlite3${sep}`)),
      native: report.sharedObjects.some((file) => file.includes('better_sqlite3')),
    },
    pg: files.some((file) => file.includes(`${sep}node_modules${sep}pg${sep}`)),
  };
}

await import('../../src/index.js');
const afterIndex = driversLoaded();
const { SQLiteStore } = await import('../../stores/sqlite.js');
const afterSqliteModule = driversLoaded();
const store = new SQLiteStore({ path });
await store.start(context);
const afterSqliteStart = driversLoaded();
await store.close();
const { PostgresStore } = await import('../../stores/postgres.js');
const afterPostgresModule = driversLoaded();
await new PostgresStore({ connectionString: 'postgres://kairos@127.0.0.1:1/none', connectTimeout: 'PT2S' })
  .start(context)
  .catch(() => {});
const afterPostgresStart = driversLoaded();
process.stdout.write(
  `${JSON.stringify({ afterIndex, afterSqliteModule, afterSqliteStart, afterPostgresModule, afterPostgresStart })}\n`,
);
