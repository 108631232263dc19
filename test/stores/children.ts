/** Spawning the test/support child scripts and reading the JSON lines they print. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** A running child script and what it printed. */
export interface Child {
  process: ChildProcess;
  /** Every JSON line printed so far, in order. */
  lines: Array<Record<string, unknown>>;
  /** Resolves with the first line (from `from` on) that passes `test`; rejects after `timeoutMs`. */
  waitFor(
    test: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
    from?: number,
  ): Promise<Record<string, unknown>>;
  /** Resolves when the process has exited. */
  exited: Promise<unknown>;
}

/** Runs `test/support/<script>` under tsx with `args`; stderr goes to the test's stderr. */
export function spawnChild(script: string, args: string[]): Child {
  const path = fileURLToPath(new URL(`../support/${script}`, import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', path, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: Array<Record<string, unknown>> = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
    lines.push(JSON.parse(text) as Record<string, unknown>);
    for (const wake of [...waiters]) wake();
  });
  const exited = child.exitCode === null ? once(child, 'exit') : Promise.resolve();
  return {
    process: child,
    lines,
    exited,
    waitFor(test, timeoutMs = 10_000, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.slice(from).find(test);
          if (found === undefined) return;
          cleanUp();
          resolve(found);
        };
        const timer = setTimeout(() => {
          cleanUp();
          reject(
            new Error(`${script}: no matching line within ${timeoutMs} ms; got ${JSON.stringify(lines)}`),
          );
        }, timeoutMs);
        const cleanUp = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** Kills a child that is still running. */
export function killChild(child: Child, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill(signal);
}
