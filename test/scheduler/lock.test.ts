// The scheduler's `lock` option across real processes: only the holder dispatches; after the holder is
// killed with SIGKILL, another process takes over once the lock is stale.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const CHILD = join(import.meta.dirname, '../support/scheduler-lock-child.ts');

interface Child {
  process: ChildProcess;
  fires: number[];
  ready: Promise<void>;
}

function startChild(lockPath: string): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, lockPath], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const fires: number[] = [];
  let markReady = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  let buffer = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('ready')) markReady();
      if (line.startsWith('fire')) fires.push(Date.now());
    }
  });
  return { process: child, fires, ready };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('scheduler lock across processes', () => {
  const children: Child[] = [];
  let dir = '';
  afterEach(() => {
    for (const child of children) child.process.kill('SIGKILL');
    children.length = 0;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('only the holder dispatches; a SIGKILLed holder is replaced after the lock goes stale', async () => {
    dir = mkdtempSync(join(tmpdir(), 'kairos-lock-'));
    const lockPath = join(dir, 'dispatch');
    const first = startChild(lockPath);
    children.push(first);
    await first.ready;
    await sleep(500);
    const second = startChild(lockPath);
    children.push(second);
    await second.ready;
    await sleep(1000);
    expect(first.fires.length).toBeGreaterThan(5);
    expect(second.fires).toEqual([]);

    first.process.kill('SIGKILL');
    const killedAt = Date.now();
    await sleep(4500);
    // The second took over within 4.5 s (more than five fires of its 100 ms task), and not at once: only once the
    // killed holder's lock had gone stale.
    expect(second.fires.length).toBeGreaterThan(5);
    const takeover = (second.fires[0] as number) - killedAt;
    expect(takeover).toBeGreaterThan(500);
  }, 20_000);
});
