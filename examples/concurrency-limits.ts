/**
 * Tag concurrency limits: at most two runs tagged 'db' at once. Five tasks are due at the same moment and each
 * takes 500 ms: two start, three wait (`task:waiting`) and start as slots free, until `setConcurrencyLimit` raises
 * the limit. Then, briefly, a shared store (SQLite in a temp dir) keeps its limits. Runs about 2 s.
 *
 *   npx tsx examples/concurrency-limits.ts
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DateTrigger, Scheduler } from '../src/index.js';
import { SQLiteStore } from '../stores/sqlite.js';

const started = Date.now();
/** Prints a line with the time since the start. */
function say(message: string): void {
  console.log(`+${String(Date.now() - started).padStart(4)} ms  ${message}`);
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const scheduler = new Scheduler({ timezone: 'UTC', concurrencyLimits: { db: 2 } });
scheduler.on('task:waiting', ({ taskId, tag }) => say(`${taskId} waits: tag '${tag}' is at its limit`));
await scheduler.start();

let running = 0;
async function query(name: string): Promise<void> {
  running++;
  say(`${name} starts (${running} running)`);
  await sleep(500);
  running--;
  say(`${name} ends`);
}

// Five tasks, all due at the same instant, all tagged 'db'.
const dueAt = new DateTrigger(Date.now() + 100);
for (const name of ['q1', 'q2', 'q3', 'q4', 'q5']) {
  await scheduler.addTask(query, { id: name, trigger: dueAt, args: [name], tags: ['db'] });
}

// Two run first and two more take their slots as those end (+600 ms); then raise the limit: the last starts at once.
await sleep(800);
say("setConcurrencyLimit('db', 5)");
await scheduler.setConcurrencyLimit('db', 5);
await sleep(600);
await scheduler.shutdown();

// A shared store keeps the limits (and counts the runs of every scheduler sharing it against them).
const dir = await mkdtemp(join(tmpdir(), 'kairos-limits-'));
const path = join(dir, 'tasks.db');
const first = new Scheduler({ stores: { default: new SQLiteStore({ path }) }, concurrencyLimits: { db: 2 } });
await first.start(); // writes { db: 2 } to the store
await first.setConcurrencyLimit('db', 3); // changes it in the store, for the whole fleet
await first.shutdown();

const store = new SQLiteStore({ path });
const second = new Scheduler({ stores: { default: store } }); // no concurrencyLimits of its own
await second.start();
say(`a later scheduler on ${path} finds the limits ${JSON.stringify(await store.getConcurrencyLimits())}`);
await second.shutdown();
await rm(dir, { recursive: true, force: true });
