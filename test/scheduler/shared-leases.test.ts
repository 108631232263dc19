// Leases in a shared store (API.md, "Stores"): a run longer than `leaseTime` keeps its run slot through renewal,
// so `maxInstances: 1` holds across schedulers; and a store locked by a stuck process cannot hold `shutdown`.
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { currentRun, DateTrigger, Scheduler } from '../../src/index.js';
import { SQLiteStore } from '../../stores/sqlite.js';
import { type StoreBacking, selectedStores } from '../stores/harness.js';
import { payloads, recordEvents, silentLogger } from '../support/events.js';

const shared = selectedStores().filter((kind) => kind.shared && kind.persistent);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(shared)('$name store: run slots outlive the lease while the run lasts', (kind) => {
  let backing: StoreBacking;
  const schedulers: Scheduler[] = [];
  afterEach(async () => {
    for (const scheduler of schedulers.splice(0)) if (scheduler.running) await scheduler.shutdown();
    await backing.cleanUp();
  });

  it('a run three leases long is never overlapped by another scheduler with maxInstances 1', async () => {
    backing = await kind.setUp();
    const running: string[] = [];
    const overlaps: string[] = [];
    const make = (name: string) => {
      const scheduler = new Scheduler({
        stores: { default: backing.open() },
        functions: {
          slow: async () => {
            if (running.length > 0) overlaps.push(`${name} while ${running.join(',')}`);
            running.push(name);
            await sleep(6500);
            running.splice(running.indexOf(name), 1);
          },
        },
        logger: silentLogger,
        // Renewed every leaseTime / 3: 2 s leaves a renewal 1.3 s of slack on a loaded machine.
        leaseTime: 2000,
        schedulerId: name,
      });
      schedulers.push(scheduler);
      return scheduler;
    };
    const first = make('first');
    const second = make('second');
    const skipped = recordEvents(second, 'task:max-instances');
    await first.start();
    await second.start({ paused: true });
    await first.addTask('slow', {
      id: 'slow',
      trigger: new DateTrigger(Date.now() + 60_000),
      maxInstances: 1,
    });
    await first.runTaskNow('slow');
    // Past three lease lengths of the first run, the second scheduler tries to run it too, again and again.
    for (let attempt = 0; attempt < 5; attempt++) {
      await sleep(1000);
      await second.runTaskNow('slow');
    }
    await sleep(1800);
    expect(overlaps).toEqual([]);
    expect(payloads(skipped, 'task:max-instances')).toHaveLength(5);
    // Once the first run ended, its slot is free.
    await second.runTaskNow('slow');
    expect(running).toEqual(['second']);
  }, 25_000);
});

describe('SQLiteStore locked by a stuck process', () => {
  it('shutdown({ timeout }) returns within its timeout, not after the busy timeout', async () => {
    const backing = await (
      selectedStores().find((kind) => kind.name === 'sqlite') as { setUp(): Promise<StoreBacking> }
    ).setUp();
    const path = (backing.open() as SQLiteStore).path;
    const scheduler = new Scheduler({
      stores: { default: new SQLiteStore({ path, busyTimeout: 10_000 }) },
      functions: { job: () => void currentRun() },
      logger: silentLogger,
      leaseTime: 1000,
    });
    const stuck = new Database(path, { timeout: 100 });
    try {
      await scheduler.start();
      await scheduler.addTask('job', { id: 'a', trigger: new DateTrigger(Date.now() + 200) });
      // Another process takes the write lock and never lets go.
      stuck.exec('BEGIN IMMEDIATE');
      await sleep(400);
      const started = Date.now();
      await scheduler.shutdown({ timeout: 500 });
      // The timeout is 500 ms; a store waiting synchronously for the lock would hold it for its busyTimeout (10 s).
      expect(Date.now() - started).toBeLessThan(2500);
      expect(scheduler.running).toBe(false);
    } finally {
      if (stuck.inTransaction) stuck.exec('ROLLBACK');
      stuck.close();
      await backing.cleanUp();
    }
  }, 20_000);
});
