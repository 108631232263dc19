/**
 * A timing probe for CronTrigger (not a test): the cost of one `getNextFireTime` step for a few
 * expressions and zones, of building a trigger, and of rebuilding one from its JSON spec.
 *
 * Run: `npx tsx scripts/cron-probe.ts`. Numbers are microseconds per call: "cold" is the first pass
 * over a span of fire times (the zone's offsets are read from Intl as the span is crossed), "warm"
 * the median of five more passes over the same span.
 */
import { CronTrigger } from '../src/triggers/cron.js';

const EXPRESSIONS: ReadonlyArray<[string, number]> = [
  ['0 9 * * 1-5', 1000],
  ['30 2 * * *', 1000],
  ['0 0 29 2 *', 20],
  ['15 4 1 * *', 240],
];
const ZONES = ['America/New_York', 'Australia/Lord_Howe', 'Asia/Tokyo'];
const ROUNDS = 5;
const START = new Date('2025-01-01T00:00:00Z');

/** The median of `values`. */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** Microseconds per call of `run`, called `count` times; one round. */
function oneRound(count: number, run: (index: number) => void): number {
  const started = performance.now();
  for (let index = 0; index < count; index++) run(index);
  return ((performance.now() - started) * 1000) / count;
}

/** Microseconds per call: the median of `ROUNDS` rounds after a warm-up round. */
function warmMicros(count: number, run: (index: number) => void): number {
  oneRound(count, run);
  return median(Array.from({ length: ROUNDS }, () => oneRound(count, run)));
}

/** Cold and warm microseconds per step of `getNextFireTime(previous, previous)` over `steps` steps. */
function stepCost(expression: string, zone: string, steps: number): [number, number] {
  const trigger = new CronTrigger(expression, { timezone: zone });
  const pass = () => {
    let previous: Date | null = null;
    return oneRound(steps, () => {
      previous = trigger.getNextFireTime(previous, START);
      if (previous === null) throw new Error(`${expression} in ${zone} ran out of fire times`);
    });
  };
  const cold = pass();
  return [cold, median(Array.from({ length: ROUNDS }, pass))];
}

const format = (micros: number) => `${micros.toFixed(micros < 10 ? 2 : 1)} µs`;

// Warm the code paths (the JIT) on another zone, so that the first rows are not charged with compiling them.
for (const [expression, steps] of EXPRESSIONS) stepCost(expression, 'Europe/Paris', steps);

console.log('getNextFireTime per step (previous → next) from 2025-01-01, cold / warm:');
for (const [expression, steps] of EXPRESSIONS) {
  const row = ZONES.map((zone) => {
    const [cold, warm] = stepCost(expression, zone, steps);
    return `${zone} ${format(cold)} / ${format(warm)}`;
  });
  console.log(`  ${expression.padEnd(12)} (${steps} steps)  ${row.join('   ')}`);
}
const farYear = new CronTrigger('0 0 0 1 1 * 9999', { timezone: 'America/New_York' });
console.log(
  `  0 0 0 1 1 * 9999, first fire time from 2025: ${format(warmMicros(20, () => farYear.getNextFireTime(null, START)))}`,
);

let counter = 0;
const distinct = () =>
  `0 ${counter % 60} ${Math.floor(counter / 60) % 24} * * ${counter % 7} ${2000 + Math.floor(counter++ / 1440)}`;
console.log('CronTrigger construction:');
console.log(
  `  same expression, new CronTrigger('0 9 * * 1-5', { timezone }): ${format(warmMicros(20_000, () => new CronTrigger('0 9 * * 1-5', { timezone: 'Asia/Tokyo' })))}`,
);
for (let round = 0; round < 5; round++) new CronTrigger(distinct(), { timezone: 'Asia/Tokyo' });
console.log(
  `  a new expression each time (parsed by cron-parser): ${format(warmMicros(3000, () => new CronTrigger(distinct(), { timezone: 'Asia/Tokyo' })))}`,
);
const spec = new CronTrigger('15 4 1 * *', {
  timezone: 'America/New_York',
  startAt: '2025-01-01T00:00:00Z',
}).toJSON();
console.log(
  `  CronTrigger.fromJSON(spec of an expression seen before, with startAt and timezone): ${format(warmMicros(20_000, () => CronTrigger.fromJSON(spec)))}`,
);
