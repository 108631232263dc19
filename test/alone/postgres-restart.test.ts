// The PostgreSQL server restarted under a running fleet of two scheduler processes: they lose every connection,
// log it, reconnect with backoff, and carry on; no scheduled time runs twice, and none is lost but those a process
// had taken and not yet started when the server went away. This file runs alone (the 'alone' group of
// vitest.config.ts, after every other file), and always leaves the server running.
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { type Child, killChild, spawnChild } from '../stores/children.js';
import { dropSchema, freshSchema, PG_URL, postgresLocation, unreachableReason } from '../support/postgres.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const TASKS = Array.from({ length: 6 }, (_, index) => ({
  id: `t${index}`,
  intervalMs: 200,
  workMs: 10,
  maxInstances: 1,
}));
const LEASE_TIME_MS = 2000;
const LATE_MS = 1000;

/** The cluster `pg_ctlcluster` knows this machine's server by (Debian), if that is how it runs. */
function cluster(): [string, string] | null {
  try {
    const [version] = readdirSync('/etc/postgresql');
    return version === undefined ? null : [version, 'main'];
  } catch {
    return null;
  }
}

/** Starts the server if it is installed here and not answering. */
async function ensureServerRunning(): Promise<void> {
  const found = cluster();
  if (found === null || (await unreachableReason()) === null) return;
  await run('pg_ctlcluster', ['--skip-systemctl-redirect', ...found, 'start']).catch(() => {});
}

const local = cluster() !== null && /@(127\.0\.0\.1|localhost)[:/]/.test(PG_URL);

describe.skipIf(inject('postgresUnreachable') !== null || !local)(
  'the PostgreSQL server restarted mid-run',
  () => {
    const workers: Child[] = [];
    const schema = freshSchema('krestart');

    afterAll(async () => {
      await ensureServerRunning();
      for (const worker of workers) killChild(worker);
      await Promise.all(workers.map((worker) => worker.exited));
      await dropSchema(schema);
    });

    it('two schedulers reconnect and carry on; no time runs twice; none lost but those taken before it went', async () => {
      for (const index of [0, 1]) {
        workers.push(
          spawnChild('pg-fleet-worker.ts', [
            postgresLocation(schema),
            `restart-${index}`,
            String(LEASE_TIME_MS),
            JSON.stringify(TASKS),
          ]),
        );
      }
      await Promise.all(workers.map((worker) => worker.waitFor((line) => line.event === 'started', 20_000)));
      await sleep(2000);
      const restartFrom = Date.now();
      await run('pg_ctlcluster', [
        '--skip-systemctl-redirect',
        ...(cluster() as [string, string]),
        'restart',
        '-m',
        'fast',
      ]);
      const restartTo = Date.now();
      await sleep(8000);
      const stoppedAt = Date.now();
      for (const worker of workers) killChild(worker, 'SIGTERM');
      await Promise.all(workers.map((worker) => worker.exited));

      const lines: Array<Record<string, unknown>> = workers.flatMap((worker, index) =>
        worker.lines.map((line) => ({ ...line, worker: index })),
      );
      const keyOf = (line: Record<string, unknown>) => `${line.taskId}@${line.scheduled}`;
      const runs = lines.filter((line) => line.event === 'run');
      const counted = [...runs, ...lines.filter((line) => line.event === 'skipped')].map(keyOf);
      expect(counted.length - new Set(counted).size, 'times run twice').toBe(0);

      const accounted = new Set(counted);
      for (const line of lines.filter((entry) => entry.event === 'missed'))
        for (const time of line.scheduled as number[]) accounted.add(`${line.taskId}@${time}`);
      const lost: string[] = [];
      for (const task of TASKS) {
        const times = runs.filter((line) => line.taskId === task.id).map((line) => line.scheduled as number);
        const first = Math.min(...times);
        for (let time = first; time <= stoppedAt - LATE_MS; time += task.intervalMs) {
          const excused = time >= restartFrom - LATE_MS && time <= restartTo;
          if (!accounted.has(`${task.id}@${time}`) && !excused) lost.push(`${task.id}@${time}`);
        }
        // After the restart every task runs again (each process backs off at most a few seconds).
        expect(
          runs.filter((line) => line.taskId === task.id && (line.at as number) > restartTo + 5000).length,
          `${task.id} after the restart`,
        ).toBeGreaterThan(3);
      }
      expect(lost).toEqual([]);
      for (const index of [0, 1]) {
        const warned = lines.filter(
          (line) => line.worker === index && String(line.msg).includes('notification connection was lost'),
        );
        expect(warned.length, `worker ${index} said it lost the connection`).toBeGreaterThanOrEqual(1);
      }
    }, 60_000);
  },
);
