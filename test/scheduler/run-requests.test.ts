// Run requests (how `kairos run-now` and `kairos replay` reach a running scheduler): written into a shared store
// by another store instance, taken by exactly one scheduler sharing it, run with the request's id as run id.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IntervalTrigger, Scheduler, type SharedTaskStore } from '../../src/index.js';
import { recordingContext, type StoreBacking, selectedStores } from '../stores/harness.js';
import { silentLogger } from '../support/events.js';

/** Resolves once `check` returns true (checked every 20 ms), or rejects after `ms`. */
async function until(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.each(selectedStores().filter((kind) => kind.shared))('$name store: run requests', (kind) => {
  let backing: StoreBacking;
  let client: SharedTaskStore;
  const schedulers: Scheduler[] = [];
  const calls: Array<{ scheduler: string; args: unknown[] }> = [];

  function scheduler(name: string): Scheduler {
    const built = new Scheduler({
      stores: { default: backing.open() },
      functions: { job: (...args: unknown[]) => void calls.push({ scheduler: name, args }) },
      logger: silentLogger,
      schedulerId: name,
    });
    schedulers.push(built);
    return built;
  }

  beforeEach(async () => {
    calls.length = 0;
    backing = await kind.setUp();
    client = backing.open() as SharedTaskStore;
    await client.start(recordingContext('cli').context);
  });
  afterEach(async () => {
    for (const built of schedulers.splice(0)) if (built.running) await built.shutdown();
    await client.close();
    await backing.cleanUp();
  });

  it('one of two running schedulers takes a request and runs the task once, under the request id', async () => {
    const a = scheduler('a');
    const b = scheduler('b');
    await a.start();
    await b.start();
    await a.addTask('job', { id: 'job', trigger: new IntervalTrigger({ hours: 1 }), args: ['own'] });
    await client.requestRun({ requestId: 'req-1', taskId: 'job', requestedAt: Date.now() });
    await until(async () => !(await client.hasRunRequest('req-1')));
    await until(() => calls.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args).toEqual(['own']);
    const runner = calls[0]?.scheduler === 'a' ? a : b;
    await until(async () => (await runner.getRuns({ taskId: 'job' })).length === 1);
    const [run] = await runner.getRuns({ taskId: 'job' });
    expect(run).toMatchObject({ runId: 'req-1', outcome: 'success', schedulerId: calls[0]?.scheduler });
  });

  it('a replay request runs with its args and names the replayed run', async () => {
    const a = scheduler('a');
    await a.start();
    await a.addTask('job', { id: 'job', trigger: new IntervalTrigger({ hours: 1 }), args: ['now'] });
    await client.requestRun({
      requestId: 'req-2',
      taskId: 'job',
      requestedAt: Date.now(),
      args: ['then'],
      replayOf: 'old-run',
    });
    await until(() => calls.length === 1);
    expect(calls[0]?.args).toEqual(['then']);
    await until(async () => (await a.getRuns()).length === 1);
    expect((await a.getRuns())[0]).toMatchObject({ runId: 'req-2', replayOf: 'old-run', args: ['then'] });
  });

  it('a paused scheduler takes no request, and takes it on resume', async () => {
    const a = scheduler('a');
    await a.start({ paused: true });
    await a.addTask('job', { id: 'job', trigger: new IntervalTrigger({ hours: 1 }) });
    await client.requestRun({ requestId: 'req-3', taskId: 'job', requestedAt: Date.now() });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await client.hasRunRequest('req-3')).toBe(true);
    expect(calls).toEqual([]);
    a.resume();
    await until(() => calls.length === 1);
    expect(await client.hasRunRequest('req-3')).toBe(false);
  });

  it('a request for an unknown task is taken and dropped; the scheduler carries on', async () => {
    const a = scheduler('a');
    await a.start();
    await a.addTask('job', { id: 'job', trigger: new IntervalTrigger({ hours: 1 }) });
    await client.requestRun({ requestId: 'req-4', taskId: 'nope', requestedAt: Date.now() });
    await until(async () => !(await client.hasRunRequest('req-4')));
    await client.requestRun({ requestId: 'req-5', taskId: 'job', requestedAt: Date.now() });
    await until(() => calls.length === 1);
    expect(await a.getRuns({ taskId: 'nope' })).toEqual([]);
  });
});
