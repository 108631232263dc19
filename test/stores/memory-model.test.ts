// MemoryStore's due heap against a reference model: seeded random sequences of adds, updates, removals,
// acquires, holds and releases by two owners, after each of which the store must agree with a plain map of
// tasks scanned in full (what is due, what `earliestWakeup` says, what `getTasks` lists). It guards the
// bookkeeping that keeps the heap holding exactly the scheduled, unleased tasks at their current next run time:
// a task left in the heap after a removal or a change, or a heap whose order breaks after a removal from its
// middle, makes the store acquire a removed or not-yet-due task, twice the same task, or miss a due one.
// A failure names its seed and lists the operations before it; to replay one seed, narrow `SEEDS` to it.
import { describe, expect, it } from 'vitest';
import { ConflictingIdError, TaskLookupError } from '../../src/errors.js';
import {
  type AcquireOptions,
  compareTaskRecords,
  type TaskRecord,
  type TaskRelease,
} from '../../src/store.js';
import { MemoryStore } from '../../stores/memory.js';
import { makeRecord, recordingContext, T0 } from './harness.js';

/** Operations per seed. */
const OPERATIONS = 1500;
/** Seeds run on 5 to 64 ids. */
const SEEDS = Array.from({ length: 30 }, (_, index) => index + 1);
/** Seeds run on 3 ids only: adds of existing ids, and ties in the heap, all the time. */
const CROWDED_SEEDS = [101, 102, 103, 104, 105];
/** How many of the last operations a failure lists. */
const LOG_TAIL = 20;

/** A seeded generator (mulberry32) of numbers in [0, 1), so that a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A task lease as the model keeps it (the store's own shape): `held` for a task parked with `holdUntil`. */
interface Lease {
  owner: string;
  expiresAt: number;
  runTime: number | null;
  held: boolean;
}

/** A task in the model: its current record, and its lease if any. */
interface ModelTask {
  record: TaskRecord;
  lease: Lease | null;
}

/** An instant relative to `T0`, for failure messages; null is a paused task. */
function at(time: number | null): string {
  return time === null ? 'paused' : `T0${time < T0 ? '-' : '+'}${Math.abs(time - T0)}`;
}

/** What a record must match in the store: id, version (carried in `name`) and next run time. */
function describeRecord(record: TaskRecord | undefined): string {
  return record === undefined ? 'none' : `${record.name}@${at(record.nextRunTime)}`;
}

/** A release, for failure messages. */
function describeRelease(release: TaskRelease): string {
  if ('holdUntil' in release) return `${release.id} hold until ${at(release.holdUntil)}`;
  return `${release.id} ${release.nextRunTime === 'remove' ? 'remove' : `to ${at(release.nextRunTime)}`}`;
}

/** Situations the seeds of a test must reach between them (checked, so that the coverage cannot quietly shrink). */
type Situation =
  | 'add'
  | 'add existing id'
  | 'remove'
  | 'remove unknown id'
  | 'remove while leased'
  | 'update unleased'
  | 'update while leased'
  | 'update while held'
  | 'update returning current'
  | 'update unknown id'
  | 'remove all'
  | 'add of an id removed by remove all'
  | 'acquire at limit'
  | 'acquire expired lease'
  | 'hold'
  | 'release with next run time'
  | 'release remove'
  | 'release yields to a change';

const SITUATIONS: readonly Situation[] = [
  'add',
  'add existing id',
  'remove',
  'remove unknown id',
  'remove while leased',
  'update unleased',
  'update while leased',
  'update while held',
  'update returning current',
  'update unknown id',
  'remove all',
  'add of an id removed by remove all',
  'acquire at limit',
  'acquire expired lease',
  'hold',
  'release with next run time',
  'release remove',
  'release yields to a change',
];

/** Thrown by a failed comparison (anything else the store throws is wrapped with the same context). */
class ModelMismatch extends Error {}

/**
 * Runs `OPERATIONS` random operations on a fresh store and on the model, comparing them after each; counts the
 * situations reached in `seen`. Ids: `idCount`, or 5 to 64 (drawn from the seed).
 */
