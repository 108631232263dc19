// Bad input to the `kairos` command: exit code 2, exactly one line on stderr (`kairos: …`), no stack trace, nothing
// on stdout, and never a store created by mistake (no file, no directory, no lock, no schema). A server that cannot
// be reached is exit 1, also one line.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SQLiteStore } from '../../stores/sqlite.js';
import { type CliResult, ensureBuilt, isOneErrorLine, kairos, kairosInProcess } from '../support/cli-run.js';
import { dropSchema, freshSchema, PG_URL, withClient } from '../support/postgres.js';

let dir: string;
/** A real, empty kairos SQLite store. */
let store: string;

beforeAll(async () => {
  await ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'kairos-cli-input-'));
  store = join(dir, 'real.db');
  const sqlite = new SQLiteStore({ path: store });
  await sqlite.start({ logger: pino({ level: 'silent' }), alias: 'test', reportBrokenRecord: () => {} });
  await sqlite.close();
}, 180_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Every file under `dir`, with its size and modification time. */
function snapshot(): Record<string, string> {
  const files: Record<string, string> = {};
  const visit = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) {
        files[`${path}/`] = 'dir';
        visit(path);
      } else {
        const stats = statSync(path);
        files[path] = `${stats.size}@${stats.mtimeMs}`;
      }
    }
  };
  visit(dir);
  return files;
}

function expectBadInput(result: CliResult, what: string, message?: RegExp): void {
  expect(result.code, `${what}: ${result.stderr}`).toBe(2);
  expect(result.stdout, what).toBe('');
  expect(isOneErrorLine(result.stderr), `${what}: ${result.stderr}`).toBe(true);
  if (message !== undefined) expect(result.stderr.trimEnd(), what).toMatch(message);
}

/** Runs every case at once (as child processes, or in this process); each must be bad input matching its message. */
async function expectAllBadInput(
  cases: Array<[string[], RegExp] | [string[], RegExp, NodeJS.ProcessEnv]>,
  inProcess = false,
): Promise<void> {
  const results = await Promise.all(
    cases.map(([args, , env]) =>
      inProcess
        ? kairosInProcess(args, { ...env })
        : kairos(args, { env: { KAIROS_STORE: undefined, ...env } }),
    ),
  );
  results.forEach((result, index) => {
    const [args, message] = cases[index] as [string[], RegExp];
    expectBadInput(result, args.join(' '), message);
  });
}

