// DateTrigger, IntervalTrigger, AndTrigger, OrTrigger, ShutdownTrigger and spec round trips (API.md "Triggers").
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import {
  AndTrigger,
  DateTrigger,
  IntervalTrigger,
  OrTrigger,
  ShutdownTrigger,
  triggerFromSpec,
  ValueError,
} from '../../src/index.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const at = (ms: number) => new Date(ms);

describe('DateTrigger', () => {
  it('fires once at runAt, even when runAt is past (misfire rules judge it)', () => {
    const trigger = new DateTrigger(T0);
    expect(trigger.getNextFireTime(null, at(T0 + 5000))).toEqual(at(T0));
    expect(trigger.getNextFireTime(at(T0), at(T0 + 5000))).toBeNull();
  });

  it('accepts Date, epoch ms, ISO with offset, ISO without offset in its zone, luxon DateTime', () => {
    const expected = Date.parse('2026-07-01T09:00:00Z');
    expect(new DateTrigger(new Date(expected)).runAt.getTime()).toBe(expected);
    expect(new DateTrigger(expected).runAt.getTime()).toBe(expected);
    expect(new DateTrigger('2026-07-01T11:00:00+02:00').runAt.getTime()).toBe(expected);
    expect(new DateTrigger('2026-07-01T11:00', { timezone: 'Europe/Berlin' }).runAt.getTime()).toBe(expected);
    expect(new DateTrigger(DateTime.fromMillis(expected)).runAt.getTime()).toBe(expected);
  });

  it('bad input is a ValueError naming the value', () => {
    expect(() => new DateTrigger('tomorrow')).toThrow(/DateTrigger: runAt: "tomorrow"/);
    expect(() => new DateTrigger(Number.NaN)).toThrow(ValueError);
    expect(() => new DateTrigger(T0, { timezone: 'Nowhere/City' })).toThrow(/"Nowhere\/City"/);
    expect(() => new DateTrigger({} as never)).toThrow(/DateTrigger: runAt/);
  });
});

describe('IntervalTrigger', () => {
  it('fires at startAt + k·interval and never drifts', () => {
    const trigger = new IntervalTrigger({ minutes: 1, seconds: 30 }, { startAt: T0 });
    expect(trigger.intervalMs).toBe(90_000);
    expect(trigger.getNextFireTime(null, at(T0 - 10))).toEqual(at(T0));
    expect(trigger.getNextFireTime(null, at(T0))).toEqual(at(T0));
    expect(trigger.getNextFireTime(null, at(T0 + 1))).toEqual(at(T0 + 90_000));
    expect(trigger.getNextFireTime(at(T0 + 90_000 + 37), at(T0))).toEqual(at(T0 + 180_000));
  });

  it('defaults startAt to one interval after creation', () => {
    const before = Date.now();
    const trigger = new IntervalTrigger({ seconds: 5 });
    expect(trigger.startAt.getTime()).toBeGreaterThanOrEqual(before + 5000);
    expect(trigger.startAt.getTime()).toBeLessThanOrEqual(Date.now() + 5000);
  });

  it('endAt is inclusive; after it there is no fire time', () => {
    const trigger = new IntervalTrigger({ seconds: 1 }, { startAt: T0, endAt: T0 + 2000 });
    expect(trigger.getNextFireTime(at(T0 + 1000), at(T0))).toEqual(at(T0 + 2000));
    expect(trigger.getNextFireTime(at(T0 + 2000), at(T0))).toBeNull();
  });

  it('jitter stays within [0, jitter] and the grid does not drift', () => {
    const trigger = new IntervalTrigger({ seconds: 10 }, { startAt: T0, jitter: 2000 });
    let previous: Date | null = null;
    for (let k = 0; k < 200; k++) {
      const next = trigger.getNextFireTime(previous, at(T0)) as Date;
      const offset = next.getTime() - (T0 + k * 10_000);
      expect(offset).toBeGreaterThanOrEqual(0);
      expect(offset).toBeLessThanOrEqual(2000);
      previous = next;
    }
  });

  it('counts fire times in a window in closed form', () => {
    const trigger = new IntervalTrigger({ seconds: 1 }, { startAt: T0, endAt: T0 + 100_000 });
    const counted = trigger.countFireTimes(at(T0 + 500), at(T0 + 1_000_000), 3);
    expect(counted.count).toBe(100);
    expect(counted.recent).toEqual([at(T0 + 98_000), at(T0 + 99_000), at(T0 + 100_000)]);
    expect(trigger.countFireTimes(at(T0 - 5000), at(T0 - 1), 3)).toEqual({ count: 0, recent: [] });
  });

  it('bad input is a ValueError naming the bad part', () => {
    expect(() => new IntervalTrigger({})).toThrow(/IntervalTrigger: the interval \{\} is empty/);
    expect(() => new IntervalTrigger({ seconds: 0 })).toThrow(/is empty/);
    expect(() => new IntervalTrigger({ seconds: -1 })).toThrow(
      /seconds must be a finite non-negative number, got -1/,
    );
    expect(() => new IntervalTrigger({ minutes: Number.NaN })).toThrow(/minutes.*got NaN/);
    expect(() => new IntervalTrigger({ fortnights: 1 } as never)).toThrow(
      /unknown interval unit 'fortnights'/,
    );
    expect(() => new IntervalTrigger({ seconds: 1 }, { startAt: 'soon' })).toThrow(/startAt: "soon"/);
    expect(() => new IntervalTrigger({ seconds: 1 }, { startAt: T0, endAt: T0 - 1 })).toThrow(
      /endAt .* is before startAt/,
    );
    expect(() => new IntervalTrigger({ seconds: 1 }, { jitter: -5 })).toThrow(/jitter: -5/);
    expect(() => new IntervalTrigger({ seconds: 1 }, { jitter: 1000 })).toThrow(
      /jitter 1000 ms must be shorter than the interval/,
    );
    expect(() => new IntervalTrigger({ seconds: 1 }, { timezone: 'Bad/Zone' })).toThrow(/"Bad\/Zone"/);
  });
});

