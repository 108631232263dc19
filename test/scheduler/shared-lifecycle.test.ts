// API.md "Lifecycle tasks across processes", per process, tick once: two schedulers on one shared store (two
// store instances on one file, as two processes would) with the same generator function registered by name. Each
// sets up its own instance; each fire resumes exactly one of them; removing the task in one cleans up both.
import { afterEach, describe, expect, it } from 'vitest';
import {
  IntervalTrigger,
  type RunContext,
  Scheduler,
  SerializationError,
  ValueError,
} from '../../src/index.js';
import { type StoreBacking, selectedStores } from '../stores/harness.js';
import { silentLogger } from '../support/events.js';

const shared = selectedStores().filter((kind) => kind.shared && kind.persistent);

/** Real time passes. */
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One line of what a scheduler's instances did. */
interface Entry {
  who: string;
  what: 'setup' | 'fire' | 'cleanup';
  at?: number;
  label?: string;
}

/** Polls until `test` holds; fails after `timeoutMs`. */
async function until(test: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  while (!test()) {
    if (Date.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(20);
  }
  return Date.now() - started;
}

describe.each(shared)('$name store: a lifecycle task by name, per process', (kind) => {
  let backing: StoreBacking;
  const schedulers: Scheduler[] = [];
  let log: Entry[];

  afterEach(async () => {
    for (const scheduler of schedulers.splice(0)) if (scheduler.running) await scheduler.shutdown();
    await backing.cleanUp();
  });

  /** A scheduler on a new instance of the shared store, with its own `session` generator registered. */
  async function schedulerAs(
    who: string,
    options: { watch?: boolean; fires?: number } = {},
  ): Promise<Scheduler> {
    async function* session(label: string) {
      const fires = options.fires ?? Number.POSITIVE_INFINITY;
      log.push({ who, what: 'setup', label });
      try {
        for (let fired = 0; fired < fires; ) {
          const context = (yield) as RunContext;
          log.push({ who, what: 'fire', at: context.scheduledRunTime.getTime() });
          fired++;
        }
      } finally {
        log.push({ who, what: 'cleanup' });
      }
    }
    const store = backing.open();
    // Without its watch, a scheduler learns of the task only when it dispatches a fire of it.
    if (options.watch === false) Object.assign(store, { watch: undefined });
    const scheduler = new Scheduler({
      stores: { default: store },
      functions: { session },
      logger: silentLogger,
    });
    schedulers.push(scheduler);
    await scheduler.start();
    return scheduler;
  }

  const entries = (who: string, what: Entry['what']) =>
    log.filter((entry) => entry.who === who && entry.what === what);

  async function twoSchedulers(): Promise<[Scheduler, Scheduler]> {
    backing = await kind.setUp();
    log = [];
    const a = await schedulerAs('a');
    const b = await schedulerAs('b');
    await a.addTask('session', {
      id: 'session',
      args: ['shared'],
      trigger: new IntervalTrigger({ milliseconds: 100 }),
    });
    return [a, b];
  }

  it('each scheduler sets up its own instance once; each fire resumes exactly one of them', async () => {
    await twoSchedulers();
    expect(entries('a', 'setup')).toHaveLength(1);
    await until(() => entries('b', 'setup').length === 1, 3000, 'b sets up');
    await sleep(1500);
    expect(entries('a', 'setup')).toEqual([{ who: 'a', what: 'setup', label: 'shared' }]);
    expect(entries('b', 'setup')).toEqual([{ who: 'b', what: 'setup', label: 'shared' }]);
    const fired = log.filter((entry) => entry.what === 'fire').map((entry) => entry.at);
    expect(fired.length).toBeGreaterThan(8);
    expect(new Set(fired).size).toBe(fired.length);
    // Both took a share (whoever claims a run first runs it).
    expect(entries('a', 'fire').length).toBeGreaterThan(0);
    expect(entries('b', 'fire').length).toBeGreaterThan(0);
    expect(log.filter((entry) => entry.what === 'cleanup')).toEqual([]);
  });

  it('a scheduler started after the task was added sets up its instance at start()', async () => {
    const [a] = await twoSchedulers();
    await a.pause();
    const c = await schedulerAs('c');
    expect(entries('c', 'setup')).toHaveLength(1);
    await c.shutdown();
    expect(entries('c', 'cleanup')).toHaveLength(1);
  });

  it('a scheduler that did not see the task yet sets its instance up when it dispatches a fire, then resumes it', async () => {
    backing = await kind.setUp();
    log = [];
    const a = await schedulerAs('a');
    const b = await schedulerAs('b', { watch: false });
    await a.addTask('session', {
      id: 'session',
      args: ['lazy'],
      trigger: new IntervalTrigger({ milliseconds: 100 }),
    });
    // Unwatched, b dispatches only when woken up.
    const waking = setInterval(() => b.wakeup(), 50);
    try {
      await until(() => entries('b', 'fire').length >= 2, 5000, 'b fires');
    } finally {
      clearInterval(waking);
    }
    expect(entries('b', 'setup')).toEqual([{ who: 'b', what: 'setup', label: 'lazy' }]);
  });

  it('removing the task in one scheduler cleans up the instance of the other (through the watch)', async () => {
    const [a] = await twoSchedulers();
    await until(() => entries('b', 'setup').length === 1, 3000, 'b sets up');
    await a.removeTask('session');
    expect(entries('a', 'cleanup')).toHaveLength(1);
    const took = await until(() => entries('b', 'cleanup').length === 1, 2000, "b's finally runs");
    expect(took).toBeLessThan(2000);
    await sleep(300);
    const fires = log.filter((entry) => entry.what === 'fire').length;
    await sleep(300);
    expect(log.filter((entry) => entry.what === 'fire')).toHaveLength(fires);
  });

  it('a generator that returns in one scheduler removes the task; the other cleans up', async () => {
    backing = await kind.setUp();
    log = [];
    // a's instance returns after its first fire; b's would go on forever.
    const a = await schedulerAs('a', { fires: 1 });
    const b = await schedulerAs('b');
    const trigger = new IntervalTrigger({ milliseconds: 100 });
    await a.addTask('session', { id: 'session', args: ['short'], trigger });
    await until(() => entries('a', 'cleanup').length === 1, 4000, "a's generator returns");
    await until(() => entries('b', 'cleanup').length === 1, 2500, 'b cleans up');
    expect(await a.getTasks()).toEqual([]);
    expect(await b.getTasks()).toEqual([]);
    expect(entries('a', 'setup')).toHaveLength(1);
    expect(entries('b', 'setup')).toHaveLength(1);
  });

  it('a generator given as a function (not by name) is still refused by a persistent store', async () => {
    backing = await kind.setUp();
    async function* registered() {
      yield;
    }
    async function* unregistered() {
      yield;
    }
    const scheduler = new Scheduler({
      stores: { default: backing.open() },
      functions: { registered },
      logger: silentLogger,
    });
    schedulers.push(scheduler);
    await scheduler.start();
    const trigger = new IntervalTrigger({ seconds: 1 });
    await expect(scheduler.addTask(unregistered, { trigger })).rejects.toThrow(SerializationError);
    await expect(scheduler.addTask(registered, { trigger })).rejects.toThrow(ValueError);
    await expect(scheduler.addTask(registered, { trigger })).rejects.toThrow(/lives only in a MemoryStore/);
    expect(await scheduler.getTasks()).toEqual([]);
    await scheduler.addTask('registered', { id: 'by-name', trigger });
    expect((await scheduler.getTasks()).map((task) => task.id)).toEqual(['by-name']);
  });
});