describe('kairos with bad input', () => {
  it('unknown commands and options, missing arguments: exit 2, one line', async () => {
    await expectAllBadInput([
      [[], /^kairos: no command given; run 'kairos --help'/],
      [['bogus'], /^kairos: unknown command 'bogus'/],
      [['help', 'bogus'], /^kairos: unknown command 'bogus'; run 'kairos --help'/],
      [['tasks', '--bogus', '--store', `sqlite:${store}`], /^kairos: unknown option '--bogus'/],
      [['show', '--store', `sqlite:${store}`], /^kairos: missing required argument 'id'/],
      [['tasks', 'extra', '--store', `sqlite:${store}`], /^kairos: too many arguments/],
      [['tasks', '--store'], /^kairos: option '--store <url>' argument missing/],
    ]);
  });

  it('a bad --store, or none: exit 2, naming the forms it takes', async () => {
    await expectAllBadInput([
      [
        ['tasks'],
        /^kairos: no store given: pass --store sqlite:PATH, file:PATH or postgres:.* or set KAIROS_STORE$/,
      ],
      [
        ['tasks', '--store', 'mysql://localhost/jobs'],
        /^kairos: --store mysql:\/\/localhost\/jobs: unknown store scheme 'mysql:'/,
      ],
      [
        ['tasks', '--store', 'jobs.db'],
        /^kairos: --store jobs\.db: no scheme; expected .* \(e\.g\. sqlite:jobs\.db\)$/,
      ],
      [['tasks', '--store', 'sqlite:'], /no path after 'sqlite:'/],
      [
        ['tasks', '--store', 'postgres://u:secret@localhost/db?schema=Bad'],
        /schema must be a lower-case SQL identifier/,
      ],
      [
        ['tasks', '--store', 'postgres://u:secret@localhost/db?schema=Bad'],
        /postgres:\/\/u:\*\*\*@localhost/,
      ],
    ]);
  });

  it('a store file that does not exist: exit 2, and no file, directory or lock is created', async () => {
    const before = snapshot();
    const missingDb = join(dir, 'missing.db');
    const missingJson = join(dir, 'missing.json');
    const missingDir = join(dir, 'nodir', 'jobs.db');
    await expectAllBadInput([
      [['tasks', '--store', `sqlite:${missingDb}`], new RegExp(`^kairos: no such store file: ${missingDb}$`)],
      [
        ['tasks', '--store', `file:${missingJson}`],
        new RegExp(`^kairos: no such store file: ${missingJson}$`),
      ],
      [['pause', 'x', '--store', `sqlite:${missingDir}`], /^kairos: no such store file: /],
      [['run-now', 'x', '--store', `file:${missingJson}`], /^kairos: no such store file: /],
      [['tasks'], /^kairos: no such store file: /, { KAIROS_STORE: `sqlite:${missingDb}` }],
    ]);
    expect(snapshot()).toEqual(before);
  });

  it('a file that is not a kairos store: exit 2, and the file is left exactly as it was', async () => {
    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'not a database\n');
    const empty = join(dir, 'empty.db');
    writeFileSync(empty, '');
    const foreign = join(dir, 'foreign.db');
    const db = new Database(foreign);
    db.exec('CREATE TABLE things (id INTEGER PRIMARY KEY)');
    db.close();
    const otherJson = join(dir, 'other.json');
    writeFileSync(otherJson, '{"tasks": []}\n');
    const folder = join(dir, 'folder');
    mkdirSync(folder);
    const before = snapshot();
    await expectAllBadInput([
      [['tasks', '--store', `sqlite:${text}`], /is not a kairos SQLite store \(not an SQLite database\)$/],
      [['tasks', '--store', `sqlite:${empty}`], /is not a kairos SQLite store \(no kairos tables in it\)$/],
      [['tasks', '--store', `sqlite:${foreign}`], /is not a kairos SQLite store \(no kairos tables in it\)$/],
      [['tasks', '--store', `file:${text}`], /is not a kairos file store \(not JSON\)$/],
      [
        ['tasks', '--store', `file:${otherJson}`],
        /is not a kairos file store \(it has no "format": "kairos-file-store"\)$/,
      ],
      [['tasks', '--store', `file:${store}`], /is not a kairos file store/],
      [['tasks', '--store', `sqlite:${folder}`], /^kairos: not a store file: .* is a directory/],
    ]);
    expect(snapshot()).toEqual(before);
    expect(readFileSync(empty, 'utf8')).toBe('');
  });

  it('bad expressions, zones, dates, durations and counts: exit 2, naming the bad part', async () => {
    const real = ['--store', `sqlite:${store}`];
    // A few through the built command...
    await expectAllBadInput([
      [['next', 'bad'], /^kairos: CronTrigger: expression "bad" has 1 fields; expected 5/],
      [['next', '* * * * *', '--tz', 'Mars/Base'], /^kairos: --tz: unknown timezone "Mars\/Base"/],
      [['run-now', 'x', '--timeout', 'forever', ...real], /^kairos: --timeout: 'forever' is not a duration/],
    ]);
    // ...and the rest through the same code in this process.
    await expectAllBadInput(
      [
        [['next', '61 * * * *'], /^kairos: CronTrigger: bad minute field "61"/],
        [
          ['next', '* * * * *', '--start', 'yesterday'],
          /^kairos: --start: "yesterday" is not an ISO 8601 date-time$/,
        ],
        [['next', '* * * * *', '-n', '0'], /^kairos: -n: expected a whole number from 1 to 1000, got '0'$/],
        [['next', '* * * * *', '-n', '1001'], /got '1001'$/],
        [['next', '* * * * *', '-n', 'five'], /got 'five'$/],
        [['next', '--every', '0m'], /^kairos: --every: '0m' is empty/],
        [['next', '--every', 'soon'], /^kairos: --every: 'soon' is not a duration \(expected 90m, 1h30m/],
        [['next', '--every', '90'], /'90' is not a duration/],
        [['next', '* * * * *', '--every', '5m'], /either a cron expression or --every, not both/],
        [['next'], /give a cron expression .* or --every DURATION/],
        [['tasks', '--tz', 'Nowhere/Land', ...real], /--tz: unknown timezone "Nowhere\/Land"/],
        [['runs', '-n', '0', ...real], /^kairos: -n: expected a whole number from 1 to 10000, got '0'$/],
        [['replay', 'x', '--timeout', '5', ...real], /^kairos: --timeout: '5' is not a duration/],
        [
          ['run-now', 'x', '--wait', '--wait-timeout', 'soon', ...real],
          /^kairos: --wait-timeout: 'soon' is not/,
        ],
        [
          ['run-now', 'x', '--wait-timeout', '1m', ...real],
          /^kairos: --wait-timeout is for --wait; give both$/,
        ],
      ],
      true,
    );
  });

  it('help and version are not failures: exit 0, on stdout', async () => {
    const [version, help, helpOf] = await Promise.all([
      kairos(['--version']),
      kairosInProcess(['--help']),
      kairosInProcess(['help', 'runs']),
    ]);
    expect(version).toEqual({
      code: 0,
      stdout: `${JSON.parse(readFileSync('package.json', 'utf8')).version}\n`,
      stderr: '',
    });
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^Usage: kairos <command> \[options\]/);
    for (const line of help.stdout.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    expect(helpOf).toMatchObject({ code: 0, stderr: '' });
    expect(helpOf.stdout).toMatch(/^Usage: kairos runs \[options\] \[id\]/);
  });

  it('a task record that cannot be read is reported, left out of listings and untouched; never a crash', async () => {
    const path = join(dir, 'broken.db');
    const sqlite = new SQLiteStore({ path });
    await sqlite.start({ logger: pino({ level: 'silent' }), alias: 'test', reportBrokenRecord: () => {} });
    await sqlite.close();
    const db = new Database(path);
    db.prepare(
      "INSERT INTO kairos_tasks (id, next_run_time, data) VALUES ('broken', NULL, '{not json')",
    ).run();
    db.close();
    const store = ['--store', `sqlite:${path}`];
    const [tasks, show, pause] = await Promise.all([
      kairos(['tasks', ...store]),
      kairos(['show', 'broken', ...store]),
      kairos(['pause', 'broken', ...store]),
    ]);
    expect(tasks).toMatchObject({ code: 0, stdout: `no tasks in sqlite:${path}\n` });
    expect(tasks.stderr).toMatch(
      /^kairos: warning: left out task 'broken', which cannot be read: .*not valid JSON.*\n$/,
    );
    for (const result of [show, pause]) {
      expect(result.code).toBe(1);
      expect(isOneErrorLine(result.stderr)).toBe(true);
      expect(result.stderr).toMatch(/^kairos: cannot read task 'broken' in the store: .*not valid JSON/);
    }
    const check = new Database(path, { readonly: true });
    expect(check.prepare("SELECT data FROM kairos_tasks WHERE id = 'broken'").get()).toEqual({
      data: '{not json',
    });
    check.close();
  });

  it('KAIROS_STORE is the default store', async () => {
    const result = await kairos(['tasks'], { env: { KAIROS_STORE: `sqlite:${store}` } });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toBe(`no tasks in sqlite:${store}\n`);
  });
});

