/**
 * Wall-clock time and instants in an IANA zone, with the DST rule of API.md in one place.
 *
 * A wall-clock time is encoded as the epoch milliseconds it would have if the zone were UTC:
 * 2024-03-10 02:30 in any zone is `Date.UTC(2024, 2, 10, 2, 30)`. Triggers find their wall-clock
 * times in that frame (which has no DST) and map them to instants with the functions here:
 * - a wall time that exists once maps to that instant;
 * - a wall time repeated by a fall-back maps to its first occurrence (or to both, on request);
 * - a wall time skipped by a spring-forward gap is shifted forward by the length of the gap.
 *
 * Offsets come from `Intl.DateTimeFormat` (one cached formatter per zone). A zone's timeline is cut
 * into segments of constant offset, found by sampling the offset every two days and bisecting
 * where it changes; segments are cached per zone in blocks of 128 days. The closest pair of
 * transitions in the zone database is about four days apart (Africa/Freetown, 1939), so a
 * two-day sample cannot miss one. Instants from year 1 to 9999 are supported.
 */

const SECOND_MS = 1000;
const DAY_MS = 86_400_000;
/** Offsets are sampled this far apart; any two transitions of a zone are further apart than this. */
const SAMPLE_STEP_MS = 2 * DAY_MS;
/** Segments are computed and cached in blocks of this length. */
const BLOCK_MS = 128 * DAY_MS;
/**
 * Each block also looks this far back, so that its first segment starts at a real transition when
 * one lies just before the block (a gap or an overlap lasts at most a day).
 */
const BLOCK_LOOKBACK_MS = 2 * DAY_MS;
/** Larger than any offset a zone has ever had (Asia/Manila's LMT was -15:56). */
const MAX_OFFSET_MS = 30 * 3_600_000;
/** The last instant and wall-clock time handled (the end of year 9999). */
const MAX_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
/** A zone's cache is dropped when it holds more blocks than this. */
const MAX_CACHED_BLOCKS = 256;

/** Which occurrences of a wall time repeated by a fall-back fire: the first only, or every one. */
export type RepeatedWallTimes = 'first' | 'every';

/**
 * Finds the first matching wall-clock time at or after `fromWall` (both encoded as UTC ms),
 * or `null` when there is none.
 */
export type WallTimeFinder = (fromWall: number) => number | null;

