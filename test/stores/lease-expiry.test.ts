// A process that dies holding task leases and run slots (SIGKILL) blocks nobody for longer than their expiry:
// another process then acquires the tasks and claims slots again.
import { afterEach, describe, expect, it } from 'vitest';
import type { SharedTaskStore } from '../../src/index.js';
import { type Child, killChild, spawnChild } from './children.js';
import { makeRecord, recordingContext, type StoreBacking, selectedStores } from './harness.js';

const LEASE_MS = 1500;
const persistent = selectedStores().filter((kind) => kind.persistent && kind.shared);

describe.skipIf(persistent.length === 0).each(persistent)(
  '$name store: leases of a killed process',
  (kind) => {
    let backing: StoreBacking;
    let store: SharedTaskStore;
    let holder: Child | undefined;

    afterEach(async () => {
      if (holder !== undefined) killChild(holder);
      await store.close();
      await backing.cleanUp();
    });

    it('are held until they expire, then another process takes the tasks and slots over', async () => {
      backing = await kind.setUp();
      store = backing.open() as SharedTaskStore;
      await store.start(recordingContext().context);
      const due = Date.now() - 1000;
      for (const id of ['a', 'b']) await store.addTask(makeRecord({ id, nextRunTime: due }));

      const path = backing.location;
      holder = spawnChild('store-lease-holder.ts', [kind.name, path, String(LEASE_MS)]);
      const held = await holder.waitFor((line) => Array.isArray(line.acquired));
      expect(held).toMatchObject({ acquired: ['a', 'b'], slots: 2 });
      const expiresAt = held.expiresAt as number;
      killChild(holder);
      await holder.exited;

      const slot = (runId: string) => ({
        taskId: 'a',
        runId,
        owner: 'survivor',
        expiresAt: Date.now() + 30_000,
        maxInstances: 1,
      });
      expect(
        await store.acquireDueTasks({ owner: 'survivor', now: Date.now(), leaseMs: 30_000, limit: 10 }),
      ).toEqual([]);
      expect(await store.claimRunSlot(slot('early'))).toBe(false);
      expect(await store.earliestWakeup('survivor')).toBe(expiresAt);

      await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now() + 20)));
      const taken = await store.acquireDueTasks({
        owner: 'survivor',
        now: Date.now(),
        leaseMs: 30_000,
        limit: 10,
      });
      expect(taken.map((record) => [record.id, record.nextRunTime])).toEqual([
        ['a', due],
        ['b', due],
      ]);
      expect(await store.claimRunSlot(slot('late'))).toBe(true);
    });
  },
);
