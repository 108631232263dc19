import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, rmdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  FileLock,
  KairosError,
  type LockCompromisedEvent,
  LockLostError,
  LockTimeoutError,
  TimeoutError,
  ValueError,
} from '../src/index.js';
import { processGroupId } from '../src/lock.js';

const CHILD = fileURLToPath(new URL('./support/lock-child.ts', import.meta.url));
const FAST = { stale: 2000, update: 1000 } as const;

let dir: string;
const locks: FileLock[] = [];
const children: ChildProcess[] = [];

/** A FileLock that is released after the test. */
function makeLock(path: string, options: ConstructorParameters<typeof FileLock>[1] = FAST): FileLock {
  const lock = new FileLock(path, options);
  locks.push(lock);
  return lock;
}

interface ChildMessage {
  event: string;
  path: string;
  pid: number;
}

/** Spawns test/support/lock-child.ts, which takes the lock on `path` and reports on stdout. */
function spawnChild(path: string, options: { detached?: boolean } = {}) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CHILD, path, String(FAST.stale), String(FAST.update)],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
      detached: options.detached ?? false,
    },
  );
  children.push(child);
  const messages: ChildMessage[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    messages.push(JSON.parse(line) as ChildMessage);
    for (const wake of waiters.splice(0)) wake();
  });
  child.on('exit', () => {
    for (const wake of waiters.splice(0)) wake();
  });
  return {
    child,
    /** Resolves with the first message of this kind (waiting for it if need be). */
    async next(event: string): Promise<ChildMessage> {
      for (;;) {
        const found = messages.find((message) => message.event === event);
        if (found) return found;
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`child exited before '${event}'`);
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
    send(command: 'release' | 'exit'): void {
      child.stdin!.write(`${command}\n`);
    },
  };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kairos-lock-'));
});

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
  await Promise.all(locks.splice(0).map((lock) => lock.release().catch(() => {})));
  await rm(dir, { recursive: true, force: true });
});

