// API.md "Lifecycle tasks across processes", per process, tick once, with real processes: three processes declare
// the same lifecycle task by name in one shared store. Each sets up its own instance exactly once, each fire runs
// in exactly one process, and removing the task from a fourth scheduler (this one) cleans up all three.
import { afterEach, describe, expect, it } from 'vitest';
import { Scheduler } from '../../src/scheduler.js';
import { silentLogger } from '../support/events.js';
import { type Child, killChild, spawnChild } from './children.js';
import { type StoreBacking, selectedStores } from './harness.js';

const shared = selectedStores().filter((kind) => kind.shared && kind.persistent);

/** Real time passes. */
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(shared.length === 0).each(shared)(
  '$name store: a lifecycle task in three processes',
  (kind) => {
    let backing: StoreBacking;
    const children: Child[] = [];

    afterEach(async () => {
      for (const child of children.splice(0)) killChild(child);
      await backing.cleanUp();
    });

    it('each process sets up once, each fire runs in one process, removal cleans up all', async () => {
      backing = await kind.setUp();
      for (let i = 0; i < 3; i++)
        children.push(spawnChild('shared-lifecycle-child.ts', [kind.name, backing.location]));
      await Promise.all(children.map((child) => child.waitFor((line) => line.event === 'ready', 20_000)));
      await Promise.all(children.map((child) => child.waitFor((line) => line.event === 'fire', 10_000)));
      await sleep(1500);

      // Removed through a scheduler of this process (a fourth one, without the generator registered).
      const scheduler = new Scheduler({ stores: { default: backing.open() }, logger: silentLogger });
      await scheduler.start({ paused: true });
      const removedAt = Date.now();
      await scheduler.removeTask('session');
      await scheduler.shutdown();
      const cleanups = await Promise.all(
        children.map((child) => child.waitFor((line) => line.event === 'cleanup', 5000)),
      );
      expect(cleanups).toHaveLength(3);
      expect(Date.now() - removedAt).toBeLessThan(5000);

      const events = (child: Child, event: string) => child.lines.filter((line) => line.event === event);
      for (const child of children) {
        expect(events(child, 'setup')).toHaveLength(1);
        expect(events(child, 'cleanup')).toHaveLength(1);
        // Nothing fires after the cleanup.
        expect(child.lines.at(-1)?.event).toBe('cleanup');
      }
      const fired = children.flatMap((child) => events(child, 'fire').map((line) => line.scheduled));
      expect(fired.length).toBeGreaterThan(10);
      expect(new Set(fired).size).toBe(fired.length);
    }, 60_000);
  },
);