async function runSeed(seed: number, seen: Map<Situation, number>, idCount?: number): Promise<void> {
  const next = random(seed);
  const int = (bound: number) => Math.floor(next() * bound);
  const store = new MemoryStore();
  await store.start(recordingContext().context);
  const model = new Map<string, ModelTask>();
  const ids = Array.from({ length: idCount ?? 5 + int(60) }, (_, index) => `t${index}`);
  const owners = ['A', 'B'];
  const reached = (situation: Situation) => seen.set(situation, (seen.get(situation) ?? 0) + 1);
  const log: string[] = [];
  let now = T0;
  /** Numbers record versions (their `name`), so that a stale record is told from the current one. */
  let version = 0;
  /** Ids `removeAllTasks` removed (adding one again must find nothing of the old task). */
  const removedByRemoveAll = new Set<string>();

  function fail(message: string): never {
    const tail = log.slice(-LOG_TAIL).join('\n    ');
    throw new ModelMismatch(
      `seed ${seed} (${ids.length} ids), operation ${log.length}: ${message}\n  last operations:\n    ${tail}`,
    );
  }
  const sameRecord = (actual: TaskRecord | undefined, expected: TaskRecord | undefined, what: string) => {
    if (
      actual?.id !== expected?.id ||
      actual?.name !== expected?.name ||
      actual?.nextRunTime !== expected?.nextRunTime
    ) {
      fail(`${what}: store has ${describeRecord(actual)}, model ${describeRecord(expected)}`);
    }
  };
  /**
   * A next run time: some paused (null); many close to now, past or future (often tied with others); the rest
   * up to 1,000 ms ahead, so that the heap fills up (a removal from its middle then has subtrees to break).
   */
  const time = (): number | null => {
    const roll = next();
    if (roll < 0.1) return null;
    return roll < 0.5 ? now - 50 + int(100) : now + int(1000);
  };
  const anyId = () => ids[int(ids.length)] as string;
  /** An id, `fraction` of the time that of a task that passes `wanted` (when there are any). */
  const pickId = (fraction: number, wanted: (task: ModelTask) => boolean) => {
    const matching = [...model].filter(([, task]) => wanted(task)).map(([id]) => id);
    return matching.length > 0 && next() < fraction ? (matching[int(matching.length)] as string) : anyId();
  };
  const isLeased = (task: ModelTask) => task.lease !== null;
  const isHeld = (task: ModelTask) => task.lease?.held === true;
  /** What the model knows of a task, for the log. */
  const known = (id: string) => {
    const task = model.get(id);
    if (task === undefined) return `${id} (not there)`;
    const { lease } = task;
    if (lease === null) return describeRecord(task.record);
    return `${describeRecord(task.record)} (${lease.held ? 'held' : 'leased'} by ${lease.owner} until ${at(lease.expiresAt)})`;
  };
  const newRecord = (id: string, nextRunTime: number | null) =>
    makeRecord({ id, name: `${id}#${++version}`, nextRunTime });
  /** Runs `work`, returning the error it throws (or undefined). */
  const thrown = async (work: () => Promise<unknown>): Promise<unknown> => {
    try {
      await work();
      return undefined;
    } catch (error) {
      return error;
    }
  };

  async function add(): Promise<void> {
    const record = newRecord(anyId(), time());
    log.push(`add ${describeRecord(record)}${model.has(record.id) ? ` over ${known(record.id)}` : ''}`);
    const error = await thrown(() => store.addTask(record));
    if (model.has(record.id)) {
      if (!(error instanceof ConflictingIdError))
        fail(`add of existing id ${record.id} threw ${error}, not a ConflictingIdError`);
      reached('add existing id');
      return;
    }
    if (error !== undefined) throw error;
    model.set(record.id, { record, lease: null });
    reached('add');
    if (removedByRemoveAll.has(record.id)) reached('add of an id removed by remove all');
  }

  /** An operation on an id the model does not hold must have failed with a `TaskLookupError`. */
  function unknownId(operation: 'remove' | 'update', id: string, error: unknown): void {
    if (!(error instanceof TaskLookupError))
      fail(`${operation} of unknown id ${id} threw ${error}, not a TaskLookupError`);
    reached(`${operation} unknown id`);
  }

  async function remove(): Promise<void> {
    const id = pickId(0.3, isLeased);
    const task = model.get(id);
    log.push(`remove ${known(id)}`);
    let removed: TaskRecord | undefined;
    const error = await thrown(async () => {
      removed = await store.removeTask(id);
    });
    if (task === undefined) {
      unknownId('remove', id, error);
      return;
    }
    if (error !== undefined) throw error;
    sameRecord(removed, task.record, `record removed`);
    model.delete(id);
    reached(task.lease === null ? 'remove' : 'remove while leased');
  }

  async function update(): Promise<void> {
    const id = next() < 0.3 ? pickId(0.5, isHeld) : pickId(0.4, isLeased);
    const task = model.get(id);
    const unchanged = next() < 0.15;
    const nextRunTime = time();
    const name = `${id}#${++version}`;
    log.push(`update ${known(id)} ${unchanged ? 'returning current' : `to ${name}@${at(nextRunTime)}`}`);
    let given: TaskRecord | undefined;
    let leasedRunTime: number | null | undefined;
    let changed: TaskRecord | undefined;
    let result: TaskRecord | undefined;
    const error = await thrown(async () => {
      result = await store.updateTask(id, (current, state) => {
        given = current;
        leasedRunTime = state.leasedRunTime;
        changed = unchanged ? current : { ...current, name, nextRunTime };
        return changed;
      });
    });
    if (task === undefined) {
      unknownId('update', id, error);
      return;
    }
    if (error !== undefined) throw error;
    sameRecord(given, task.record, 'record given to the change');
    // The next run time being dispatched: that of a task lease in force, not of a hold.
    const expected = task.lease !== null && !task.lease.held ? task.lease.runTime : null;
    if (leasedRunTime !== expected)
      fail(`update of ${id} was told leasedRunTime ${at(leasedRunTime ?? null)}, not ${at(expected)}`);
    if (result !== changed)
      fail(`update of ${id} resolved with ${describeRecord(result)}, not the change's record`);
    if (unchanged) {
      reached('update returning current');
      return;
    }
    reached(
      task.lease === null ? 'update unleased' : task.lease.held ? 'update while held' : 'update while leased',
    );
    // A new version ends a hold; a task lease stays.
    if (task.lease?.held) task.lease = null;
    task.record = changed as TaskRecord;
  }

  async function removeAll(): Promise<void> {
    log.push('removeAllTasks');
    const removed = (await store.removeAllTasks()).sort();
    const expected = [...model.keys()].sort();
    if (removed.join() !== expected.join()) fail(`removeAllTasks removed [${removed}], not [${expected}]`);
    for (const id of removed) removedByRemoveAll.add(id);
    model.clear();
    reached('remove all');
  }

  async function acquire(): Promise<void> {
    const options: AcquireOptions = {
      owner: owners[int(owners.length)] as string,
      now,
      leaseMs: 1 + int(80),
      limit: 1 + int(8),
    };
    log.push(`acquire ${options.owner} now=${at(now)} lease=${options.leaseMs}ms limit=${options.limit}`);
    const isDue = (task: ModelTask) => task.record.nextRunTime !== null && task.record.nextRunTime <= now;
    // Due and unleased, or due under an expired lease (of either owner, held or not).
    const unleased = new Set([...model.values()].filter((task) => task.lease === null && isDue(task)));
    const expired = new Set(
      [...model.values()].filter((task) => task.lease !== null && task.lease.expiresAt <= now && isDue(task)),
    );
    const acquired = await store.acquireDueTasks(options);
    const summary = () =>
      `acquired [${acquired.map(describeRecord)}]; due unleased [${[...unleased].map((task) => describeRecord(task.record))}], under an expired lease [${[...expired].map((task) => describeRecord(task.record))}]`;

    const acquiredIds = new Set(acquired.map((record) => record.id));
    if (acquiredIds.size !== acquired.length) fail(`the same task acquired twice: ${summary()}`);
    const expectedCount = Math.min(options.limit, unleased.size + expired.size);
    if (acquired.length !== expectedCount)
      fail(`${acquired.length} acquired, not ${expectedCount}: ${summary()}`);
    /** The next run times of the unleased tasks acquired, in the order acquired (all due: none is null). */
    const fromHeap: number[] = [];
    for (const record of acquired) {
      const task = model.get(record.id);
      if (task === undefined || !(unleased.has(task) || expired.has(task))) {
        fail(`acquired ${describeRecord(record)}, which is not due or not free: ${summary()}`);
      }
      sameRecord(record, task.record, 'record acquired');
      if (unleased.has(task)) fromHeap.push(task.record.nextRunTime as number);
    }
    // MemoryStore takes tasks under an expired lease first, in no particular order, so order is checked among the
    // unleased ones only: they come off the heap earliest first (ties in any order), none passed over for a later.
    if (fromHeap.some((time, index) => index > 0 && time < (fromHeap[index - 1] as number))) {
      fail(`unleased tasks acquired out of next-run-time order: ${summary()}`);
    }
    const latest = fromHeap.at(-1) ?? Number.NEGATIVE_INFINITY;
    for (const task of unleased) {
      if (!acquiredIds.has(task.record.id) && (task.record.nextRunTime as number) < latest) {
        fail(`${describeRecord(task.record)} passed over for a later task: ${summary()}`);
      }
    }
    if (acquired.length === options.limit && unleased.size + expired.size > options.limit)
      reached('acquire at limit');
    for (const record of acquired) {
      const task = model.get(record.id) as ModelTask;
      if (expired.has(task)) reached('acquire expired lease');
      task.lease = {
        owner: options.owner,
        expiresAt: now + options.leaseMs,
        runTime: task.record.nextRunTime,
        held: false,
      };
    }
  }

  async function release(): Promise<void> {
    const owner = owners[int(owners.length)] as string;
    const releases: TaskRelease[] = [];
    for (let count = 1 + int(4); count > 0; count--) {
      // Mostly tasks this owner holds; sometimes another owner's, or one not leased, or not there.
      const id = pickId(0.85, (task) => task.lease?.owner === owner);
      const kind = int(10);
      if (kind < 3) releases.push({ id, holdUntil: now + int(120) });
      else if (kind < 5) releases.push({ id, nextRunTime: 'remove' });
      else releases.push({ id, nextRunTime: time() });
    }
    log.push(
      `release ${owner}: ${releases.map((item) => `${describeRelease(item)} [${known(item.id)}]`).join(', ')}`,
    );
    const released = await store.releaseTasks(owner, releases);
    const expected: string[] = [];
    for (const item of releases) {
      const task = model.get(item.id);
      const lease = task?.lease;
      if (task === undefined || lease == null || lease.owner !== owner) continue;
      expected.push(item.id);
      if ('holdUntil' in item) {
        task.lease = { owner, expiresAt: item.holdUntil, runTime: lease.runTime, held: true };
        reached('hold');
        continue;
      }
      task.lease = null;
      if (task.record.nextRunTime !== lease.runTime) {
        reached('release yields to a change');
      } else if (item.nextRunTime === 'remove') {
        model.delete(item.id);
        reached('release remove');
      } else {
        task.record = { ...task.record, nextRunTime: item.nextRunTime };
        reached('release with next run time');
      }
    }
    if (released.join() !== expected.join()) fail(`releaseTasks released [${released}], not [${expected}]`);
  }

  async function compareWakeup(): Promise<void> {
    let expected: number | null = null;
    for (const { record, lease } of model.values()) {
      if (record.nextRunTime === null) continue;
      // A leased task can be acquired again once its lease expired (and it is due).
      const wakeup = lease === null ? record.nextRunTime : Math.max(lease.expiresAt, record.nextRunTime);
      if (expected === null || wakeup < expected) expected = wakeup;
    }
    const wakeup = await store.earliestWakeup('A');
    if (wakeup !== expected) fail(`earliestWakeup is ${at(wakeup)}, not ${at(expected)}`);
  }

  async function compareTasks(): Promise<void> {
    const tasks = await store.getTasks();
    // By next run time, paused last, ties by id (the order `getTasks` promises).
    const expected = [...model.values()].map((task) => task.record).sort(compareTaskRecords);
    const listed = tasks.map(describeRecord).join(' ');
    const modelled = expected.map(describeRecord).join(' ');
    if (listed !== modelled) fail(`getTasks lists\n    ${listed}\n  the model\n    ${modelled}`);
  }

  for (let operation = 0; operation < OPERATIONS; operation++) {
    if (next() < 0.3) now += int(40);
    const roll = int(1000);
    try {
      if (roll < 250) await add();
      else if (roll < 330) await remove();
      else if (roll < 460) await update();
      else if (roll < 465) await removeAll();
      else if (roll < 715) await acquire();
      else await release();
      await compareWakeup();
      if (operation % 5 === 0 || operation === OPERATIONS - 1) await compareTasks();
    } catch (error) {
      if (error instanceof ModelMismatch) throw error;
      fail(`the store threw ${error instanceof Error ? error.stack : String(error)}`);
    }
  }
}

/** Runs `seeds`, then checks that together they reached every situation. */
async function runSeeds(seeds: readonly number[], idCount?: number): Promise<void> {
  const seen = new Map<Situation, number>();
  for (const seed of seeds) await runSeed(seed, seen, idCount);
  expect(SITUATIONS.filter((situation) => !seen.has(situation))).toEqual([]);
}

describe('MemoryStore against a reference model (seeded random operations, two owners)', () => {
  it(`agrees with the model over ${SEEDS.length} seeds of ${OPERATIONS} operations on 5 to 64 ids`, async () => {
    await runSeeds(SEEDS);
  });

  it(`agrees with the model over ${CROWDED_SEEDS.length} seeds of ${OPERATIONS} operations on 3 ids`, async () => {
    await runSeeds(CROWDED_SEEDS, 3);
  });
});
