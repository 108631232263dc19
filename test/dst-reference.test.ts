/**
 * API.md, "Triggers": the DST rule checked against a brute-force reference (test/support/dst-reference.ts)
 * in every zone of `Intl.supportedValuesOf('timeZone')`, around every transition of 2024-2027 and a
 * few historic ones (midnight transitions, two-hour and 24-hour jumps, 15- and 30-minute changes).
 */
import { describe, expect, it } from 'vitest';
import { CalendarIntervalTrigger, CronTrigger, type Trigger } from '../src/index.js';
import {
  findTransitions,
  referenceFireTimes,
  simpleCronMatcher,
  type Transition,
  type WallClockWalk,
  walkWallClock,
  wallClockReader,
  wallHourMinute,
} from './support/dst-reference.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const SPAN_FROM = Date.UTC(2024, 0, 1);
const SPAN_TO = Date.UTC(2028, 0, 1);

/** Historic transitions worth checking: [zone, year]. */
const HISTORIC_YEARS: ReadonlyArray<[string, number]> = [
  ['Pacific/Apia', 2011], // 24-hour gap: 2011-12-30 skipped
  ['Pacific/Kiritimati', 1994], // 24-hour gap: 1994-12-31 skipped
  ['Pacific/Kwajalein', 1993], // 24-hour gap
  ['Europe/Berlin', 1947], // two-hour summer time (+1 → +2 → +3 and back)
  ['Europe/London', 1941], // British double summer time
  ['America/Caracas', 2007], // 30-minute fall-back
  ['America/Caracas', 2016], // 30-minute spring-forward
  ['Asia/Pyongyang', 2015], // 30-minute fall-back
  ['Asia/Pyongyang', 2018], // 30-minute spring-forward
  ['Asia/Kathmandu', 1985], // 15-minute spring-forward (at the very start of 1986)
  ['Europe/Moscow', 2011], // permanent summer time
  ['Europe/Moscow', 2014], // back from +4 to +3 for good
  ['America/Sao_Paulo', 2018], // midnight transitions
  ['Asia/Tehran', 2022], // midnight transitions
  ['America/Havana', 2013], // midnight transitions
  ['Asia/Beirut', 2010], // midnight transitions
  ['America/Santiago', 2019], // midnight transitions
];

/** Expressions checked around every transition, besides those built from the transition itself. */
const FIXED_EXPRESSIONS = ['*/15 * * * *', '0 * * * *', '30 0 * * *', '15,45 0-23 * * *'];

/** Expressions checked around a midnight in zones without transitions (the others add nothing there). */
const QUIET_ZONE_EXPRESSIONS = ['*/15 * * * *', '30 0 * * *'];

const iso = (instant: number) => new Date(instant).toISOString();

/** Every fire time of `trigger` in `[from, to]`, by stepping `getNextFireTime`. */
function triggerFireTimes(trigger: Trigger, from: number, to: number): number[] {
  const fireTimes: number[] = [];
  let next = trigger.getNextFireTime(null, new Date(from));
  while (next !== null && next.getTime() <= to) {
    fireTimes.push(next.getTime());
    next = trigger.getNextFireTime(next, next);
  }
  return fireTimes;
}

/** The window walked around a transition: an hour plus the jump on each side, on whole minutes. */
function walkAround(transition: Transition): WallClockWalk {
  const jump = Math.abs(transition.offsetAfter - transition.offsetBefore);
  const from = Math.floor((transition.at - HOUR_MS - jump) / MINUTE_MS) * MINUTE_MS;
  return walkWallClock(transition.zone, from, transition.at + HOUR_MS + jump);
}

/** The last instant of a walk. */
function walkEnd(walk: WallClockWalk): number {
  return walk.from + (walk.walls.length - 1) * MINUTE_MS;
}

/** The wall time in the middle of the wall times a transition skips or repeats, on a whole minute. */
function middleOfChangedWallTimes(transition: Transition): number {
  const low = transition.at + Math.min(transition.offsetBefore, transition.offsetAfter);
  const jump = Math.abs(transition.offsetAfter - transition.offsetBefore);
  return Math.floor((low + jump / 2) / MINUTE_MS) * MINUTE_MS;
}

/** `minute hour * * *` naming the given wall times (every combination of their minutes and hours). */
function namedExpression(walls: number[]): string {
  const minutes = new Set(walls.map((wall) => wallHourMinute(wall).minute));
  const hours = new Set(walls.map((wall) => wallHourMinute(wall).hour));
  return `${[...minutes].join(',')} ${[...hours].join(',')} * * *`;
}

/** The expressions named after a transition: a wall time inside the change, and (for a gap) with its shifted twin. */
function namedExpressionsFor(transition: Transition): string[] {
  const middle = middleOfChangedWallTimes(transition);
  const jump = transition.offsetAfter - transition.offsetBefore;
  if (jump < 0) return [namedExpression([middle])];
  return [namedExpression([middle]), namedExpression([middle, middle + jump])];
}

