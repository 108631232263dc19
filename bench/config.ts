/** What a run measures: the cases (a scenario with its sizes), per mode (full or --quick). */
import { LIBRARIES } from './adapters/adapter.js';

export interface Case {
  /** Row-group id in the table, e.g. 'S1-100k'. */
  id: string;
  scenario: 'S1' | 'S1-cron' | 'S2' | 'S3' | 'S4' | 'S5' | 'S6' | 'S7' | 'S8' | 'S9';
  title: string;
  params: Record<string, unknown>;
  /** Libraries run (others are N/A for this case). */
  libraries: string[];
  /** The child is killed after this long. */
  timeoutMs: number;
  /** Runs of this case (correctness checks need one). */
  runs?: number;
}

/** New York: the zone of S1-cron and S9 (DST gaps and overlaps at 02:00). */
export const S5_TIMEZONE = 'America/New_York';
/**
 * The zones of S5: New York (one-hour DST changes at 02:00), Lord Howe (half-hour DST changes at 02:00) and
 * Tokyo (no DST).
 */
export const S5_TIMEZONES = ['America/New_York', 'Australia/Lord_Howe', 'Asia/Tokyo'];
export const S5_EXPRESSIONS = ['*/15 * * * *', '0 9 * * 1-5', '30 2 * * *', '0 0 29 2 *'];

const ALL = [...LIBRARIES];
/** Every library runs one-shot tasks; toad-scheduler's is the one its users build (adapters/toad-scheduler.ts). */
const WITH_ONE_SHOT = ALL;
const WITH_CRON_ENGINE = ALL.filter((name) => name !== 'toad-scheduler');
/** `libraries` with kairos with `history: false` right after kairos (history on, the default): S2 and S7. */
const withHistoryOff = (libraries: string[]) =>
  libraries.flatMap((name) => (name === 'kairos' ? [name, 'kairos-nohistory'] : [name]));

