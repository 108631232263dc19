/**
 * A child process for test/stores/lease-expiry.test.ts:
 * `node --import tsx test/support/store-lease-holder.ts <file|sqlite|postgres> <location> <leaseMs>`.
 * Acquires every due task of the store as owner 'holder', takes a run slot for each (both for `leaseMs`),
 * prints `{ acquired: [ids], slots: n }`, and then waits to be killed, never releasing anything.
 */
import { pino } from 'pino';
import { openStore } from './store-open.js';

const [kind, path, lease] = process.argv.slice(2);
if (kind === undefined || path === undefined || lease === undefined) {
  throw new Error('usage: store-lease-holder.ts <file|sqlite|postgres> <location> <leaseMs>');
}
const leaseMs = Number(lease);

const store = openStore(kind, path);
await store.start({ logger: pino({ level: 'silent' }), alias: 'default', reportBrokenRecord: () => {} });
const now = Date.now();
const acquired = await store.acquireDueTasks({ owner: 'holder', now, leaseMs, limit: 100 });
let slots = 0;
for (const record of acquired) {
  const claim = {
    taskId: record.id,
    runId: `holder-${record.id}`,
    owner: 'holder',
    expiresAt: now + leaseMs,
    maxInstances: 1,
  };
  if (await store.claimRunSlot(claim)) slots++;
}
process.stdout.write(
  `${JSON.stringify({ acquired: acquired.map((record) => record.id), slots, expiresAt: now + leaseMs })}\n`,
);
setInterval(() => {}, 60_000);
