// A fleet of real scheduler processes sharing one PostgreSQL database (test/support/pg-fleet-worker.ts): each
// scheduled time runs once across the fleet; the busiest process SIGKILLed, the others take over every task;
// `maxInstances: 1` holds fleet-wide; every connection killed under the fleet (pg_terminate_backend), it carries
// on; a process that shuts down hands its run slots over at once; a task added on one process wakes the others.
import { afterEach, describe, expect, inject, it } from 'vitest';
import { Scheduler } from '../../src/scheduler.js';
import { DateTrigger } from '../../src/triggers/date.js';
import { PostgresStore } from '../../stores/postgres.js';
import { type Child, killChild, spawnChild } from '../stores/children.js';
import { silentLogger } from '../support/events.js';
import { dropSchema, freshSchema, PG_URL, postgresLocation, withClient } from '../support/postgres.js';

interface TaskSpec {
  id: string;
  intervalMs: number;
  workMs: number;
  maxInstances: number;
}

interface Fleet {
  schema: string;
  /** application_name of every connection of this fleet (its workers' and the test's own stores). */
  application: string;
  url: string;
  workers: Child[];
}

/** Every line of every worker, with the worker's index. */
type Line = Record<string, unknown> & { worker: number };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const TEN_TASKS: TaskSpec[] = Array.from({ length: 10 }, (_, index) => ({
  id: `t${index}`,
  intervalMs: 200,
  workMs: 20,
  maxInstances: 1,
}));

/** How late a due time may be dispatched, and how long a process holds a time taken before it starts it. */
const LATE_MS = 1000;

