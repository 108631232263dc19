/**
 * A brute-force reference for the DST rule of API.md, written without src/wallclock.ts: it walks
 * real instants minute by minute, reads the wall clock with Intl, and derives what must fire.
 *
 * The rule, as read here:
 * - a matching wall time that the clock shows fires at the instant it shows it; when the hour field
 *   is not `*`, only the first time the clock shows it (a fall-back repeats wall times);
 * - a matching wall time that the clock skips (a spring-forward jumps over it) fires once, shifted
 *   forward by the length of the jump: at the instant the clock would have shown it without the jump;
 * - equal instants are one fire time.
 */

const MINUTE_MS = 60_000;
const SECOND_MS = 1000;

/** A change of a zone's offset. */
export interface Transition {
  zone: string;
  /** The first instant with the new offset. */
  at: number;
  /** Offset before, in ms (wall clock minus instant). */
  offsetBefore: number;
  /** Offset after, in ms. */
  offsetAfter: number;
}

const readers = new Map<string, (instant: number) => number>();

/** Returns a function that reads the wall clock of `zone` at an instant, as UTC-encoded ms. */
export function wallClockReader(zone: string): (instant: number) => number {
  let reader = readers.get(zone);
  if (reader === undefined) {
    reader = newWallClockReader(zone);
    readers.set(zone, reader);
  }
  return reader;
}

/** Reads the zone's offset from Intl's long GMT offset ("GMT-05:00", "GMT+05:45", "GMT-04:56:02"). */
function newWallClockReader(zone: string): (instant: number) => number {
  const formatter = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    timeZoneName: 'longOffset',
    hour: 'numeric',
  });
  return (instant) => {
    const text = formatter.format(instant);
    const match = /GMT([+-])(\d{2}):(\d{2})(?::(\d{2}))?/.exec(text);
    if (match === null) {
      if (text.endsWith('GMT')) return instant;
      throw new Error(`unreadable offset in ${zone}: ${text}`);
    }
    const [, sign, hours, minutes, seconds = '0'] = match;
    const offset = ((Number(hours) * 60 + Number(minutes)) * 60 + Number(seconds)) * SECOND_MS;
    return instant + (sign === '-' ? -offset : offset);
  };
}

/**
 * The transitions of `zone` in `[from, to)`: the offset sampled every `stepMs` (transitions in the
 * zone database are at least four days apart), then bisected to the second.
 */
export function findTransitions(
  zone: string,
  from: number,
  to: number,
  stepMs = 3 * 86_400_000,
): Transition[] {
  const wallAt = wallClockReader(zone);
  const offsetAt = (instant: number) => wallAt(instant) - instant;
  const transitions: Transition[] = [];
  let before = from;
  let offsetBefore = offsetAt(before);
  while (before < to) {
    const after = Math.min(before + stepMs, to);
    const offsetAfter = offsetAt(after);
    if (offsetAfter !== offsetBefore) {
      let low = before;
      let high = after;
      while (high - low > SECOND_MS) {
        const middle = low + Math.floor((high - low) / 2 / SECOND_MS) * SECOND_MS;
        if (offsetAt(middle) === offsetBefore) low = middle;
        else high = middle;
      }
      transitions.push({ zone, at: high, offsetBefore, offsetAfter });
    }
    before = after;
    offsetBefore = offsetAfter;
  }
  return transitions;
}

/** Whether a UTC-encoded wall time matches; `everyHour` says the hour field is `*`. */
export interface WallMatcher {
  matches(wall: number): boolean;
  everyHour: boolean;
}

/**
 * A matcher for the 5-field expressions the reference uses: minute and hour fields made of numbers,
 * ranges, `*` and `/` steps, joined by commas; day, month and day of week must be `*`.
 */
export function simpleCronMatcher(expression: string): WallMatcher {
  const [minute, hour, ...rest] = expression.split(' ');
  if (minute === undefined || hour === undefined || rest.join(' ') !== '* * *') {
    throw new Error(`the reference only reads 'minute hour * * *', got ${expression}`);
  }
  const minutes = fieldValues(minute, 59);
  const hours = fieldValues(hour, 23);
  return {
    matches: (wall) => {
      const date = new Date(wall);
      return date.getUTCSeconds() === 0 && minutes.has(date.getUTCMinutes()) && hours.has(date.getUTCHours());
    },
    everyHour: hour === '*',
  };
}

function fieldValues(field: string, max: number): Set<number> {
  const values = new Set<number>();
  for (const item of field.split(',')) {
    const [range = '', stepText] = item.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    const [low, high] = range === '*' ? [0, max] : range.split('-').map(Number);
    for (let value = low as number; value <= (high ?? low ?? 0); value += step) values.add(value);
  }
  return values;
}

/** The wall clock of a zone read at every whole minute of a window. */
export interface WallClockWalk {
  /** The first instant (a whole minute). */
  from: number;
  /** `walls[i]` is the wall clock (UTC-encoded ms) at `from + i` minutes. */
  walls: number[];
}

/** Reads the wall clock of `zone` at every whole minute from `from` (a whole minute) to `to`. */
export function walkWallClock(zone: string, from: number, to: number): WallClockWalk {
  const wallAt = wallClockReader(zone);
  const walls: number[] = [];
  for (let instant = from; instant <= to; instant += MINUTE_MS) walls.push(wallAt(instant));
  return { from, walls };
}

/**
 * The fire times in the walked window that the rule gives for `matcher`. The walk must start far
 * enough before any fall-back in it that the first occurrences of the repeated wall times are inside.
 */
export function referenceFireTimes(walk: WallClockWalk, matcher: WallMatcher): number[] {
  const to = walk.from + (walk.walls.length - 1) * MINUTE_MS;
  const fireTimes = new Set<number>();
  let latestWallSeen = Number.NEGATIVE_INFINITY;
  walk.walls.forEach((wall, index) => {
    const instant = walk.from + index * MINUTE_MS;
    const previousWall = walk.walls[index - 1];
    if (previousWall !== undefined) {
      // Wall minutes the clock jumped over since the previous minute fire where they would have been shown.
      for (let skipped = previousWall + MINUTE_MS; skipped < wall; skipped += MINUTE_MS) {
        const shifted = instant - MINUTE_MS + (skipped - previousWall);
        if (matcher.matches(skipped) && shifted <= to) fireTimes.add(shifted);
      }
    }
    const shownBefore = wall <= latestWallSeen;
    if (matcher.matches(wall) && (matcher.everyHour || !shownBefore)) fireTimes.add(instant);
    latestWallSeen = Math.max(latestWallSeen, wall);
  });
  return [...fireTimes].sort((a, b) => a - b);
}

/** The hour and minute of a UTC-encoded wall time. */
export function wallHourMinute(wall: number): { hour: number; minute: number } {
  const date = new Date(wall);
  return { hour: date.getUTCHours(), minute: date.getUTCMinutes() };
}
