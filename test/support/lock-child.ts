/**
 * A child process for test/lock.test.ts: `node --import tsx test/support/lock-child.ts <path> <staleMs> <updateMs>`.
 * Takes the lock (waiting for it), then prints JSON lines on stdout ({ event: 'acquired' | 'released' |
 * 'compromised', path, pid }) and obeys lines on stdin: `release` (release, keep running) and `exit`.
 */
import { createInterface } from 'node:readline';
import { FileLock } from '../../src/lock.js';

const [path, stale, update] = process.argv.slice(2);
if (path === undefined) throw new Error('usage: lock-child.ts <path> [staleMs] [updateMs]');

const lock = new FileLock(path, {
  stale: stale === undefined ? undefined : Number(stale),
  update: update === undefined ? undefined : Number(update),
});
const report = (event: string) =>
  process.stdout.write(`${JSON.stringify({ event, path: lock.path, pid: process.pid })}\n`);

lock.on('compromised', () => report('compromised'));
await lock.acquire();
report('acquired');

for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'release') {
    await lock.release();
    report('released');
  } else if (line === 'exit') {
    process.exit(0);
  }
}