describe('FileLock in one process', () => {
  it('acquires and releases; release is idempotent', async () => {
    const lock = makeLock(join(dir, 'a'));
    expect(lock.held).toBe(false);
    expect(lock.path).toBe(join(dir, 'a'));
    expect(lock.lockfilePath).toBe(join(dir, 'a.lock'));
    await lock.acquire();
    expect(lock.held).toBe(true);
    expect(await exists(lock.lockfilePath)).toBe(true);
    expect(await exists(lock.path)).toBe(false); // the locked file need not exist
    expect(await lock.tryAcquire()).toBe(true); // already ours
    await lock.release();
    expect(lock.held).toBe(false);
    expect(await exists(lock.lockfilePath)).toBe(false);
    await lock.release();
    expect(await lock.tryAcquire()).toBe(true);
    await lock[Symbol.asyncDispose]();
    expect(lock.held).toBe(false);
  });

  it('defaults to stale 10 s and update stale / 2', () => {
    const lock = new FileLock(join(dir, 'a'));
    expect([lock.staleMs, lock.updateMs]).toEqual([10_000, 5000]);
    const custom = new FileLock(join(dir, 'a'), { stale: 'PT6S' });
    expect([custom.staleMs, custom.updateMs]).toEqual([6000, 3000]);
  });

  it('creates missing parent directories', async () => {
    const lock = makeLock(join(dir, 'x', 'y', 'a'));
    expect(await lock.tryAcquire()).toBe(true);
    expect(await exists(join(dir, 'x', 'y', 'a.lock'))).toBe(true);
  });

  it('excludes a second instance on the same path', async () => {
    const first = makeLock(join(dir, 'a'));
    const second = makeLock(join(dir, 'a'));
    expect(await first.tryAcquire()).toBe(true);
    expect(await second.tryAcquire()).toBe(false);
    expect(second.held).toBe(false);
    await second.release(); // not held: no-op, must not remove the first one's lock
    expect(await exists(first.lockfilePath)).toBe(true);
    await first.release();
    expect(await second.tryAcquire()).toBe(true);
    expect(await first.tryAcquire()).toBe(false);
  });

  it('serialises concurrent tryAcquire calls of one instance', async () => {
    const lock = makeLock(join(dir, 'a'));
    expect(await Promise.all([lock.tryAcquire(), lock.tryAcquire(), lock.tryAcquire()])).toEqual([
      true,
      true,
      true,
    ]);
  });

  it('acquire waits for a release', async () => {
    const first = makeLock(join(dir, 'a'));
    const second = makeLock(join(dir, 'a'));
    await first.acquire();
    const order: string[] = [];
    setTimeout(() => {
      order.push('released');
      void first.release();
    }, 200);
    await second.acquire({ timeout: 2000 });
    order.push('acquired');
    expect(second.held).toBe(true);
    expect(order).toEqual(['released', 'acquired']);
  });

  it('acquire times out with a LockTimeoutError naming the path', async () => {
    const first = makeLock(join(dir, 'a'));
    const second = makeLock(join(dir, 'a'));
    await first.acquire();
    const started = Date.now();
    const error = await second.acquire({ timeout: 300 }).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(LockTimeoutError);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toBeInstanceOf(KairosError);
    expect((error as LockTimeoutError).message).toContain(join(dir, 'a'));
    expect((error as LockTimeoutError).message).toContain('300 ms');
    expect((error as LockTimeoutError).path).toBe(join(dir, 'a'));
    // It waited its timeout, not less (the holder never releases: without the timeout it would wait for ever).
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(second.held).toBe(false);
    // timeout 0: one attempt
    await expect(second.acquire({ timeout: 0 })).rejects.toBeInstanceOf(LockTimeoutError);
  });

  it('acquire stops waiting when its signal aborts', async () => {
    const first = makeLock(join(dir, 'a'));
    const second = makeLock(join(dir, 'a'));
    await first.acquire();
    const reason = new Error('stop');
    const acquiring = second.acquire({ signal: AbortSignal.timeout(5000), timeout: 10_000 });
    const controller = new AbortController();
    const aborting = second.acquire({ signal: controller.signal });
    setTimeout(() => controller.abort(reason), 100);
    await expect(aborting).rejects.toBe(reason);
    await first.release();
    await acquiring;
    expect(second.held).toBe(true);
  });

  it('rejects bad options with a ValueError naming the value', async () => {
    const path = join(dir, 'a');
    const cases: Array<[ConstructorParameters<typeof FileLock>[1], RegExp]> = [
      [{ stale: -5 }, /stale: -5/],
      [{ stale: 1500 }, /stale: 1500 .*minimum/],
      [{ stale: 'soon' }, /stale: "soon"/],
      [{ stale: Number.NaN }, /stale: NaN/],
      [{ stale: 4000, update: 3000 }, /update: 3000 .*stale \/ 2 \(2000 ms\)/],
      [{ stale: 10_000, update: 500 }, /update: 500 .*minimum/],
      [{ update: { hours: -1 } }, /update: \{"hours":-1\}/],
    ];
    for (const [options, message] of cases) {
      expect(() => new FileLock(path, options), JSON.stringify(options)).toThrow(ValueError);
      expect(() => new FileLock(path, options)).toThrow(message);
    }
    expect(() => new FileLock('')).toThrow(ValueError);
    expect(() => new FileLock(42 as unknown as string)).toThrow(/path: 42/);
    const lock = makeLock(path);
    await expect(lock.acquire({ timeout: 'later' })).rejects.toThrow(/timeout: "later"/);
    await expect(lock.withLock(() => 1, { wait: 'no' as unknown as boolean })).rejects.toThrow(ValueError);
    expect(() => lock.on('gone' as 'compromised', () => {})).toThrow(/event: "gone"/);
  });

  it('a stale past twice the timer limit is a lock like any other: refreshed at the timer limit', () => {
    const lock = new FileLock(join(dir, 'long'), { stale: 2 ** 33 });
    expect(lock.staleMs).toBe(2 ** 33);
    expect(lock.updateMs).toBe(2 ** 31 - 1);
  });

  it('rejects an unknown option key or a non-object with a ValueError naming it', async () => {
    const path = join(dir, 'a');
    const typo = <T>(options: object) => options as T;
    expect(() => new FileLock(path, typo({ stael: 1 }))).toThrow(ValueError);
    expect(() => new FileLock(path, typo({ stael: 1 }))).toThrow(
      /^FileLock: unknown option 'stael' \(expected one of stale, update\)$/,
    );
    expect(() => new FileLock(path, null as never)).toThrow(
      /^FileLock: options must be an object, got null$/,
    );
    expect(() => new FileLock(path, 'fast' as never)).toThrow(ValueError);
    const lock = makeLock(path);
    await expect(lock.acquire(typo({ timeOut: 100 }))).rejects.toThrow(
      /^FileLock\.acquire: unknown option 'timeOut' \(expected one of timeout, signal\)$/,
    );
    await expect(lock.acquire(null as never)).rejects.toThrow(ValueError);
    await expect(lock.acquire({ signal: 'stop' as never })).rejects.toThrow(/signal must be an AbortSignal/);
    let ran = false;
    const body = () => {
      ran = true;
    };
    await expect(lock.withLock(body, typo({ wiat: false }))).rejects.toThrow(
      /^FileLock\.withLock: unknown option 'wiat' \(expected one of wait, timeout, signal\)$/,
    );
    await expect(lock.withLock(body, null as never)).rejects.toThrow(ValueError);
    expect(ran).toBe(false);
    expect(lock.held).toBe(false);
  });

  it('substitutes {pgrp} with the process group id', () => {
    const pgrp = processGroupId();
    expect(Number.isSafeInteger(pgrp) && pgrp > 0).toBe(true);
    const lock = new FileLock(join(dir, 'kairos-{pgrp}-{pgrp}.lock'));
    expect(lock.path).toBe(join(dir, `kairos-${pgrp}-${pgrp}.lock`));
    expect(new FileLock(join(dir, 'kairos-{store}')).path).toBe(join(dir, 'kairos-{store}'));
  });
});