/** The triggers checked in one zone, each built once (trigger construction is not what is tested). */
class ZoneTriggers {
  readonly #cron = new Map<string, CronTrigger>();
  readonly #daily = new Map<string, CalendarIntervalTrigger>();

  /** @param calendarStart the `startAt` of the daily calendar intervals, before every transition checked. */
  constructor(
    readonly zone: string,
    readonly calendarStart: string,
  ) {}

  cron(expression: string): CronTrigger {
    let trigger = this.#cron.get(expression);
    if (trigger === undefined) {
      trigger = new CronTrigger(expression, { timezone: this.zone });
      this.#cron.set(expression, trigger);
    }
    return trigger;
  }

  daily(hour: number, minute: number): CalendarIntervalTrigger {
    const key = `${hour}:${minute}`;
    let trigger = this.#daily.get(key);
    if (trigger === undefined) {
      const options = { hour, minute, startAt: this.calendarStart, timezone: this.zone };
      trigger = new CalendarIntervalTrigger({ days: 1 }, options);
      this.#daily.set(key, trigger);
    }
    return trigger;
  }
}

/** Differences between cron triggers and the reference over one walk. */
function cronMismatches(
  triggers: ZoneTriggers,
  expressions: string[],
  walk: WallClockWalk,
  where: string,
): string[] {
  const mismatches: string[] = [];
  for (const expression of expressions) {
    const actual = triggerFireTimes(triggers.cron(expression), walk.from, walkEnd(walk)).map(iso);
    const expected = referenceFireTimes(walk, simpleCronMatcher(expression)).map(iso);
    if (actual.join() !== expected.join()) {
      mismatches.push(`${where}, '${expression}': got ${actual} expected ${expected}`);
    }
  }
  return mismatches;
}

/** Differences between a daily calendar interval at the changed wall time and the reference. */
function calendarMismatches(
  triggers: ZoneTriggers,
  transition: Transition,
  walk: WallClockWalk,
  where: string,
): string[] {
  const { hour, minute } = wallHourMinute(middleOfChangedWallTimes(transition));
  const actual = triggerFireTimes(triggers.daily(hour, minute), walk.from, walkEnd(walk)).map(iso);
  const expected = referenceFireTimes(walk, simpleCronMatcher(`${minute} ${hour} * * *`)).map(iso);
  if (actual.join() === expected.join()) return [];
  return [`${where}, daily at ${hour}:${minute}: got ${actual} expected ${expected}`];
}

/** Differences in a zone around each of its transitions, or around a midnight when it has none. */
function zoneMismatches(triggers: ZoneTriggers, transitions: Transition[]): string[] {
  const zone = triggers.zone;
  if (transitions.length === 0) {
    const midnight = Date.UTC(2025, 5, 15);
    const from = midnight - (wallClockReader(zone)(midnight) - midnight) - HOUR_MS;
    const aroundMidnight = walkWallClock(zone, from, from + 3 * HOUR_MS);
    return cronMismatches(triggers, QUIET_ZONE_EXPRESSIONS, aroundMidnight, `${zone} around midnight`);
  }
  return transitions.flatMap((transition) => {
    const walk = walkAround(transition);
    const where = `${zone} at ${iso(transition.at)}`;
    const expressions = [...FIXED_EXPRESSIONS, ...namedExpressionsFor(transition)];
    return [
      ...cronMismatches(triggers, expressions, walk, where),
      ...calendarMismatches(triggers, transition, walk, where),
    ];
  });
}

describe('DST rule against a brute-force reference in every IANA zone (API.md, Triggers)', () => {
  const zones = Intl.supportedValuesOf('timeZone');

  it('finds the transitions it is meant to check (the reference sees the 2024 changes in New York)', () => {
    const transitions = findTransitions('America/New_York', SPAN_FROM, Date.UTC(2025, 0, 1));
    expect(transitions.map((transition) => iso(transition.at))).toEqual([
      '2024-03-10T07:00:00.000Z',
      '2024-11-03T06:00:00.000Z',
    ]);
  });

  it.each(zones)('%s: cron and calendar triggers fire where the rule says, 2024-2027', (zone) => {
    const transitions = findTransitions(zone, SPAN_FROM, SPAN_TO);
    expect(zoneMismatches(new ZoneTriggers(zone, '2023-12-20'), transitions)).toEqual([]);
  });

  it.each(HISTORIC_YEARS)('%s in %i: historic transitions follow the rule', (zone, year) => {
    const transitions = findTransitions(zone, Date.UTC(year, 0, 1), Date.UTC(year + 1, 0, 1));
    expect(transitions.length).toBeGreaterThan(0);
    expect(zoneMismatches(new ZoneTriggers(zone, `${year - 1}-12-20`), transitions)).toEqual([]);
  });
});
