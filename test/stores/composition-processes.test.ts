// Task composition across processes (API.md "Task composition"), with real child processes on every shared store:
// a tag limit of 2 holds across 3 schedulers (never more than 2 runs of the tag at once, fleet-wide, while runs
// wait rather than being dropped), and a dependent runs once per upstream success across 3 schedulers.
import { afterEach, describe, expect, it } from 'vitest';
import { type Child, killChild, spawnChild } from './children.js';
import { type StoreBacking, selectedStores } from './harness.js';

const shared = selectedStores().filter((kind) => kind.shared && kind.persistent);
const PROCESSES = 3;
const RUN_FOR_MS = 6000;

describe.each(shared)('$name store: composition across processes', (kind) => {
  let backing: StoreBacking | undefined;
  let children: Child[] = [];
  afterEach(async () => {
    for (const child of children) killChild(child);
    await Promise.all(children.map((child) => child.exited));
    children = [];
    await backing?.cleanUp();
  });

  async function runFleet(scenario: string): Promise<Array<Record<string, unknown>>> {
    backing = await kind.setUp();
    const location = backing.location;
    // One first, so that the store is created once; then the others.
    const first = spawnChild('composition-child.ts', [kind.name, location, scenario, 'p0']);
    children.push(first);
    await first.waitFor((line) => line.event === 'ready', 20_000);
    for (let index = 1; index < PROCESSES; index++)
      children.push(spawnChild('composition-child.ts', [kind.name, location, scenario, `p${index}`]));
    await Promise.all(children.map((child) => child.waitFor((line) => line.event === 'ready', 20_000)));
    await new Promise((resolve) => setTimeout(resolve, RUN_FOR_MS));
    for (const child of children) child.process.kill('SIGTERM');
    await Promise.all(children.map((child) => child.waitFor((line) => line.event === 'stopped', 10_000)));
    return children.flatMap((child, index) => child.lines.map((line) => ({ ...line, process: index })));
  }

  it('a tag limit of 2 over 3 processes never has more than 2 runs of the tag at once', async () => {
    const lines = await runFleet('limits');
    // Each process prints start and end of its own runs; merge by wall time (an end before a start at the same ms).
    const changes = lines
      .filter((line) => line.event === 'start' || line.event === 'end')
      .map((line) => ({ at: line.at as number, delta: line.event === 'start' ? 1 : -1 }))
      .sort((a, b) => a.at - b.at || a.delta - b.delta);
    let running = 0;
    let peak = 0;
    for (const change of changes) {
      running += change.delta;
      peak = Math.max(peak, running);
    }
    const starts = lines.filter((line) => line.event === 'start');
    const waits = lines.filter((line) => line.event === 'waiting');
    expect(peak).toBe(2);
    // Nine tasks wanting ~0.4 s of db time each per 0.4 s, two places: runs wait, and runs keep happening.
    expect(waits.length).toBeGreaterThan(0);
    expect(starts.length).toBeGreaterThan(30);
    expect(new Set(starts.map((line) => line.process)).size).toBeGreaterThan(1);
  }, 60_000);

  it('a dependent runs once per upstream success across 3 processes', async () => {
    const lines = await runFleet('after');
    const ups = lines.filter((line) => line.event === 'up');
    const downs = lines.filter((line) => line.event === 'down');
    console.log(kind.name, 'ups', ups.length, 'downs', downs.length);
    expect(ups.length).toBeGreaterThan(10);
    // Every up before the shutdown began has its down; at most the last one or two may be cut off by it.
    expect(downs.length).toBeLessThanOrEqual(ups.length);
    expect(downs.length).toBeGreaterThanOrEqual(ups.length - 2);
    expect(new Set(ups.map((line) => line.process)).size).toBeGreaterThan(1);
  }, 60_000);
});