describe.skipIf(inject('postgresUnreachable') !== null)('a PostgreSQL fleet of real processes', () => {
  const fleets: Fleet[] = [];

  afterEach(async () => {
    for (const fleet of fleets.splice(0)) {
      for (const worker of fleet.workers) killChild(worker);
      await Promise.all(fleet.workers.map((worker) => worker.exited));
      await dropSchema(fleet.schema);
    }
  });

  /** Starts `count` workers on a fresh schema, each declaring `tasks` at boot; resolves once all run. */
  async function startFleet(count: number, tasks: TaskSpec[], leaseTimeMs: number): Promise<Fleet> {
    const schema = freshSchema('kfleet');
    const application = schema;
    const url = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}application_name=${application}`;
    const fleet: Fleet = { schema, application, url, workers: [] };
    fleets.push(fleet);
    for (let index = 0; index < count; index++) {
      fleet.workers.push(
        spawnChild('pg-fleet-worker.ts', [
          postgresLocation(schema, url),
          `worker-${index}`,
          String(leaseTimeMs),
          JSON.stringify(tasks),
        ]),
      );
    }
    await Promise.all(
      fleet.workers.map((worker) => worker.waitFor((line) => line.event === 'started', 20_000)),
    );
    return fleet;
  }

  function linesOf(fleet: Fleet, event?: string): Line[] {
    return fleet.workers.flatMap((worker, index) =>
      worker.lines
        .filter((line) => event === undefined || line.event === event)
        .map((line) => ({ ...line, worker: index })),
    );
  }

  /** Stops the workers still running (SIGTERM: a graceful shutdown) and waits for them to exit. */
  async function stopFleet(fleet: Fleet): Promise<void> {
    for (const worker of fleet.workers) killChild(worker, 'SIGTERM');
    await Promise.all(fleet.workers.map((worker) => worker.exited));
  }

  /** No scheduled time of a task was run or skipped twice, across every process. */
  function expectEachTimeOnce(fleet: Fleet): void {
    const seen = new Map<string, Line>();
    const doubles: string[] = [];
    for (const line of [...linesOf(fleet, 'run'), ...linesOf(fleet, 'skipped')]) {
      const key = `${line.taskId}@${line.scheduled}`;
      const first = seen.get(key);
      if (first !== undefined) doubles.push(`${key}: ${JSON.stringify(first)} and ${JSON.stringify(line)}`);
      seen.set(key, line);
    }
    expect(doubles).toEqual([]);
  }

  /**
   * The scheduled times of each task from its first to `until` that no process accounted for (ran, skipped or
   * reported missed), except those in `excused` windows.
   */
  function lostTimes(
    fleet: Fleet,
    tasks: TaskSpec[],
    until: number,
    excused: Array<[number, number]>,
  ): string[] {
    const accounted = new Set<string>();
    for (const line of [...linesOf(fleet, 'run'), ...linesOf(fleet, 'skipped')])
      accounted.add(`${line.taskId}@${line.scheduled}`);
    for (const line of linesOf(fleet, 'missed'))
      for (const time of line.scheduled as number[]) accounted.add(`${line.taskId}@${time}`);
    const lost: string[] = [];
    for (const task of tasks) {
      const times = linesOf(fleet, 'run')
        .filter((line) => line.taskId === task.id)
        .map((line) => line.scheduled as number);
      if (times.length === 0) {
        lost.push(`${task.id}: never ran`);
        continue;
      }
      const first = Math.min(...times);
      for (let time = first; time <= until; time += task.intervalMs) {
        if (accounted.has(`${task.id}@${time}`)) continue;
        if (excused.some(([from, to]) => time >= from && time <= to)) continue;
        lost.push(`${task.id}@${time}`);
      }
    }
    return lost;
  }

  it('each time runs once; SIGKILL of the busiest process, and the others take over every task', async () => {
    const leaseTimeMs = 2000;
    const fleet = await startFleet(3, TEN_TASKS, leaseTimeMs);
    await sleep(4000);
    const recent = linesOf(fleet, 'run').filter((line) => (line.at as number) > Date.now() - 2000);
    const perWorker = [0, 1, 2].map((index) => recent.filter((line) => line.worker === index).length);
    const busiest = perWorker.indexOf(Math.max(...perWorker));
    killChild(fleet.workers[busiest] as Child);
    const killedAt = Date.now();
    await sleep(leaseTimeMs + 4000);
    const stoppedAt = Date.now();
    await stopFleet(fleet);

    expectEachTimeOnce(fleet);
    // Only what the killed process had taken and not started is lost: times due just before the kill.
    expect(lostTimes(fleet, TEN_TASKS, stoppedAt - LATE_MS, [[killedAt - LATE_MS, killedAt]])).toEqual([]);
    // After its leases and run slots expired, the survivors run every task, each on its grid.
    const takeover = killedAt + leaseTimeMs + LATE_MS;
    for (const task of TEN_TASKS) {
      const after = linesOf(fleet, 'run').filter(
        (line) => line.taskId === task.id && (line.scheduled as number) > takeover,
      );
      expect(after.length, `${task.id} after the kill`).toBeGreaterThan(5);
      expect(after.every((line) => line.worker !== busiest)).toBe(true);
    }
    // The work was shared before the kill: no process sat idle.
    expect(perWorker.filter((count) => count > 0).length).toBeGreaterThan(1);
  }, 40_000);

  it('maxInstances: 1 holds across three processes: a task slower than its interval never overlaps', async () => {
    const slow: TaskSpec[] = [{ id: 'slow', intervalMs: 100, workMs: 250, maxInstances: 1 }];
    const fleet = await startFleet(3, slow, 2000);
    await sleep(4000);
    await stopFleet(fleet);

    expectEachTimeOnce(fleet);
    const ends = new Map(linesOf(fleet, 'end').map((line) => [line.scheduled as number, line]));
    const runs = linesOf(fleet, 'run')
      .map((line) => ({
        start: line.at as number,
        end: ends.get(line.scheduled as number)?.at as number,
        line,
      }))
      .sort((a, b) => a.start - b.start);
    expect(runs.length).toBeGreaterThan(8);
    for (let index = 1; index < runs.length; index++) {
      const previous = runs[index - 1] as (typeof runs)[number];
      const current = runs[index] as (typeof runs)[number];
      expect(previous.end, `run ${JSON.stringify(previous.line)} has no end`).toBeTypeOf('number');
      expect(
        current.start,
        `${JSON.stringify(current.line)} overlaps ${JSON.stringify(previous.line)}`,
      ).toBeGreaterThanOrEqual(previous.end);
    }
    // The times in between were dispatched and skipped, not lost.
    expect(linesOf(fleet, 'skipped').length).toBeGreaterThan(runs.length);
  }, 30_000);

  it('every connection killed under a running fleet, three times: one warning each, and it carries on', async () => {
    const leaseTimeMs = 2000;
    const fleet = await startFleet(3, TEN_TASKS, leaseTimeMs);
    await sleep(1500);
    const kills: number[] = [];
    for (let round = 0; round < 3; round++) {
      const killed = await withClient(async (client) => {
        const { rowCount } = await client.query(
          'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
          [fleet.application],
        );
        return rowCount ?? 0;
      });
      kills.push(Date.now());
      // Each worker has at least its LISTEN connection and one pool connection.
      expect(killed).toBeGreaterThanOrEqual(6);
      await sleep(2500);
    }
    const lastKill = kills[2] as number;
    await sleep(2500);
    const stoppedAt = Date.now();
    await stopFleet(fleet);

    expectEachTimeOnce(fleet);
    const excused = kills.map((at): [number, number] => [at - LATE_MS, at]);
    expect(lostTimes(fleet, TEN_TASKS, stoppedAt - LATE_MS, excused)).toEqual([]);
    for (const [index] of fleet.workers.entries()) {
      const lost = linesOf(fleet, 'log').filter(
        (line) => line.worker === index && String(line.msg).includes('notification connection was lost'),
      );
      expect(lost, `worker ${index}: one warning per round`).toHaveLength(3);
      const later = linesOf(fleet, 'run').filter(
        (line) => line.worker === index && (line.at as number) > lastKill + 1500,
      );
      expect(later.length, `worker ${index} runs tasks again`).toBeGreaterThan(0);
    }
  }, 40_000);

  it('a process that shuts down hands its leases and run slots over at once, not after leaseTime', async () => {
    const long: TaskSpec[] = [{ id: 'long', intervalMs: 300, workMs: 60_000, maxInstances: 1 }];
    const fleet = await startFleet(2, long, 30_000);
    const first = await Promise.race(
      fleet.workers.map((worker, index) =>
        worker.waitFor((line) => line.event === 'run', 10_000).then(() => index),
      ),
    );
    const holder = fleet.workers[first] as Child;
    const other = fleet.workers[1 - first] as Child;
    const from = other.lines.length;
    killChild(holder, 'SIGTERM');
    const stopped = await holder.waitFor((line) => line.event === 'stopped', 10_000);
    const taken = await other.waitFor((line) => line.event === 'run', 5000, from);
    // Its run slot (maxInstances 1) lived until the holder closed the store, 30 s of lease notwithstanding.
    expect((taken.at as number) - (stopped.at as number)).toBeLessThan(3000);
  }, 30_000);

  it('a task added through one scheduler runs on another process, woken by the notification', async () => {
    const fleet = await startFleet(2, [], 2000);
    const store = new PostgresStore({
      connectionString: fleet.url,
      schema: fleet.schema,
      pollInterval: 'PT1H',
    });
    const adder = new Scheduler({
      stores: { default: store },
      functions: { ping: (_id: string) => {} },
      logger: silentLogger,
    });
    await adder.start({ paused: true });
    try {
      // The workers have no task: their timers are not armed, only a notification can wake them.
      await sleep(500);
      const addedAt = Date.now();
      await adder.addTask('ping', { id: 'ping-1', args: ['ping-1'], trigger: new DateTrigger(addedAt) });
      const ran = await Promise.race(
        fleet.workers.map((worker) => worker.waitFor((line) => line.event === 'ping', 5000)),
      );
      expect(ran.id).toBe('ping-1');
      expect((ran.at as number) - addedAt).toBeLessThan(2000);
    } finally {
      await adder.shutdown();
    }
  }, 30_000);
});