describe('AndTrigger / OrTrigger', () => {
  const everyTwo = new IntervalTrigger({ seconds: 2 }, { startAt: T0 });
  const everyThree = new IntervalTrigger({ seconds: 3 }, { startAt: T0 });

  it('AndTrigger fires at the earliest times all children agree on', () => {
    const trigger = new AndTrigger([everyTwo, everyThree]);
    const times: number[] = [];
    let previous: Date | null = null;
    for (let i = 0; i < 3; i++) {
      previous = trigger.getNextFireTime(previous, at(T0 + 1)) as Date;
      times.push((previous.getTime() - T0) / 1000);
    }
    expect(times).toEqual([6, 12, 18]);
  });

  it('AndTrigger returns null when a child is exhausted and can never agree', () => {
    const trigger = new AndTrigger([new DateTrigger(T0 + 1000), everyThree]);
    expect(trigger.getNextFireTime(null, at(T0 + 1))).toBeNull();
  });

  it('OrTrigger fires at the earliest of any child, shared times once', () => {
    const trigger = new OrTrigger([everyTwo, everyThree]);
    const times: number[] = [];
    let previous: Date | null = null;
    for (let i = 0; i < 6; i++) {
      previous = trigger.getNextFireTime(previous, at(T0 + 1)) as Date;
      times.push((previous.getTime() - T0) / 1000);
    }
    expect(times).toEqual([2, 3, 4, 6, 8, 9]);
  });

  it('bad children are ValueErrors', () => {
    expect(() => new AndTrigger([])).toThrow(/AndTrigger: expected a non-empty array/);
    expect(() => new OrTrigger([{ type: 'nope' } as never])).toThrow(/"nope"/);
    expect(() => new OrTrigger([5 as never])).toThrow(/OrTrigger: triggers\[0\].*got 5/);
  });
});

describe('specs', () => {
  it('every simple trigger survives toJSON → triggerFromSpec with the same fire times', () => {
    const triggers = [
      new DateTrigger(T0, { timezone: 'Europe/Berlin' }),
      new IntervalTrigger(
        { hours: 1, minutes: 30 },
        { startAt: T0, endAt: T0 + 86_400_000, timezone: 'Asia/Tokyo', jitter: 0 },
      ),
      new AndTrigger([
        new IntervalTrigger({ seconds: 2 }, { startAt: T0 }),
        new IntervalTrigger({ seconds: 3 }, { startAt: T0 }),
      ]),
      new OrTrigger([new DateTrigger(T0 + 5), new IntervalTrigger({ seconds: 7 }, { startAt: T0 })]),
      new ShutdownTrigger(),
    ];
    for (const trigger of triggers) {
      const spec = JSON.parse(JSON.stringify(trigger.toJSON()));
      const rebuilt = triggerFromSpec(spec);
      expect(rebuilt.toJSON()).toEqual(trigger.toJSON());
      let a: Date | null = null;
      let b: Date | null = null;
      for (let i = 0; i < 5; i++) {
        a = trigger.getNextFireTime(a, at(T0));
        b = rebuilt.getNextFireTime(b, at(T0));
        expect(b).toEqual(a);
        if (a === null) break;
      }
    }
  });

  it('the shutdown trigger never has a fire time on the clock', () => {
    expect(new ShutdownTrigger().getNextFireTime(null, at(T0))).toBeNull();
  });
});
