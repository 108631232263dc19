/**
 * A child process for test/stores/optional-driver.test.ts: `node --import tsx test/support/store-loaded-modules.ts <db path>`.
 * Prints one JSON line saying whether better-sqlite3 was loaded (its JS in the CommonJS cache, its native
 * addon among the process's shared objects) after importing kairos, after importing kairos/stores/sqlite,
 * and after starting an SQLiteStore.
 */
import { createRequire } from 'node:module';
import { sep } from 'node:path';
import { pino } from 'pino';

const [path] = process.argv.slice(2);
if (path === undefined) throw new Error('usage: store-loaded-modules.ts <db path>');

const require = createRequire(import.meta.url);

function driverLoaded(): { javascript: boolean; native: boolean } {
  const report = process.report.getReport() as unknown as { sharedObjects: string[] };
  return {
    javascript: Object.keys(require.cache).some((file) => file.includes(`${sep}better-sqlite3${sep}`)),
    native: report.sharedObjects.some((file) => file.includes('better_sqlite3')),
  };
}

await import('../../src/index.js');
const afterIndex = driverLoaded();
const { SQLiteStore } = await import('../../stores/sqlite.js');
const afterStoreModule = driverLoaded();
const store = new SQLiteStore({ path });
await store.start({ logger: pino({ level: 'silent' }), alias: 'default', reportBrokenRecord: () => {} });
const afterStart = driverLoaded();
await store.close();
process.stdout.write(`${JSON.stringify({ afterIndex, afterStoreModule, afterStart })}\n`);
