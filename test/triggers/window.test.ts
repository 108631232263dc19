/**
 * TriggerWindow (src/triggers/window.ts): the start, end, zone and jitter that IntervalTrigger, CronTrigger
 * and CalendarIntervalTrigger share: parsing from options and specs, errors naming the bad value, writing
 * back into specs, the window checks on fire times and the jitter bounds.
 */
import { DateTime } from 'luxon';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_INSTANT_MS, systemTimezone } from '../../src/time.js';
import {
  type BoundType,
  INSTANTS,
  splitWindowSpec,
  TriggerWindow,
  WINDOW_KEYS,
  type WindowOptions,
} from '../../src/triggers/window.js';
import { valueErrorExpecter } from '../support/triggers.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const parse = (options: WindowOptions) =>
  TriggerWindow.parse(options, { component: 'Test', bounds: INSTANTS });
const expectValueError = valueErrorExpecter('Test');

afterEach(() => {
  vi.restoreAllMocks();
});

describe('TriggerWindow.parse', () => {
  it('no options: no bounds, no zone, no jitter, all as undefined (jitter 0)', () => {
    const window = parse({});
    expect(window.startAt).toBeUndefined();
    expect(window.endAt).toBeUndefined();
    expect(window.timezone).toBeUndefined();
    expect(window.jitterMs).toBe(0);
    expect(window.startAtDeclared).toBe(false);
    expect(window.toSpec()).toEqual({});
  });

  it('reads bounds in every DateInput form, and jitter in every DurationInput form', () => {
    const expected = Date.parse('2026-07-01T09:00:00Z');
    for (const startAt of [
      new Date(expected),
      expected,
      '2026-07-01T11:00:00+02:00',
      DateTime.fromMillis(expected),
    ]) {
      expect(parse({ startAt }).startAt?.getTime()).toBe(expected);
    }
    expect(parse({ jitter: 1500 }).jitterMs).toBe(1500);
    expect(parse({ jitter: { seconds: 1.5 } }).jitterMs).toBe(1500);
    expect(parse({ jitter: 'PT1.5S' }).jitterMs).toBe(1500);
  });

  it('reads date strings without an offset in the zone given, else in the system zone', () => {
    const tokyo = parse({ startAt: '2026-07-01T09:00', endAt: '2026-07-02T09:00', timezone: 'Asia/Tokyo' });
    expect(tokyo.timezone).toBe('Asia/Tokyo');
    expect(tokyo.zone()).toBe('Asia/Tokyo');
    expect(tokyo.startAt?.toISOString()).toBe('2026-07-01T00:00:00.000Z');
    expect(tokyo.endAt?.toISOString()).toBe('2026-07-02T00:00:00.000Z');
    const local = parse({ startAt: '2026-07-01T09:00' });
    expect(local.timezone).toBeUndefined();
    expect(local.zone()).toBe(systemTimezone());
    expect(local.startAt?.getTime()).toBe(
      DateTime.fromISO('2026-07-01T09:00', { zone: systemTimezone() }).toMillis(),
    );
  });

  it('a start given is declared; a default start (computed in the zone) is not', () => {
    const defaultStartAt = vi.fn((zone: () => string) => new Date(T0 + zone().length));
    const rules = { component: 'Test', bounds: INSTANTS, defaultStartAt };
    const defaulted = TriggerWindow.parse({ timezone: 'UTC' }, rules);
    expect(defaulted.startAt.getTime()).toBe(T0 + 3);
    expect(defaulted.startAtDeclared).toBe(false);
    const given = TriggerWindow.parse({ startAt: T0 }, rules);
    expect(given.startAt.getTime()).toBe(T0);
    expect(given.startAtDeclared).toBe(true);
    expect(defaultStartAt).toHaveBeenCalledTimes(1);
  });

  it('endAt equal to startAt is a window of one instant', () => {
    const window = parse({ startAt: T0, endAt: T0 });
    expect(window.isAfterEnd(T0)).toBe(false);
    expect(window.isAfterEnd(T0 + 1)).toBe(true);
  });
});