describe.skipIf(inject('postgresUnreachable') !== null)('kairos with a bad PostgreSQL store', () => {
  const withSchema = (schema: string) => `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`;

  it('a schema without a kairos store, or a database that does not exist: exit 2, nothing created', async () => {
    const schema = freshSchema('kclimissing');
    const noDatabase = new URL(PG_URL);
    noDatabase.pathname = '/kairos_no_such_database';
    await expectAllBadInput([
      [
        ['tasks', '--store', withSchema(schema)],
        new RegExp(`^kairos: no kairos store in schema '${schema}' of `),
      ],
      [['pause', 'x', '--store', withSchema(schema)], /no kairos store in schema/],
      [['tasks', '--store', noDatabase.toString()], /database "kairos_no_such_database" does not exist/],
    ]);
    const { rows } = await withClient((client) =>
      client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]),
    );
    // Dropped even when the check fails (a command that created it would have left it behind).
    if (rows.length > 0) await dropSchema(schema);
    expect(rows).toEqual([]);
  });

  it('a server that cannot be reached: exit 1, one line', async () => {
    const result = await kairos(['tasks', '--store', 'postgres://postgres@127.0.0.1:1/test']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(isOneErrorLine(result.stderr)).toBe(true);
    expect(result.stderr).toMatch(
      /^kairos: cannot connect to postgres:\/\/postgres@127\.0\.0\.1:1\/test: .*ECONNREFUSED/,
    );
  });
});