export function cases(quick: boolean): Case[] {
  const big = quick ? 10_000 : 100_000;
  const small = quick ? 1_000 : 10_000;
  const label = (n: number) => (n >= 1000 ? `${n / 1000}k` : String(n));
  const all: Case[] = [
    {
      id: `S1-${label(big)}`,
      scenario: 'S1',
      title: `S1 schedule cost, ${big.toLocaleString('en')} one-shot tasks due in an hour`,
      params: { n: big, removeEach: false },
      libraries: WITH_ONE_SHOT,
      timeoutMs: 90_000,
      // The peers take 15–20 s each at this size (and the figures vary little): one run keeps the suite short.
      runs: 1,
    },
    {
      id: `S1-${label(small)}`,
      scenario: 'S1',
      title: `S1 schedule cost, ${small.toLocaleString('en')} one-shot tasks due in an hour`,
      params: { n: small, removeEach: true },
      libraries: WITH_ONE_SHOT,
      timeoutMs: quick ? 20_000 : 60_000,
    },
    {
      id: 'S1-cron',
      scenario: 'S1-cron',
      title: `S1-cron schedule cost, ${small.toLocaleString('en')} cron tasks with distinct expressions in ${S5_TIMEZONE}`,
      params: { n: small, timezone: S5_TIMEZONE, sample: 20 },
      libraries: WITH_CRON_ENGINE,
      timeoutMs: quick ? 30_000 : 90_000,
      // node-schedule takes ~17 s and cron ~6 s at this size (1.6 ms and 0.6 ms per task): one run, as S1-100k.
      runs: 1,
    },
    {
      id: 'S2',
      scenario: 'S2',
      title: `S2 burst, ${small.toLocaleString('en')} one-shot tasks due at the same instant`,
      params: { n: small, leadMs: quick ? 5000 : 10_000, timeoutMs: quick ? 5000 : 15_000 },
      libraries: withHistoryOff(WITH_ONE_SHOT),
      timeoutMs: quick ? 20_000 : 60_000,
    },
    {
      id: 'S3',
      scenario: 'S3',
      title: quick
        ? 'S3 steady precision, 100 tasks every second for 2 s'
        : 'S3 steady precision, 1,000 tasks every second for 10 s',
      params: quick ? { n: 100, seconds: 2 } : { n: 1000, seconds: 10 },
      libraries: ALL,
      timeoutMs: quick ? 20_000 : 40_000,
    },
    {
      id: 'S4',
      scenario: 'S4',
      title: `S4 idle, ${small.toLocaleString('en')} tasks due tomorrow, held ${quick ? 0.5 : 5} s`,
      params: { n: small, holdMs: quick ? 500 : 5000 },
      libraries: [...ALL, 'none'],
      timeoutMs: quick ? 20_000 : 40_000,
      // Idle CPU and wake-ups are near-deterministic (0 for a scheduler that does not poll): one run.
      runs: 1,
    },
    {
      id: 'S5',
      scenario: 'S5',
      title: `S5 next fire time, cron in ${S5_TIMEZONES.join(', ')}`,
      // 12 (zone, expression) pairs: 100 ms of stepping each (300 ms when S5 had one zone) after a warm-up of 25 ms
      // each, so that S5 takes about as long as it did (~12 s a run for the four libraries).
      params: {
        expressions: S5_EXPRESSIONS,
        timezones: S5_TIMEZONES,
        budgetMs: quick ? 20 : 100,
        sample: 200,
      },
      libraries: WITH_CRON_ENGINE,
      timeoutMs: 60_000,
    },
    {
      id: 'S6',
      scenario: 'S6',
      title: 'S6 long delay, one task 30 days ahead',
      params: { holdMs: quick ? 500 : 2000 },
      libraries: ALL,
      timeoutMs: 20_000,
      runs: 1,
    },
    {
      id: 'S7',
      scenario: 'S7',
      title: `S7 SQLite store, ${(quick ? 2000 : big).toLocaleString('en')} tasks`,
      params: quick
        ? { n: 2_000, burst: 500, catchUp: 200, downDays: 30 }
        : { n: 100_000, burst: 10_000, catchUp: 1_000, downDays: 30 },
      libraries: withHistoryOff(['kairos']),
      timeoutMs: quick ? 30_000 : 180_000,
    },
    {
      id: 'S8',
      scenario: 'S8',
      title: `S8 PostgreSQL fleet, 3 processes on one database, burst of ${(quick ? 2000 : 20_000).toLocaleString('en')} tasks`,
      // Steady: steadyTasks every steadyEveryMs (croner: the same runs per second on its 1 s grid).
      params: quick
        ? {
            workers: 3,
            burst: 2_000,
            steadyTasks: 400,
            steadyEveryMs: 200,
            steadySeconds: 3,
            wakeups: 30,
            wakeSpacingMs: 50,
          }
        : {
            workers: 3,
            burst: 20_000,
            steadyTasks: 2_000,
            steadyEveryMs: 200,
            steadySeconds: 10,
            wakeups: 200,
            wakeSpacingMs: 50,
          },
      libraries: ['kairos', 'croner'],
      timeoutMs: quick ? 60_000 : 300_000,
      runs: 1,
    },
    {
      id: 'S9',
      scenario: 'S9',
      title: `S9 SQLite cold start, ${(quick ? 10_000 : big).toLocaleString('en')} cron tasks stored, 1,000 of them due`,
      // The file is written once, before the measured part (not timed); each measurement is a fresh process on a
      // fresh copy of it, `repeats` times (medians): one run of the case.
      params: { n: quick ? 10_000 : 100_000, due: 1000, timezone: S5_TIMEZONE, repeats: quick ? 1 : 3 },
      libraries: ['kairos'],
      timeoutMs: quick ? 60_000 : 180_000,
      runs: 1,
    },
  ];
  // --quick: one S1 size (the small one, which also removes one by one), smaller everything else.
  return quick ? all.filter((testCase) => testCase.params.n !== big || testCase.scenario !== 'S1') : all;
}