describe('bad input is a ValueError naming the trigger, the option and the value', () => {
  it('an unknown zone', () => {
    expectValueError(() => parse({ timezone: 'Nowhere/City' }), 'Test: timezone', '"Nowhere/City"');
    expectValueError(() => parse({ timezone: 5 as never }), 'Test: timezone', '5');
  });

  it('a bad startAt or endAt', () => {
    expectValueError(() => parse({ startAt: 'soon' }), 'Test: startAt', '"soon"');
    expectValueError(() => parse({ endAt: Number.NaN }), 'Test: endAt', 'NaN');
    expectValueError(() => parse({ endAt: 9e15 }), 'Test: endAt', '9000000000000000', 'not a valid instant');
    expectValueError(() => parse({ startAt: {} as never }), 'Test: startAt', '{}');
  });

  it('endAt before startAt, both quoted', () => {
    expectValueError(
      () => parse({ startAt: T0, endAt: T0 - 1 }),
      'Test: endAt 2026-02-28T23:59:59.999Z is before startAt 2026-03-01T00:00:00.000Z',
    );
  });

  it('endAt before a default startAt', () => {
    const rules = { component: 'Test', bounds: INSTANTS, defaultStartAt: () => new Date(T0) };
    expectValueError(() => TriggerWindow.parse({ endAt: T0 - 1000 }, rules), 'is before startAt');
  });

  it('a negative, malformed or too long jitter', () => {
    expectValueError(() => parse({ jitter: -5 }), 'Test: jitter', '-5', 'non-negative');
    expectValueError(() => parse({ jitter: 'soon' }), 'Test: jitter', '"soon"');
    expectValueError(() => parse({ jitter: 1e300 }), 'Test: jitter', '1e+300', 'longest supported');
  });

  it('the zone is read before the dates, the dates before the jitter', () => {
    const allBad = { timezone: 'Bad/Zone', startAt: 'soon', endAt: 'later', jitter: -1 };
    expectValueError(() => parse(allBad), 'timezone');
    expectValueError(() => parse({ ...allBad, timezone: 'UTC' }), 'startAt');
    expectValueError(() => parse({ ...allBad, timezone: 'UTC', startAt: T0 }), 'endAt');
    expectValueError(() => parse({ timezone: 'UTC', startAt: T0, endAt: T0 - 1, jitter: -1 }), 'endAt');
  });
});

describe('fire times and the window', () => {
  it('notBeforeStart moves a time up to startAt; without one, the time is kept', () => {
    const window = parse({ startAt: T0 });
    expect(window.notBeforeStart(T0 - 5)).toBe(T0);
    expect(window.notBeforeStart(T0 + 5)).toBe(T0 + 5);
    expect(parse({}).notBeforeStart(-8.64e15)).toBe(-8.64e15);
  });

  it('notAfterEnd and isAfterEnd: endAt is inclusive; without one, nothing is after it', () => {
    const window = parse({ endAt: T0 });
    expect(window.notAfterEnd(T0 + 5)).toBe(T0);
    expect(window.notAfterEnd(T0 - 5)).toBe(T0 - 5);
    expect(window.isAfterEnd(T0)).toBe(false);
    expect(window.isAfterEnd(T0 + 1)).toBe(true);
    expect(parse({}).isAfterEnd(MAX_INSTANT_MS)).toBe(false);
    expect(parse({}).notAfterEnd(MAX_INSTANT_MS)).toBe(MAX_INSTANT_MS);
  });
});

describe('jitter bounds', () => {
  it('adds a whole number of ms in [0, jitterMs], both ends reachable', () => {
    const window = parse({ jitter: 1000 });
    vi.spyOn(Math, 'random').mockReturnValueOnce(0).mockReturnValueOnce(0.999_999_9);
    expect(window.jittered(T0).getTime()).toBe(T0);
    expect(window.jittered(T0).getTime()).toBe(T0 + 1000);
  });

  it('stays within the bounds over many draws, and spreads over them', () => {
    const window = parse({ jitter: 10 });
    const delays = new Set<number>();
    for (let draw = 0; draw < 2000; draw++) {
      const delay = window.jittered(T0).getTime() - T0;
      expect(Number.isInteger(delay)).toBe(true);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(10);
      delays.add(delay);
    }
    expect(delays.size).toBe(11);
  });

  it('without jitter the fire time is kept, and Math.random is not called', () => {
    const random = vi.spyOn(Math, 'random');
    expect(parse({}).jittered(T0).getTime()).toBe(T0);
    expect(parse({ jitter: 0 }).jittered(T0).getTime()).toBe(T0);
    expect(random).not.toHaveBeenCalled();
  });

  it('never pushes a fire time past the last valid instant', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.999_999);
    const jittered = parse({ jitter: 9e15 }).jittered(MAX_INSTANT_MS - 10);
    expect(jittered.getTime()).toBe(MAX_INSTANT_MS);
  });
});

