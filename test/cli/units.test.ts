// The parts of the `kairos` command, in process: durations, --store parsing, triggers in words, tables that fit
// their width, colour only on a terminal without NO_COLOR, and the DST marks.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { colourWanted, palette, stripAnsi } from '../../src/cli/colour.js';
import { dstMark } from '../../src/cli/dst.js';
import { formatDuration, intervalLength, parseDurationArg } from '../../src/cli/durations.js';
import { CliError } from '../../src/cli/errors.js';
import { runCli } from '../../src/cli/program.js';
import { parseStoreLocation, redact } from '../../src/cli/store-url.js';
import { cut, renderTable } from '../../src/cli/table.js';
import { triggerInWords } from '../../src/cli/trigger-words.js';
import type { TriggerSpec } from '../../src/triggers/trigger.js';

describe('durations', () => {
  it('reads the short forms and ISO 8601, into ms', () => {
    expect(parseDurationArg('90m', 'd')).toBe(5_400_000);
    expect(parseDurationArg('1h30m', 'd')).toBe(5_400_000);
    expect(parseDurationArg('PT90M', 'd')).toBe(5_400_000);
    expect(parseDurationArg('pt1h30m', 'd')).toBe(5_400_000);
    expect(parseDurationArg('45s', 'd')).toBe(45_000);
    expect(parseDurationArg('2d', 'd')).toBe(172_800_000);
    expect(parseDurationArg('1w', 'd')).toBe(604_800_000);
    expect(parseDurationArg('500ms', 'd')).toBe(500);
    expect(parseDurationArg('1.5h', 'd')).toBe(5_400_000);
    expect(parseDurationArg('0s', 'd', true)).toBe(0);
  });

  it('refuses anything else as bad input naming the option', () => {
    for (const bad of ['', '90', 'm', '1x', '-5m', '5 m', 'P', 'PTXM', 'soon']) {
      expect(() => parseDurationArg(bad, '--every')).toThrow(CliError);
      try {
        parseDurationArg(bad, '--every');
      } catch (error) {
        expect((error as CliError).exitCode).toBe(2);
        expect((error as CliError).message).toMatch(/^--every: /);
      }
    }
    expect(() => parseDurationArg('0m', '--every')).toThrow(/is empty/);
  });

  it('writes durations for people, and intervals in their largest units', () => {
    expect([0, 850, 1000, 1234, 42_000, 185_000, 7_620_000, 273_600_000].map(formatDuration)).toEqual([
      '0ms',
      '850ms',
      '1s',
      '1.2s',
      '42s',
      '3m05s',
      '2h07m',
      '3d04h',
    ]);
    expect(intervalLength(5_400_000)).toEqual({ hours: 1, minutes: 30 });
    expect(intervalLength(90_061_001)).toEqual({
      days: 1,
      hours: 1,
      minutes: 1,
      seconds: 1,
      milliseconds: 1,
    });
  });
});

describe('--store', () => {
  it('reads sqlite:, file: and postgres URLs, the schema taken out of the URL', () => {
    expect(parseStoreLocation('sqlite:/data/jobs.db')).toEqual({
      kind: 'sqlite',
      path: '/data/jobs.db',
      label: 'sqlite:/data/jobs.db',
    });
    expect(parseStoreLocation('file:./jobs.json')).toMatchObject({ kind: 'file', label: 'file:./jobs.json' });
    expect(
      parseStoreLocation('file:./jobs.json').kind === 'file' && parseStoreLocation('file:./jobs.json'),
    ).toMatchObject({
      path: `${process.cwd()}/jobs.json`,
    });
    expect(parseStoreLocation('postgres://app:pw@db:5432/prod?schema=jobs&sslmode=require')).toEqual({
      kind: 'postgres',
      connectionString: 'postgres://app:pw@db:5432/prod?sslmode=require',
      schema: 'jobs',
      label: 'postgres://app:***@db:5432/prod?sslmode=require (schema jobs)',
    });
    expect(parseStoreLocation('postgresql://db/prod')).toMatchObject({ kind: 'postgres', schema: 'kairos' });
  });

  it('falls back to KAIROS_STORE, and refuses what it cannot read as bad input', () => {
    expect(parseStoreLocation(undefined, { KAIROS_STORE: 'sqlite:/x.db' })).toMatchObject({ path: '/x.db' });
    expect(parseStoreLocation('file:/y.json', { KAIROS_STORE: 'sqlite:/x.db' })).toMatchObject({
      kind: 'file',
    });
    for (const bad of [
      undefined,
      '',
      'jobs.db',
      'mysql://x/y',
      'sqlite:',
      'postgres://x/y?schema=Bad',
      'postgres://x/y?schema=a&schema=b',
    ]) {
      expect(() => parseStoreLocation(bad, {})).toThrow(CliError);
    }
  });

  it('never shows a password', () => {
    expect(redact('postgres://app:s3cret@db/prod')).toBe('postgres://app:***@db/prod');
    expect(redact('postgres://app@db/prod')).toBe('postgres://app@db/prod');
    expect(() => parseStoreLocation('mysql://app:s3cret@db/prod')).toThrow(/mysql:\/\/app:\*\*\*@db\/prod/);
  });
});

