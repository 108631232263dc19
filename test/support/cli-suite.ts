/**
 * The `kairos` command against one kind of real store (SQLite, File, PostgreSQL) with a real scheduler running on
 * it in a child process (cli-scheduler-child.ts): output, exit codes, and the effect each command has on the
 * running scheduler. Each test/cli/<kind>.test.ts runs this suite for its kind.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunQuery } from '../../src/history.js';
import type { SharedTaskStore, StoreContext } from '../../src/store.js';
import { type Child, killChild, spawnChild } from '../stores/children.js';
import { ensureBuilt, isOneErrorLine, kairos, kairosInProcess } from './cli-run.js';
import type { ChildTask } from './cli-scheduler-child.js';
import { dropSchema, freshSchema, PG_URL, postgresLocation } from './postgres.js';
import { openStore } from './store-open.js';

/** Where a suite's store lives: the child's location argument and the `--store` URL. */
interface Backing {
  kind: 'sqlite' | 'file' | 'postgres';
  location: string;
  url: string;
  cleanUp(): Promise<void>;
}

function makeBacking(kind: Backing['kind']): Backing {
  if (kind === 'postgres') {
    const schema = freshSchema('kcli');
    return {
      kind,
      location: postgresLocation(schema),
      url: `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`,
      cleanUp: () => dropSchema(schema),
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'kairos-cli-'));
  const path = join(dir, kind === 'sqlite' ? 'jobs.db' : 'jobs.json');
  return {
    kind,
    location: path,
    url: `${kind}:${path}`,
    cleanUp: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The tasks the child scheduler declares. */
const TASKS: ChildTask[] = [
  { id: 'ticker', fn: 'tick', trigger: { type: 'interval', seconds: 1 } },
  { id: 'victim', fn: 'tick', trigger: { type: 'interval', seconds: 1 } },
  {
    id: 'yearly',
    fn: 'tick',
    name: 'new-year',
    args: [1, 'two'],
    trigger: { type: 'cron', expression: '0 0 1 1 *', timezone: 'Europe/Berlin' },
  },
  { id: 'boom', fn: 'fail', args: ['it broke'], trigger: { type: 'cron', expression: '0 0 1 1 *' } },
  { id: 'held', fn: 'tick', paused: true, trigger: { type: 'interval', hours: 1 } },
  { id: 'napper', fn: 'nap', args: [1500], trigger: { type: 'cron', expression: '0 0 1 1 *' } },
  {
    id: 'monthly',
    fn: 'tick',
    trigger: { type: 'calendarinterval', months: 1, hour: 9, timezone: 'Europe/Berlin' },
  },
];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs of `taskId` the child printed, started after `after` (epoch ms). */
function runsOf(child: Child, taskId: string, after = 0): Array<Record<string, unknown>> {
  return child.lines.filter(
    (line) => line.event === 'run' && line.taskId === taskId && (line.at as number) > after,
  );
}

/** Opens the suite's store in the test process (for checks the command cannot make on itself). */
async function withTestStore<T>(backing: Backing, work: (store: SharedTaskStore) => Promise<T>): Promise<T> {
  const store = openStore(backing.kind, backing.location);
  const context: StoreContext = {
    logger: pino({ level: 'silent' }),
    alias: 'test',
    reportBrokenRecord: () => {},
  };
  await store.start(context);
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/** Resolves once the store has a run record matching `query` (a scheduler writes it when the run ended). */
async function waitForRecord(backing: Backing, query: RunQuery, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  await withTestStore(backing, async (store) => {
    while ((await store.getRuns(query)).length === 0) {
      if (Date.now() > deadline)
        throw new Error(`no run record matching ${JSON.stringify(query)} within ${timeoutMs} ms`);
      await sleep(100);
    }
  });
}

/** Registers the suite for one kind of store. */
export function describeStoreCommands(kind: Backing['kind'], skip = false): void {
  describe.skipIf(skip)(`kairos on a ${kind} store with a scheduler running on it`, () => {
    let backing: Backing;
    let child: Child;
    const cli = (...args: string[]) => kairos([...args, '--store', backing.url]);

    beforeAll(async () => {
      await ensureBuilt();
      backing = makeBacking(kind);
      child = spawnChild('cli-scheduler-child.ts', [kind, backing.location, JSON.stringify(TASKS)]);
      await child.waitFor((line) => line.event === 'started', 20_000);
    }, 60_000);

    afterAll(async () => {
      if (child !== undefined) killChild(child);
      await backing?.cleanUp();
    });

    it('tasks: every task with its trigger in words, next run in its zone and UTC, paused, last outcome', async () => {
      // Once the ticker has a run on record, the listing shows it as the last run.
      await child.waitFor((line) => line.event === 'run' && line.taskId === 'ticker');
      await waitForRecord(backing, { taskId: 'ticker', limit: 1 });
      const [text, json] = await Promise.all([cli('tasks'), cli('tasks', '--json')]);
      expect(text.code).toBe(0);
      expect(text.stderr).toBe('');
      const lines = text.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^ID \/ NAME\s+TRIGGER\s+NEXT RUN\s+PAUSED\s+LAST$/);
      // The name under the id when they differ.
      expect(text.stdout).toMatch(/^yearly\s.*\nnew-year\s/m);
      for (const line of lines) expect(line.length).toBeLessThanOrEqual(80);
      expect(text.stdout).not.toContain('\u001b[');
      expect(text.stdout).toMatch(/^ticker\s+every 1 second\s.*\sno\s+success$/m);
      expect(text.stdout).toMatch(/cron 0 0 1 1 \*\s/);
      expect(text.stdout).toContain('(Europe/Berlin)');
      // yearly: 1 January 00:00 in Berlin, shown in its zone and in UTC.
      expect(text.stdout).toMatch(/-01-01 00:00(:00)? \+01:00/);
      expect(text.stdout).toMatch(/-12-31 23:00(:00)? UTC/);

      expect(json.code).toBe(0);
      const tasks = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
      expect(tasks.map((task) => task.id).sort()).toEqual(TASKS.map((task) => task.id).sort());
      const byId = new Map(tasks.map((task) => [task.id, task]));
      const yearly = byId.get('yearly') as Record<string, unknown>;
      expect(yearly).toMatchObject({
        name: 'new-year',
        function: 'tick',
        triggerText: 'cron 0 0 1 1 * (Europe/Berlin)',
        zone: 'Europe/Berlin',
        paused: false,
      });
      expect(yearly.nextRunTime).toMatch(/^\d{4}-12-31T23:00:00\.000Z$/);
      expect(yearly.nextRunTimeLocal).toMatch(/^\d{4}-01-01T00:00:00\.000\+01:00$/);
      expect(byId.get('monthly')?.triggerText).toMatch(
        /^every 1 month at 09:00:00 \(Europe\/Berlin\) from \d{4}-\d{2}-\d{2}$/,
      );
      expect(byId.get('held')).toMatchObject({
        paused: true,
        nextRunTime: null,
        triggerText: 'every 1 hour',
      });
      expect(byId.get('ticker')?.lastRun).toMatchObject({
        outcome: 'success',
        durationMs: expect.any(Number),
      });
    });

    it('show: every field of one task and its last runs', async () => {
      const [text, jsonText] = await Promise.all([cli('show', 'yearly'), cli('show', 'yearly', '--json')]);
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/^id:\s+yearly$/m);
      expect(text.stdout).toMatch(/^name:\s+new-year$/m);
      expect(text.stdout).toMatch(/^function:\s+tick$/m);
      expect(text.stdout).toMatch(/^trigger:\s+cron 0 0 1 1 \* \(Europe\/Berlin\)$/m);
      expect(text.stdout).toMatch(/^args:\s+\[1,"two"\]$/m);
      expect(text.stdout).toMatch(/^max instances:\s+1$/m);
      const json = JSON.parse(jsonText.stdout) as Record<string, unknown>;
      expect(json).toMatchObject({
        id: 'yearly',
        args: [1, 'two'],
        coalesce: true,
        maxInstances: 1,
        runs: [],
      });
    });

    it('pause and remove take effect in the running scheduler within a second; resume brings the task back', async () => {
      await child.waitFor((line) => line.event === 'run' && line.taskId === 'ticker');
      await child.waitFor((line) => line.event === 'run' && line.taskId === 'victim');
      const [paused, removed] = await Promise.all([cli('pause', 'ticker'), cli('remove', 'victim')]);
      const changedAt = Date.now();
      expect(paused).toMatchObject({ code: 0, stdout: 'paused task ticker\n', stderr: '' });
      expect(removed).toMatchObject({ code: 0, stdout: 'removed task victim\n', stderr: '' });
      const [listed, again] = await Promise.all([
        cli('tasks', '--json'),
        cli('pause', 'ticker'),
        sleep(2200),
      ]);
      expect(runsOf(child, 'ticker', changedAt + 1000)).toEqual([]);
      expect(runsOf(child, 'victim', changedAt + 1000)).toEqual([]);
      const tasks = JSON.parse(listed.stdout) as Array<Record<string, unknown>>;
      expect(tasks.find((task) => task.id === 'victim')).toBeUndefined();
      expect(tasks.find((task) => task.id === 'ticker')).toMatchObject({ paused: true, nextRunTime: null });
      expect(again).toMatchObject({ code: 0, stdout: 'task ticker was already paused\n' });

      const resumed = await cli('resume', 'ticker');
      const resumedAt = Date.now();
      expect(resumed.code).toBe(0);
      expect(resumed.stdout).toMatch(/^resumed task ticker; next run \S+ \S+ \S+ \(\S+ \S+ UTC\)\n$/);
      await child.waitFor(
        (line) => line.event === 'run' && line.taskId === 'ticker' && (line.at as number) > resumedAt,
        3000,
      );
    });

    let runNowId = '';

    it('run-now: a running scheduler runs the task once, now, and its run id is the one printed', async () => {
      const before = Date.now();
      const result = await cli('run-now', 'yearly');
      expect(result.code).toBe(0);
      expect(result.stderr).toBe('');
      const match = /^run (\S+) of task yearly started by a scheduler\n$/.exec(result.stdout);
      expect(match).not.toBeNull();
      runNowId = match?.[1] as string;
      const run = await child.waitFor(
        (line) => line.event === 'run' && line.taskId === 'yearly' && (line.at as number) >= before,
        3000,
      );
      expect(run.args).toEqual([1, 'two']);
      await waitForRecord(backing, { runId: runNowId, limit: 1 });
      expect(JSON.parse((await cli('runs', 'yearly', '--json')).stdout)).toEqual([
        expect.objectContaining({ runId: runNowId, taskId: 'yearly', outcome: 'success', args: [1, 'two'] }),
      ]);
      expect(runsOf(child, 'yearly')).toHaveLength(1);
    });

    it('run-now --wait reports a failed run and exits 1; runs --failed lists it with its error', async () => {
      const result = await cli('run-now', 'boom', '--wait');
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/^run \S+ of task boom started by a scheduler; waiting for it to end\n/);
      expect(result.stdout).toMatch(/\nrun \S+ of task boom ended: error in \S+: Error: it broke\n$/);
      const [failedJson, text] = await Promise.all([
        cli('runs', '--failed', '--json'),
        cli('runs', '--failed'),
      ]);
      const failed = JSON.parse(failedJson.stdout) as Array<Record<string, unknown>>;
      expect(failed.length).toBeGreaterThan(0);
      for (const run of failed) expect(['error', 'timeout', 'aborted']).toContain(run.outcome);
      expect(failed[0]).toMatchObject({ taskId: 'boom', error: { name: 'Error', message: 'it broke' } });
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/^SCHEDULED\s+TASK\s+STARTED\s+TOOK\s+OUTCOME\s+TRIES$/m);
      expect(text.stdout).toMatch(/\bboom\s+\+\S+\s+\S+\s+error\s+1$/m);
      expect(text.stdout).toContain('Error: it broke');
      expect(text.stdout).not.toMatch(/\bsuccess\b/);
      for (const line of text.stdout.trimEnd().split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    });

    it('run-now --wait --wait-timeout gives up on a run that has not ended: exit 1, saying so', async () => {
      const result = await cli('run-now', 'napper', '--wait', '--wait-timeout', '300ms');
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(
        /^run \S+ of task napper started by a scheduler; waiting for it to end\n$/,
      );
      expect(result.stderr).toMatch(
        /^kairos: run \S+ of task napper has not ended after 300ms \(it may still be running\)\n$/,
      );
      await child.waitFor((line) => line.event === 'run' && line.taskId === 'napper');
    });

    it('replay: a running scheduler runs the task again with the args of the recorded run', async () => {
      expect(runNowId).not.toBe('');
      // The task's args change since; the replay runs with the recorded ones.
      await withTestStore(backing, (store) =>
        store.updateTask('yearly', (record) => ({ ...record, args: [9] })),
      );
      const before = Date.now();
      const result = await cli('replay', runNowId, '--json');
      expect(result.code).toBe(0);
      const answer = JSON.parse(result.stdout) as Record<string, unknown>;
      expect(answer).toMatchObject({ taskId: 'yearly', replayOf: runNowId, started: true });
      const run = await child.waitFor(
        (line) => line.event === 'run' && line.taskId === 'yearly' && (line.at as number) >= before,
        3000,
      );
      expect(run.args).toEqual([1, 'two']);
      await waitForRecord(backing, { runId: answer.runId as string, limit: 1 });
      expect(JSON.parse((await cli('runs', 'yearly', '-n', '1', '--json')).stdout)).toEqual([
        expect.objectContaining({ runId: answer.runId, replayOf: runNowId, args: [1, 'two'] }),
      ]);
    });

    it('an unknown id is bad input: exit 2, one line on stderr, nothing changed', async () => {
      // Every command on SQLite; on the other stores, one of each way an id is looked up (task, run, history).
      const cases =
        kind === 'sqlite'
          ? [
              ['show', 'nosuch'],
              ['pause', 'nosuch'],
              ['resume', 'nosuch'],
              ['remove', 'nosuch'],
              ['run-now', 'nosuch'],
              ['replay', 'nosuch'],
              ['runs', 'nosuch'],
            ]
          : [
              ['pause', 'nosuch'],
              ['replay', 'nosuch'],
              ['runs', 'nosuch'],
            ];
      // The first two through the built command, the rest through the same code in this process.
      const results = await Promise.all(
        cases.map((args, index) =>
          index < 2 ? cli(...args) : kairosInProcess([...args, '--store', backing.url]),
        ),
      );
      results.forEach((result, index) => {
        const what = (cases[index] as string[]).join(' ');
        expect(result.code, what).toBe(2);
        expect(result.stdout, what).toBe('');
        expect(isOneErrorLine(result.stderr), result.stderr).toBe(true);
        expect(result.stderr, what).toContain("'nosuch'");
      });
      const ids = await withTestStore(backing, async (store) =>
        (await store.getTasks()).map((task) => task.id),
      );
      expect(ids.sort()).toEqual(
        TASKS.map((task) => task.id)
          .filter((id) => id !== 'victim')
          .sort(),
      );
      expect(await withTestStore(backing, (store) => store.takeRunRequests(Date.now()))).toEqual([]);
    });

    it('with no scheduler running, run-now and replay say so, exit 1 and change nothing', async () => {
      child.process.kill('SIGTERM');
      await child.waitFor((line) => line.event === 'stopped', 10_000);
      const allRuns = () => withTestStore(backing, (store) => store.getRuns({ limit: 1000 }));
      const runsBefore = await allRuns();
      const cases = [
        ['run-now', 'yearly', '--timeout', '1s'],
        ['replay', runNowId, '--timeout', '1s'],
      ];
      const started = Date.now();
      const results = await Promise.all(cases.map((args) => cli(...args)));
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      results.forEach((result, index) => {
        const what = (cases[index] as string[]).join(' ');
        expect(result.code, what).toBe(1);
        expect(result.stdout, what).toBe('');
        expect(result.stderr, what).toBe('kairos: no scheduler is running on this store; nothing was run\n');
      });
      // No request is left behind for a scheduler that starts later.
      const left = await withTestStore(backing, (store) => store.takeRunRequests(Date.now()));
      expect(left).toEqual([]);
      expect(await allRuns()).toEqual(runsBefore);
    });
  });
}