describe('specs', () => {
  it('toSpec writes what is set, in WINDOW_KEYS order, instants as ISO strings, jitter in ms', () => {
    const window = parse({ jitter: 'PT2S', timezone: 'Europe/Berlin', endAt: T0 + 1000, startAt: T0 });
    expect(JSON.stringify(window.toSpec())).toBe(
      '{"startAt":"2026-03-01T00:00:00.000Z","endAt":"2026-03-01T00:00:01.000Z","timezone":"Europe/Berlin","jitter":2000}',
    );
    expect(Object.keys(window.toSpec())).toEqual([...WINDOW_KEYS]);
    expect(parse({ endAt: T0 }).toSpec()).toEqual({ endAt: '2026-03-01T00:00:00.000Z' });
  });

  it('declared drops a default startAt from a definition, keeps a given one', () => {
    const rules = { component: 'Test', bounds: INSTANTS, defaultStartAt: () => new Date(T0) };
    const defaulted = TriggerWindow.parse({}, rules);
    expect(defaulted.toSpec()).toEqual({ startAt: '2026-03-01T00:00:00.000Z' });
    expect(defaulted.declared({ type: 'x', ...defaulted.toSpec() })).toEqual({ type: 'x' });
    const given = TriggerWindow.parse({ startAt: T0 }, rules);
    expect(given.declared(given.toSpec())).toEqual({ startAt: '2026-03-01T00:00:00.000Z' });
  });

  it('withStartAtDeclared changes only the flag', () => {
    const given = parse({ startAt: T0, endAt: T0 + 1, timezone: 'UTC', jitter: 1 });
    expect(given.withStartAtDeclared(true)).toBe(given);
    const undeclared = given.withStartAtDeclared(false);
    expect(undeclared.startAtDeclared).toBe(false);
    expect(undeclared.toSpec()).toEqual(given.toSpec());
    expect(undeclared.declared(undeclared.toSpec())).not.toHaveProperty('startAt');
  });

  it('splitWindowSpec: the other keys in their order, and the window keys the spec has', () => {
    const spec = {
      type: 'interval',
      seconds: 5,
      startAt: '2026-03-01T00:00:00.000Z',
      timezone: undefined,
      minutes: 1,
      jitter: 3,
    };
    const [rest, options] = splitWindowSpec(spec);
    expect(Object.keys(rest)).toEqual(['type', 'seconds', 'minutes']);
    expect(options).toEqual({ startAt: '2026-03-01T00:00:00.000Z', jitter: 3 });
    expect(Object.keys(options)).toEqual(['startAt', 'jitter']);
  });

  it('splitWindowSpec passes null on, for the parse to reject it by name', () => {
    const [, options] = splitWindowSpec({ startAt: null as never });
    expect(options).toEqual({ startAt: null });
    expectValueError(() => parse(options), 'Test: startAt', 'null');
  });

  it('a spec written by toSpec parses back to the same window', () => {
    const window = parse({ startAt: T0, endAt: T0 + 60_000, timezone: 'Asia/Tokyo', jitter: 'PT5S' });
    const [, options] = splitWindowSpec(JSON.parse(JSON.stringify(window.toSpec())));
    expect(parse(options).toSpec()).toEqual(window.toSpec());
  });
});

describe('other bound types (calendar dates)', () => {
  /** Days since 1970-01-01, read from `YYYY-MM-DD`, as a calendar interval's bounds are. */
  const DAYS: BoundType<number> = {
    read: (input, _zone, what) => {
      if (typeof input !== 'string') throw new Error(`${what}: not a date`);
      return Date.parse(input) / 86_400_000;
    },
    toNumber: (day) => day,
    write: (day) => new Date(day * 86_400_000).toISOString().slice(0, 10),
  };
  const days = (options: WindowOptions) =>
    TriggerWindow.parse(options, { component: 'Test', bounds: DAYS, defaultStartAt: () => 0 });

  it('are read, compared and written by their BoundType', () => {
    const window = days({ startAt: '2026-03-01', endAt: '2026-03-03' });
    expect(window.startAt).toBe(20513);
    expect(window.toSpec()).toEqual({ startAt: '2026-03-01', endAt: '2026-03-03' });
    expect(window.isAfterEnd(20515)).toBe(false);
    expect(window.isAfterEnd(20516)).toBe(true);
    expect(window.notBeforeStart(20000)).toBe(20513);
  });

  it('endAt before startAt quotes them as written', () => {
    expectValueError(
      () => days({ startAt: '2026-03-02', endAt: '2026-03-01' }),
      'Test: endAt 2026-03-01 is before startAt 2026-03-02',
    );
  });
});
