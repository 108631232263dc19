// `kairos next`: fire times of a cron expression or an interval, computed by the scheduler's own triggers, in a
// zone and in UTC, with the fire times at a DST gap or overlap marked. Checked against real transitions of
// America/New_York (2026-03-08 spring forward at 02:00, 2026-11-01 fall back at 02:00) and Europe/Berlin.
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, kairos, kairosInProcess } from '../support/cli-run.js';

interface FireTime {
  n: number;
  local: string;
  utc: string;
  zone: string;
  dst: { kind: string; text: string } | null;
}

/** `kairos next … --json`, run in this process (the code the built command runs; one case below runs that). */
async function nextJson(...args: string[]): Promise<FireTime[]> {
  const result = await kairosInProcess(['next', ...args, '--json']);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as FireTime[];
}

/** The fire times as `local | utc | note` strings, easy to compare whole. */
const summary = (times: FireTime[]) =>
  times.map((time) => `${time.local} | ${time.utc}${time.dst === null ? '' : ` | ${time.dst.text}`}`);

beforeAll(async () => {
  await ensureBuilt();
}, 180_000);

/** The arguments of the spring-forward case: `30 2 * * *` in New York, five from 2026-03-06. */
const SPRING_FORWARD = ['30 2 * * *', '--tz', 'America/New_York', '--start', '2026-03-06', '-n', '5'];

/** Cron expressions in New York around its DST changes: what `kairos next` lists, with the DST notes. */
const NEW_YORK_CASES: Array<{
  name: string;
  expression: string;
  start: string;
  n: number;
  expected: string[];
}> = [
  {
    name: '30 2 * * * in New York across the fall-back: the clocks go back an hour before it',
    expression: '30 2 * * *',
    start: '2026-10-31',
    n: 3,
    expected: [
      '2026-10-31T02:30:00.000-04:00 | 2026-10-31T06:30:00.000Z',
      '2026-11-01T02:30:00.000-05:00 | 2026-11-01T07:30:00.000Z | DST: clocks -1h since previous',
      '2026-11-02T02:30:00.000-05:00 | 2026-11-02T07:30:00.000Z',
    ],
  },
  {
    name: '30 1 * * * fires once in the repeated hour, at the first 01:30',
    expression: '30 1 * * *',
    start: '2026-10-31',
    n: 3,
    expected: [
      '2026-10-31T01:30:00.000-04:00 | 2026-10-31T05:30:00.000Z',
      '2026-11-01T01:30:00.000-04:00 | 2026-11-01T05:30:00.000Z | DST overlap: 01:30 (1st of 2)',
      '2026-11-02T01:30:00.000-05:00 | 2026-11-02T06:30:00.000Z | DST: clocks -1h since previous',
    ],
  },
  {
    name: '*/30 * * * * fires in both occurrences of the repeated hour, each marked',
    expression: '*/30 * * * *',
    start: '2026-11-01T00:45',
    n: 5,
    expected: [
      '2026-11-01T01:00:00.000-04:00 | 2026-11-01T05:00:00.000Z | DST overlap: 01:00 (1st of 2)',
      '2026-11-01T01:30:00.000-04:00 | 2026-11-01T05:30:00.000Z | DST overlap: 01:30 (1st of 2)',
      '2026-11-01T01:00:00.000-05:00 | 2026-11-01T06:00:00.000Z | DST overlap: 01:00 (2nd of 2)',
      '2026-11-01T01:30:00.000-05:00 | 2026-11-01T06:30:00.000Z | DST overlap: 01:30 (2nd of 2)',
      '2026-11-01T02:00:00.000-05:00 | 2026-11-01T07:00:00.000Z',
    ],
  },
];