describe('triggers in words', () => {
  const cases: Array<[TriggerSpec | Record<string, unknown>, string]> = [
    [{ type: 'interval', minutes: 5, startAt: '2026-01-01T00:00:00.000Z' }, 'every 5 minutes'],
    [
      { type: 'interval', hours: 1, minutes: 30, startAt: '2026-01-01T00:00:00.000Z' },
      'every 1 hour 30 minutes',
    ],
    [
      {
        type: 'interval',
        seconds: 1,
        endAt: '2026-06-01T10:00:00.000Z',
        timezone: 'Europe/Berlin',
        jitter: 500,
      },
      'every 1 second until 2026-06-01 12:00 Europe/Berlin (jitter 500 ms)',
    ],
    [
      { type: 'cron', expression: '0 9 * * 1-5', timezone: 'America/New_York' },
      'cron 0 9 * * 1-5 (America/New_York)',
    ],
    [{ type: 'cron', expression: '*/5 * * * *' }, 'cron */5 * * * *'],
    [
      { type: 'date', runAt: '2026-12-08T08:00:00.000Z', timezone: 'Europe/Berlin' },
      'once at 2026-12-08 09:00 Europe/Berlin',
    ],
    [{ type: 'date', runAt: '2026-12-08T08:00:30.000Z' }, 'once at 2026-12-08 08:00:30 UTC'],
    [
      { type: 'calendarinterval', months: 1, hour: 9, minute: 0, second: 0, timezone: 'Europe/Berlin' },
      'every 1 month at 09:00:00 (Europe/Berlin)',
    ],
    [
      { type: 'calendarinterval', years: 1, weeks: 2, startAt: '2026-01-05', endAt: '2030-01-05' },
      'every 1 year 2 weeks at 00:00:00 from 2026-01-05 until 2030-01-05',
    ],
    [
      {
        type: 'or',
        triggers: [
          { type: 'cron', expression: '0 9 * * 1-5' },
          {
            type: 'and',
            triggers: [
              { type: 'cron', expression: '0 12 * * *' },
              { type: 'interval', days: 2 },
            ],
          },
        ],
      },
      'any of: cron 0 9 * * 1-5; [all of: cron 0 12 * * *; every 2 days]',
    ],
    [{ type: 'shutdown' }, 'at shutdown'],
    [{ type: 'after', tasks: ['extract', 'load'], outcome: 'any' }, 'after any end of extract, load'],
    [{ type: 'after', tasks: 'extract' }, 'after success of extract'],
    [{ type: 'lunar', phase: 'full' }, '{"type":"lunar","phase":"full"}'],
  ];
  it.each(cases)('%j is %s', (spec, words) => {
    expect(triggerInWords(spec as TriggerSpec)).toBe(words);
  });
});

describe('tables', () => {
  const columns = [{ header: 'ID', min: 4, maxLines: 2 }, { header: 'WHEN' }, { header: 'NOTE', min: 6 }];
  const rows = [
    { cells: ['a-rather-long-task-identifier', '2026-03-08 03:30 -04:00', 'x'.repeat(100)] },
    { cells: ['b', '2026-03-09 02:30 -04:00', { text: 'short', paint: palette(true).red }] },
  ];

  it('fit their width: long cells are wrapped or cut with …, fixed columns keep theirs', () => {
    const lines = renderTable(columns, rows, { width: 60 });
    for (const line of lines) expect(stripAnsi(line).length).toBeLessThanOrEqual(60);
    expect(lines[1]).toContain('2026-03-08 03:30 -04:00');
    expect(lines[1]).toMatch(/x…$/);
    expect(stripAnsi(lines.join('\n'))).toContain('short');
    expect(lines.join('\n')).toContain('\u001b[31mshort\u001b[39m');
    expect(cut('abcdef', 4)).toBe('abc…');
    expect(cut('abc', 4)).toBe('abc');
  });

  it('show every line of a cell, and the detail lines of a row cut to the width', () => {
    const lines = renderTable(
      [{ header: 'A' }, { header: 'B' }],
      [
        {
          cells: ['one\ntwo', 'x'],
          details: [{ text: `run 1 ${'y'.repeat(100)}` }, { text: 'Error:\nboom' }],
        },
      ],
      { width: 40 },
    );
    expect(lines).toEqual(['A    B', 'one  x', 'two', `  run 1 ${'y'.repeat(31)}…`, '  Error: boom']);
  });
});

