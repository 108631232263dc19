// One instance in the fleet across real processes (API.md "Lifecycle tasks across processes"): three processes
// declare the same lifecycle task with `lock: new FileLock(path, { stale: 2000, update: 1000 })` and a 100 ms
// interval (test/support/task-lock-child.ts). Judged from the timestamps they print: at most one process is between
// setup and cleanup at any time, fires come only from that process, a SIGKILLed holder is replaced once its lock
// is stale (within stale + update + a margin), and a holder shut down gracefully cleans up before the next one sets
// up, which then happens within a retry period (well before the lock could go stale).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Child, killChild, spawnChild } from '../stores/children.js';

const STALE_MS = 2000;
const UPDATE_MS = 1000;
/** Slack for a loaded two-core machine: process scheduling, fs latency, a busy event loop. */
const MARGIN_MS = 2000;

interface Line {
  event: string;
  pid: number;
  t: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a locked lifecycle task across processes', () => {
  const children: Child[] = [];
  let dir = '';
  afterEach(() => {
    for (const child of children) killChild(child);
    children.length = 0;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Every line printed so far by every child, by time. */
  const allLines = () =>
    children.flatMap((child) => child.lines as unknown as Line[]).sort((a, b) => a.t - b.t || 0);
  const pidOf = (child: Child) => child.process.pid as number;
  /** The child that printed a setup line from line `from` of each child on, waiting up to `timeoutMs`. */
  async function nextSetup(candidates: Child[], timeoutMs: number): Promise<{ child: Child; line: Line }> {
    const from = candidates.map((child) => child.lines.length);
    return Promise.any(
      candidates.map(async (child, index) => {
        const line = await child.waitFor((l) => l.event === 'setup', timeoutMs, from[index]);
        return { child, line: line as unknown as Line };
      }),
    );
  }

  it('one instance at a time; SIGKILL and graceful shutdown hand it over', async () => {
    dir = mkdtempSync(join(tmpdir(), 'kairos-task-lock-'));
    const lockPath = join(dir, 'x.lock');
    for (let i = 0; i < 3; i++) children.push(spawnChild('task-lock-child.ts', [lockPath]));
    await Promise.all(children.map((child) => child.waitFor((l) => l.event === 'ready', 15_000)));
    const holder = children.find((child) => child.lines.some((l) => l.event === 'setup'));
    expect(holder).toBeDefined();
    const first = holder as Child;
    await sleep(1500);
    // Only the holder set up and fires; the others stood by, with no error.
    expect(allLines().filter((l) => l.event === 'setup')).toHaveLength(1);
    expect(
      new Set(
        allLines()
          .filter((l) => l.event === 'fire')
          .map((l) => l.pid),
      ),
    ).toEqual(new Set([pidOf(first)]));
    expect(first.lines.filter((l) => l.event === 'fire').length).toBeGreaterThan(5);

    // SIGKILL: no cleanup; another process sets up once the lock is stale (at least stale - update after the kill).
    const others = children.filter((child) => child !== first);
    const killedAt = Date.now();
    killChild(first);
    const second = await nextSetup(others, STALE_MS + UPDATE_MS + MARGIN_MS + 5000);
    const takeover = second.line.t - killedAt;
    expect(takeover).toBeGreaterThan(500); // not at once: only once the killed holder's lock went stale
    expect(takeover).toBeLessThan(STALE_MS + UPDATE_MS + MARGIN_MS);
    await second.child.waitFor(
      (l) => l.event === 'fire',
      5000,
      second.child.lines.indexOf(second.line as never),
    );
    await sleep(1000);

    // Graceful shutdown: the holder's cleanup (which takes 1.2 s) ends before the third process sets up, and the
    // lock is handed over then, within a retry period (the shut-down process lingers 5 s: a lock it kept would
    // be held that long).
    const third = others.find((child) => child !== second.child) as Child;
    const terminatedAt = Date.now();
    second.child.process.kill('SIGTERM');
    const cleanup = (await second.child.waitFor((l) => l.event === 'cleanup', 10_000)) as unknown as Line;
    const handover = (await third.waitFor((l) => l.event === 'setup', 10_000)) as unknown as Line;
    await second.child.waitFor((l) => l.event === 'shutdown', 10_000);
    expect(cleanup.t).toBeGreaterThanOrEqual(terminatedAt);
    expect(handover.t).toBeGreaterThanOrEqual(cleanup.t);
    expect(handover.t - cleanup.t).toBeLessThan(STALE_MS);
    await third.waitFor((l) => l.event === 'fire', 5000);
    await sleep(500);

    // Over the whole run: the [setup, cleanup] intervals of the processes never overlap (the killed one's ends when
    // it was killed), and every fire lies inside its own process's interval.
    const intervals = children.map((child) => {
      const lines = child.lines as unknown as Line[];
      const setup = lines.find((l) => l.event === 'setup');
      const end = child === first ? killedAt : lines.find((l) => l.event === 'cleanup')?.t;
      return { pid: pidOf(child), start: setup?.t, end: end ?? Number.POSITIVE_INFINITY };
    });
    for (const { start } of intervals) expect(start).toBeDefined();
    const sorted = [...intervals].sort((a, b) => (a.start as number) - (b.start as number));
    for (let i = 1; i < sorted.length; i++) {
      expect(sorted[i]?.start as number).toBeGreaterThanOrEqual(sorted[i - 1]?.end as number);
    }
    for (const line of allLines().filter((l) => l.event === 'fire')) {
      const own = intervals.find((interval) => interval.pid === line.pid);
      expect(line.t).toBeGreaterThanOrEqual(own?.start as number);
      expect(line.t).toBeLessThanOrEqual(own?.end as number);
    }
    expect(allLines().filter((l) => l.event === 'setup')).toHaveLength(3);
  }, 60_000);
});