describe('kairos next', () => {
  it('30 2 * * * in New York across the spring-forward gap: 02:30 does not exist, it runs at 03:30', async () => {
    const times = await nextJson(...SPRING_FORWARD);
    expect(summary(times)).toEqual([
      '2026-03-06T02:30:00.000-05:00 | 2026-03-06T07:30:00.000Z',
      '2026-03-07T02:30:00.000-05:00 | 2026-03-07T07:30:00.000Z',
      '2026-03-08T03:30:00.000-04:00 | 2026-03-08T07:30:00.000Z | DST gap: 02:30 moved to 03:30',
      '2026-03-09T02:30:00.000-04:00 | 2026-03-09T06:30:00.000Z',
      '2026-03-10T02:30:00.000-04:00 | 2026-03-10T06:30:00.000Z',
    ]);
    expect(times[2]?.dst?.kind).toBe('gap');
    expect(times.every((time) => time.zone === 'America/New_York')).toBe(true);
    // The built command prints the same.
    const built = await kairos(['next', ...SPRING_FORWARD, '--json']);
    expect(built).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(built.stdout)).toEqual(times);
  });

  for (const { name, expression, start, n, expected } of NEW_YORK_CASES) {
    it(name, async () => {
      const times = await nextJson(expression, '--tz', 'America/New_York', '--start', start, '-n', String(n));
      expect(summary(times)).toEqual(expected);
    });
  }

  it('prints a table of 80 columns at most: the zone, UTC and the DST note, without colour when piped', async () => {
    const result = await kairos(['next', ...SPRING_FORWARD]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).not.toContain('\u001b[');
    expect(result.stdout.split('\n')).toEqual([
      'cron 30 2 * * * (America/New_York): next 5 from 2026-03-06 00:00 -05:00',
      '#  America/New_York         UTC                   NOTE',
      '1  2026-03-06 02:30 -05:00  2026-03-06 07:30 UTC',
      '2  2026-03-07 02:30 -05:00  2026-03-07 07:30 UTC',
      '3  2026-03-08 03:30 -04:00  2026-03-08 07:30 UTC  DST gap: 02:30 moved to 03:30',
      '4  2026-03-09 02:30 -04:00  2026-03-09 06:30 UTC',
      '5  2026-03-10 02:30 -04:00  2026-03-10 06:30 UTC',
      '',
    ]);
  });

  it('--every: an interval from --start, in real time; the clock change is marked, never shifted', async () => {
    const args = ['--tz', 'Europe/Berlin', '--start', '2026-03-28T23:00', '-n', '4'];
    const short = await nextJson('--every', '90m', ...args);
    expect(summary(short)).toEqual([
      '2026-03-28T23:00:00.000+01:00 | 2026-03-28T22:00:00.000Z',
      '2026-03-29T00:30:00.000+01:00 | 2026-03-28T23:30:00.000Z',
      '2026-03-29T03:00:00.000+02:00 | 2026-03-29T01:00:00.000Z | DST: clocks +1h since previous',
      '2026-03-29T04:30:00.000+02:00 | 2026-03-29T02:30:00.000Z',
    ]);
    expect(await nextJson('--every', 'PT90M', ...args)).toEqual(short);
    expect(await nextJson('--every', '1h30m', ...args)).toEqual(short);
    const text = await kairosInProcess(['next', '--every', '90m', ...args]);
    expect(text.stdout.split('\n')[0]).toBe('every 1 hour 30 minutes: next 4 from 2026-03-28 23:00 +01:00');
  });

  it('takes 6-field expressions with seconds, and -n up to 1000', async () => {
    const times = await nextJson(
      '*/20 * * * * *',
      '--tz',
      'UTC',
      '--start',
      '2026-01-01T00:00:05Z',
      '-n',
      '3',
    );
    expect(times.map((time) => time.utc)).toEqual([
      '2026-01-01T00:00:20.000Z',
      '2026-01-01T00:00:40.000Z',
      '2026-01-01T00:01:00.000Z',
    ]);
    expect(await nextJson('* * * * *', '-n', '1000')).toHaveLength(1000);
  });
});