describe('colour', () => {
  it('only on a terminal, and never with NO_COLOR (even empty)', () => {
    expect(colourWanted({ isTTY: true }, {})).toBe(true);
    expect(colourWanted({ isTTY: false }, {})).toBe(false);
    expect(colourWanted({}, {})).toBe(false);
    expect(colourWanted({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(colourWanted({ isTTY: true }, { NO_COLOR: '' })).toBe(false);
    expect(palette(false).red('x')).toBe('x');
    expect(palette(true).red('x')).toBe('\u001b[31mx\u001b[39m');
  });

  /** Runs the command line in process with a stdout that claims to be a terminal of `columns`. */
  async function onTerminal(args: string[], env: NodeJS.ProcessEnv, columns = 100) {
    let out = '';
    let err = '';
    const stream = (write: (text: string) => void, tty: boolean) => {
      const writable = new Writable({
        write(chunk, _encoding, done) {
          write(String(chunk));
          done();
        },
      }) as unknown as NodeJS.WriteStream;
      Object.assign(writable, { isTTY: tty, columns });
      return writable;
    };
    const code = await runCli(args, {
      stdout: stream((text) => (out += text), true),
      stderr: stream((text) => (err += text), false),
      env,
    });
    return { code, out, err };
  }

  it('the command colours a terminal, at its width, but not with NO_COLOR or --json', async () => {
    const args = ['next', '30 2 * * *', '--tz', 'America/New_York', '--start', '2026-03-06', '-n', '3'];
    const coloured = await onTerminal(args, {});
    expect(coloured.code).toBe(0);
    expect(coloured.out).toContain('\u001b[');
    const plain = await onTerminal(args, { NO_COLOR: '1' });
    expect(plain.out).not.toContain('\u001b[');
    expect(stripAnsi(coloured.out)).toBe(plain.out);
    const json = await onTerminal([...args, '--json'], {});
    expect(json.out).not.toContain('\u001b[');
    expect(JSON.parse(json.out)).toHaveLength(3);
    const bad = await onTerminal(['next', 'nonsense'], {});
    expect(bad).toMatchObject({ code: 2, out: '' });
    expect(bad.err).toMatch(/^kairos: CronTrigger: .*\n$/);
  });
});

describe('DST marks', () => {
  const zone = 'America/New_York';
  const wallAt = (hour: number, minute: number) => (wall: number) =>
    new Date(wall).getUTCHours() === hour && new Date(wall).getUTCMinutes() === minute;

  it('a wall time skipped by the gap is marked as moved, only when the trigger asked for it', () => {
    const shifted = Date.parse('2026-03-08T07:30:00Z'); // 03:30 EDT, for the skipped 02:30
    expect(dstMark(shifted, null, zone, wallAt(2, 30))).toEqual({
      kind: 'gap',
      text: 'DST gap: 02:30 moved to 03:30',
    });
    expect(dstMark(shifted, null, zone, wallAt(3, 30))).toBeNull();
    expect(dstMark(shifted, null, zone)).toBeNull();
  });

  it('a wall time repeated by the fall-back is marked with its occurrence; a clock change since the previous', () => {
    const first = Date.parse('2026-11-01T05:30:00Z'); // 01:30 EDT
    const second = Date.parse('2026-11-01T06:30:00Z'); // 01:30 EST
    expect(dstMark(first, null, zone)?.text).toBe('DST overlap: 01:30 (1st of 2)');
    expect(dstMark(second, first, zone)?.text).toBe('DST overlap: 01:30 (2nd of 2)');
    const after = Date.parse('2026-11-02T06:30:00Z');
    expect(dstMark(after, first, zone)).toEqual({ kind: 'change', text: 'DST: clocks -1h since previous' });
    expect(dstMark(after, after - 86_400_000, zone)).toBeNull();
    expect(dstMark(Date.parse('2026-10-15T12:00:00Z'), null, 'Asia/Kathmandu')).toBeNull();
  });
});