describe('FileLock.withLock', () => {
  it('with wait: false skips fn while another holder has the lock', async () => {
    const holder = makeLock(join(dir, 'a'));
    const other = makeLock(join(dir, 'a'));
    await holder.acquire();
    let ran = false;
    const result = await other.withLock(
      () => {
        ran = true;
        return 1;
      },
      { wait: false },
    );
    expect(result).toBeUndefined();
    expect(ran).toBe(false);
    await holder.release();
    expect(await other.withLock(() => 2, { wait: false })).toBe(2);
    expect(other.held).toBe(false);
  });

  it('with wait: true waits, runs fn while holding, and releases after', async () => {
    const holder = makeLock(join(dir, 'a'));
    const other = makeLock(join(dir, 'a'));
    await holder.acquire();
    setTimeout(() => void holder.release(), 150);
    const result = await other.withLock(async (signal) => {
      expect(other.held).toBe(true);
      expect(signal.aborted).toBe(false);
      expect(await holder.tryAcquire()).toBe(false);
      return 'done';
    });
    expect(result).toBe('done');
    expect(other.held).toBe(false);
    expect(await holder.tryAcquire()).toBe(true);
  });

  it('releases when fn throws, and rethrows', async () => {
    const lock = makeLock(join(dir, 'a'));
    const boom = new Error('boom');
    await expect(
      lock.withLock(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(lock.held).toBe(false);
    expect(await exists(lock.lockfilePath)).toBe(false);
  });

  it('times out with wait: true and a timeout', async () => {
    const holder = makeLock(join(dir, 'a'));
    const other = makeLock(join(dir, 'a'));
    await holder.acquire();
    await expect(other.withLock(() => 1, { timeout: 200 })).rejects.toBeInstanceOf(LockTimeoutError);
  });

  it('runs the bodies of one instance one at a time', async () => {
    const lock = makeLock(join(dir, 'a'));
    const log: string[] = [];
    const body = (name: string) => async () => {
      log.push(`${name}:start`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      log.push(`${name}:end`);
      return name;
    };
    const [a, b, skipped] = await Promise.all([
      lock.withLock(body('a')),
      lock.withLock(body('b')),
      lock.withLock(body('c'), { wait: false }),
    ]);
    expect([a, b, skipped]).toEqual(['a', 'b', undefined]);
    expect(log).toEqual(['a:start', 'a:end', 'b:start', 'b:end']);
    expect(lock.held).toBe(false);
  });

  it('keeps a lock that was acquired before', async () => {
    const lock = makeLock(join(dir, 'a'));
    await lock.acquire();
    expect(await lock.withLock(() => 'x', { wait: false })).toBe('x');
    expect(lock.held).toBe(true);
  });
});

describe('FileLock across processes', () => {
  it('a child that holds the lock excludes the parent until it releases', async () => {
    const path = join(dir, 'shared');
    const child = spawnChild(path);
    await child.next('acquired');
    const lock = makeLock(path);
    expect(await lock.tryAcquire()).toBe(false);
    expect(await lock.withLock(() => 1, { wait: false })).toBeUndefined();
    child.send('release');
    await child.next('released');
    // One attempt, at once: the released lock is free.
    expect(await lock.tryAcquire()).toBe(true);
    child.send('exit');
    await once(child.child, 'exit');
    expect(lock.held).toBe(true);
  });

  it('a child that exits on SIGTERM removes its lock', async () => {
    const path = join(dir, 'shared');
    const child = spawnChild(path);
    await child.next('acquired');
    const lock = makeLock(path);
    expect(await lock.tryAcquire()).toBe(false);
    child.child.kill('SIGTERM');
    await once(child.child, 'exit');
    expect(await lock.tryAcquire()).toBe(true);
  });

  it('a child killed with SIGKILL loses the lock once it is stale, and not before', async () => {
    const path = join(dir, 'shared');
    const child = spawnChild(path);
    await child.next('acquired');
    const lock = makeLock(path);
    expect(await lock.tryAcquire()).toBe(false);
    child.child.kill('SIGKILL');
    await once(child.child, 'exit');
    const { mtimeMs } = await stat(lock.lockfilePath); // the child's last refresh
    expect(await lock.tryAcquire()).toBe(false);
    // Acquired within the 5 s wait (else LockTimeoutError), and not before the lock went stale.
    await lock.acquire({ timeout: 5000 });
    const since = Date.now() - mtimeMs;
    expect(since).toBeGreaterThanOrEqual(FAST.stale);
  });

  it('children in this process group share a {pgrp} path; a detached child has its own', async () => {
    const path = join(dir, 'deploy-{pgrp}');
    const lock = makeLock(path);
    const sibling = spawnChild(path);
    const detached = spawnChild(path, { detached: true });
    const [mine, theirs] = await Promise.all([sibling.next('acquired'), detached.next('acquired')]);
    expect(mine.path).toBe(lock.path);
    expect(lock.path).toBe(join(dir, `deploy-${processGroupId()}`));
    // A detached child leads a new process group, whose id is its pid.
    expect(theirs.path).toBe(join(dir, `deploy-${theirs.pid}`));
    expect(await lock.tryAcquire()).toBe(false);
  });
});

describe('FileLock compromise', () => {
  it("emits 'compromised' when the lock directory is removed under the holder", async () => {
    const lock = makeLock(join(dir, 'a'));
    const silent = makeLock(join(dir, 'b')); // no listener: must not crash the process
    const events: LockCompromisedEvent[] = [];
    const ignored: LockCompromisedEvent[] = [];
    const removedListener = (event: LockCompromisedEvent) => ignored.push(event);
    lock.on('compromised', (event) => events.push(event));
    lock.on('compromised', () => {
      throw new Error('a throwing listener is only a warning');
    });
    lock.on('compromised', removedListener).off('compromised', removedListener);
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);

    let bodySignal: AbortSignal | undefined;
    let release!: () => void;
    const body = lock.withLock(async (signal) => {
      bodySignal = signal;
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      return 'finished';
    });
    await until(() => bodySignal !== undefined);
    await silent.acquire();
    await rmdir(lock.lockfilePath);
    await rmdir(silent.lockfilePath);
    // Noticed at the next update check (until() fails if it is not, within 3 s).
    await until(() => events.length > 0 && !silent.held, 3000);
    expect(events).toHaveLength(1);
    expect(events[0]!.path).toBe(lock.path);
    expect((events[0]!.error as NodeJS.ErrnoException).code).toBe('ECOMPROMISED');
    expect(ignored).toEqual([]);
    await until(() => warnings.length > 0);
    process.off('warning', onWarning);
    expect(warnings[0]!.name).toBe('KairosWarning');
    expect(warnings[0]!.message).toContain('a throwing listener is only a warning');
    expect(lock.held).toBe(false);
    expect(bodySignal!.aborted).toBe(true);
    expect(bodySignal!.reason).toBeInstanceOf(LockLostError);
    release();
    expect(await body).toBe('finished');
    await lock.release(); // no-op after a compromise
    // The lock is free again and can be taken anew.
    expect(await lock.tryAcquire()).toBe(true);
    expect(await silent.tryAcquire()).toBe(true);
  });
});