/** An interval `[start, end)` of instants over which a zone's offset is constant. */
interface OffsetSegment {
  /** First instant; a transition, unless `previousOffset` equals `offset`. */
  start: number;
  /** First instant after the segment (a transition or the end of a cached block). */
  end: number;
  /** Wall-clock time minus instant, in ms, inside the segment. */
  offset: number;
  /** The offset just before `start`. */
  previousOffset: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const segmentBlocks = new Map<string, Map<number, OffsetSegment[]>>();

/** The zone's offset (wall-clock time minus instant, in ms) at `instant`. */
export function zoneOffset(instant: number, zone: string): number {
  return segmentAt(instant, zone).offset;
}

/** The wall-clock time (encoded as UTC ms) that the zone shows at `instant`. */
export function wallClockAt(instant: number, zone: string): number {
  return instant + zoneOffset(instant, zone);
}

/**
 * Every instant at which the zone shows `wall`, in order: one, or two in a fall-back overlap.
 * A wall time skipped by a spring-forward gap yields the single instant shifted forward by the
 * length of the gap (02:30 → 03:30 on a one-hour jump).
 */
export function wallToInstants(wall: number, zone: string): number[] {
  const occurrences: number[] = [];
  let shiftedOutOfGap: number | null = null;
  let cursor = wall - MAX_OFFSET_MS;
  while (cursor <= wall + MAX_OFFSET_MS) {
    const segment = segmentAt(cursor, zone);
    const instant = wall - segment.offset;
    if (instant >= cursor && instant < segment.end) occurrences.push(instant);
    if (isInGapBefore(segment, wall)) shiftedOutOfGap = wall - segment.previousOffset;
    cursor = segment.end;
  }
  if (occurrences.length > 0) return occurrences;
  // Every wall time is shown or skipped; the last fallback only guards against an impossible timeline.
  return shiftedOutOfGap === null ? [wall - zoneOffset(wall, zone)] : [shiftedOutOfGap];
}

/**
 * The instant at which `wall` fires under the DST rule: its only instant, its first occurrence
 * when a fall-back repeats it, or shifted forward by the gap when a spring-forward skips it.
 */
export function wallToInstant(wall: number, zone: string): number {
  return wallToInstants(wall, zone)[0] as number;
}

/**
 * The first instant at or after `from` at which one of the wall-clock times that `findWallTime`
 * enumerates fires under the DST rule, or `null` when none does.
 *
 * A wall time skipped by a gap fires shifted forward by the gap; a wall time repeated by a
 * fall-back fires at its first occurrence (`repeated: 'first'`) or at both (`'every'`). Equal
 * instants are one fire time. The work is a few `findWallTime` calls per segment of constant
 * offset crossed, so a per-second schedule costs microseconds; segments that lie wholly before the
 * next matching wall time are jumped over, so a fire time years away costs what a near one does.
 */
export function firstFireInstant(
  from: number,
  zone: string,
  findWallTime: WallTimeFinder,
  repeated: RepeatedWallTimes,
): number | null {
  const findCached = memoizedFinder(findWallTime);
  let cursor = from;
  let earliest: number | null = null;
  while (cursor <= MAX_TIME_MS) {
    const segment = segmentAt(cursor, zone);
    earliest = earlierOf(earliest, shiftedFireInGap(segment, cursor, findCached));
    const wall = findCached(firstWallToSearch(segment, cursor, repeated));
    if (wall !== null && wall - segment.offset < segment.end) {
      earliest = earlierOf(earliest, wall - segment.offset);
    }
    if (wall === null || (earliest !== null && earliest < segment.end)) return earliest;
    const next = nextCursor(segment.end, findCached);
    if (next === null) return earliest;
    cursor = next;
  }
  return earliest;
}

/**
 * Where the search goes on after a segment that ends at `segmentEnd` held no fire time: the segment
 * end, or later when the next matching wall time is far off (a yearly or far-year schedule), so that
 * the blocks in between are never computed. Every fire time at or after an instant `t` comes from a
 * wall time at or after `t - MAX_OFFSET_MS` (its own, or the skipped one it was shifted from) and lies
 * after that wall time `- MAX_OFFSET_MS`. `null` when no wall time matches any more.
 */
function nextCursor(segmentEnd: number, findWallTime: WallTimeFinder): number | null {
  const firstWall = findWallTime(segmentEnd - MAX_OFFSET_MS);
  return firstWall === null ? null : Math.max(segmentEnd, firstWall - MAX_OFFSET_MS);
}

/** The first wall time to look at for real (unshifted) fire times in `segment` from `cursor` on. */
function firstWallToSearch(segment: OffsetSegment, cursor: number, repeated: RepeatedWallTimes): number {
  const wallAtCursor = cursor + segment.offset;
  const isOverlapStart = segment.previousOffset > segment.offset;
  if (repeated === 'first' && isOverlapStart) {
    // Wall times before this one were shown before the fall-back: their first occurrence is gone.
    return Math.max(wallAtCursor, segment.start + segment.previousOffset);
  }
  return wallAtCursor;
}

/**
 * The earliest fire time at or after `cursor` that comes from a wall time skipped by the gap at
 * the start of `segment` (if it starts with a spring-forward), shifted forward by the gap.
 */
function shiftedFireInGap(
  segment: OffsetSegment,
  cursor: number,
  findWallTime: WallTimeFinder,
): number | null {
  const gapLength = segment.offset - segment.previousOffset;
  if (gapLength <= 0 || cursor >= segment.start + gapLength) return null;
  // A skipped wall time w fires at w - previousOffset, an instant in [start, start + gapLength).
  const gapEndWall = segment.start + segment.offset;
  const wall = findWallTime(cursor + segment.previousOffset);
  if (wall === null || wall >= gapEndWall) return null;
  return wall - segment.previousOffset;
}

/** True when `wall` falls in the spring-forward gap at the start of `segment`. */
function isInGapBefore(segment: OffsetSegment, wall: number): boolean {
  return (
    segment.offset > segment.previousOffset &&
    wall >= segment.start + segment.previousOffset &&
    wall < segment.start + segment.offset
  );
}

/** Wraps a finder so that repeated searches that must land on the same answer cost nothing. */
function memoizedFinder(findWallTime: WallTimeFinder): WallTimeFinder {
  let searchedFrom = Number.POSITIVE_INFINITY;
  let found: number | null = null;
  return (fromWall) => {
    const answerStillHolds = fromWall >= searchedFrom && (found === null || fromWall <= found);
    if (!answerStillHolds) {
      searchedFrom = fromWall;
      found = fromWall > MAX_TIME_MS ? null : findWallTime(fromWall);
    }
    return found;
  };
}

function earlierOf(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

/** The segment of constant offset that holds `instant`. */
function segmentAt(instant: number, zone: string): OffsetSegment {
  const blockIndex = Math.floor(instant / BLOCK_MS);
  const segments = cachedBlock(zone, blockIndex);
  for (const segment of segments) {
    if (instant < segment.end) return segment;
  }
  throw new RangeError(`no offset segment holds ${instant} in ${zone}`);
}

function cachedBlock(zone: string, blockIndex: number): OffsetSegment[] {
  let blocks = segmentBlocks.get(zone);
  if (blocks === undefined || blocks.size >= MAX_CACHED_BLOCKS) {
    blocks = new Map();
    segmentBlocks.set(zone, blocks);
  }
  let segments = blocks.get(blockIndex);
  if (segments === undefined) {
    segments = computeBlock(zone, blockIndex);
    blocks.set(blockIndex, segments);
  }
  return segments;
}

/**
 * The segments of constant offset covering block `blockIndex`, in order. The first one starts at
 * the last transition within `BLOCK_LOOKBACK_MS` before the block, else at the block's start.
 */
function computeBlock(zone: string, blockIndex: number): OffsetSegment[] {
  const blockStart = blockIndex * BLOCK_MS;
  const blockEnd = blockStart + BLOCK_MS;
  const sampleFrom = blockStart - BLOCK_LOOKBACK_MS;
  const segments: OffsetSegment[] = [];
  let segmentStart = sampleFrom;
  let previousOffset = readOffset(sampleFrom - SECOND_MS, zone);
  let offset = readOffset(sampleFrom, zone);
  let sampledAt = sampleFrom;
  while (sampledAt < blockEnd) {
    // The last sample is the block's last second, so that a transition at blockEnd belongs to the next block.
    const nextSample = Math.min(sampledAt + SAMPLE_STEP_MS, blockEnd - SECOND_MS);
    const nextOffset = readOffset(nextSample, zone);
    if (nextOffset !== offset) {
      const transition = findTransition(sampledAt, nextSample, offset, zone);
      segments.push({ start: segmentStart, end: transition, offset, previousOffset });
      segmentStart = transition;
      previousOffset = offset;
      offset = nextOffset;
    }
    sampledAt = nextSample === blockEnd - SECOND_MS ? blockEnd : nextSample;
  }
  segments.push({ start: segmentStart, end: blockEnd, offset, previousOffset });
  return dropSegmentsBefore(segments, blockStart);
}

/** Drops the lookback segments that end before the block; they are only there to date the first transition. */
function dropSegmentsBefore(segments: OffsetSegment[], blockStart: number): OffsetSegment[] {
  return segments.filter((segment) => segment.end > blockStart);
}

/** The first whole second after `before` whose offset differs from `offsetBefore`, by bisection. */
function findTransition(before: number, after: number, offsetBefore: number, zone: string): number {
  let low = before;
  let high = after;
  while (high - low > SECOND_MS) {
    const middle = low + Math.floor((high - low) / 2 / SECOND_MS) * SECOND_MS;
    if (readOffset(middle, zone) === offsetBefore) low = middle;
    else high = middle;
  }
  return high;
}

/** Reads the zone's offset at `instant` (to the second) from Intl. */
function readOffset(instant: number, zone: string): number {
  const second = Math.floor(instant / SECOND_MS) * SECOND_MS;
  const fields = formatterFor(zone).format(second).match(/\d+/g);
  if (fields === null || fields.length !== 6) {
    throw new RangeError(`cannot read the wall clock of ${zone} at ${second}`);
  }
  const [month, day, year, hour, minute, secondOfMinute] = fields.map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const wall = new Date(0);
  wall.setUTCFullYear(year, month - 1, day);
  wall.setUTCHours(hour, minute, secondOfMinute, 0);
  return wall.getTime() - second;
}

function formatterFor(zone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(zone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, formatter);
  }
  return formatter;
}
