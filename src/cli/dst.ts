/**
 * Marks on fire times near a DST change, for `kairos next`, computed with the wall-clock helpers the triggers use
 * (src/wallclock.ts):
 * - `gap`: the wall time asked for does not exist (a spring-forward skipped it) and the run is shifted forward by
 *   the gap (API.md's rule), e.g. `DST gap: 02:30 moved to 03:30`;
 * - `overlap`: the wall time exists twice (a fall-back repeats it), e.g. `DST overlap: 01:30 (1st of 2)`;
 * - `change`: the clocks changed since the previous fire time, e.g. `DST: clocks -1h since previous`.
 */
import { wallToInstants, zoneOffset } from '../wallclock.js';
import { formatOffsetChange, formatWallTimeOfDay } from './time-format.js';

/** A mark on a fire time. */
export interface DstMark {
  kind: 'gap' | 'overlap' | 'change';
  /** The mark in words. */
  text: string;
}

const DAY_MS = 86_400_000;

/**
 * The mark of fire time `fire` in `zone`, or null. `previous` is the fire time before it (or where the listing
 * started). `wallTimeMatches` says whether the trigger asks for a wall-clock time (encoded as UTC ms); without it
 * (an interval, which runs in real time and shifts nothing), no fire time is a shifted one.
 */
export function dstMark(
  fire: number,
  previous: number | null,
  zone: string,
  wallTimeMatches?: (wall: number) => boolean,
): DstMark | null {
  const offset = zoneOffset(fire, zone);
  const wall = fire + offset;
  const occurrences = wallToInstants(wall, zone);
  if (occurrences.length > 1) {
    const which = fire === occurrences[0] ? '1st' : '2nd';
    return { kind: 'overlap', text: `DST overlap: ${formatWallTimeOfDay(wall)} (${which} of 2)` };
  }
  // Transitions of a zone are days apart: an offset change within the last day is the only one.
  const gap = offset - zoneOffset(fire - DAY_MS, zone);
  if (gap > 0 && zoneOffset(fire - gap, zone) !== offset && wallTimeMatches !== undefined) {
    // `fire` lies within `gap` after a spring-forward: the wall time `gap` before its own was skipped.
    const skipped = wall - gap;
    if (wallTimeMatches(skipped)) {
      return {
        kind: 'gap',
        text: `DST gap: ${formatWallTimeOfDay(skipped)} moved to ${formatWallTimeOfDay(wall)}`,
      };
    }
  }
  if (previous !== null) {
    const change = offset - zoneOffset(previous, zone);
    if (change !== 0)
      return { kind: 'change', text: `DST: clocks ${formatOffsetChange(change)} since previous` };
  }
  return null;
}
