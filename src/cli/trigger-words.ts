/**
 * A trigger in words, from its spec (`trigger.toJSON()`, what stores keep): `every 5 minutes`,
 * `cron 0 9 * * 1-5 (America/New_York)`, `once at 2026-12-08 09:00 Europe/Berlin`,
 * `every 1 month at 09:00:00 (Europe/Berlin)`, `any of: …`, `all of: …`, `at shutdown`. One function per trigger
 * type; a type this release does not know is written as its JSON.
 */
import { DateTime } from 'luxon';
import type {
  CalendarIntervalTriggerSpec,
  CombiningTriggerSpec,
  CronTriggerSpec,
  DateTriggerSpec,
  IntervalTriggerSpec,
  TriggerSpec,
} from '../triggers/trigger.js';
import { durationInWords } from './durations.js';

/** Spec of an `AfterTrigger` (API.md "Task composition"), read loosely: it may be newer than this file. */
interface AfterTriggerSpec {
  type: 'after';
  tasks?: unknown;
  outcome?: unknown;
}

type Describer = (spec: never) => string;

const DESCRIBERS: Readonly<Record<string, Describer>> = {
  date: describeDate,
  interval: describeInterval,
  cron: describeCron,
  calendarinterval: describeCalendarInterval,
  and: (spec: CombiningTriggerSpec) => describeCombination('all of', spec),
  or: (spec: CombiningTriggerSpec) => describeCombination('any of', spec),
  shutdown: () => 'at shutdown',
  after: describeAfter,
};

/** The trigger in words; an unknown type (or a spec that does not read) as its JSON. */
export function triggerInWords(spec: TriggerSpec): string {
  const type = (spec as { type?: unknown } | null)?.type;
  const describe = typeof type === 'string' ? DESCRIBERS[type] : undefined;
  if (describe !== undefined) {
    try {
      return (describe as (spec: TriggerSpec) => string)(spec);
    } catch {
      // A spec this file misreads is still shown, as JSON.
    }
  }
  return JSON.stringify(spec);
}

/** The first zone a trigger names (itself or a child), or undefined. */
export function triggerZone(spec: TriggerSpec): string | undefined {
  const record = spec as { timezone?: unknown; triggers?: unknown };
  if (typeof record.timezone === 'string') return record.timezone;
  if (Array.isArray(record.triggers)) {
    for (const child of record.triggers) {
      const zone = triggerZone(child as TriggerSpec);
      if (zone !== undefined) return zone;
    }
  }
  return undefined;
}

function describeDate(spec: DateTriggerSpec): string {
  return `once at ${instantIn(spec.runAt, spec.timezone)}`;
}

const INTERVAL_UNITS = ['weeks', 'days', 'hours', 'minutes', 'seconds', 'milliseconds'] as const;

function describeInterval(spec: IntervalTriggerSpec): string {
  const parts: string[] = [];
  for (const unit of INTERVAL_UNITS) {
    const value = spec[unit];
    if (typeof value === 'number' && value > 0) parts.push(countOf(value, unit));
  }
  let words = `every ${parts.join(' ') || '0 ms'}`;
  if (spec.endAt !== undefined) words += ` until ${instantIn(spec.endAt, spec.timezone)}`;
  if (spec.jitter !== undefined && spec.jitter > 0) words += ` (jitter ${durationInWords(spec.jitter)})`;
  return words;
}

function describeCron(spec: CronTriggerSpec): string {
  let words = `cron ${spec.expression}`;
  if (spec.timezone !== undefined) words += ` (${spec.timezone})`;
  if (spec.startAt !== undefined) words += ` from ${instantIn(spec.startAt, spec.timezone)}`;
  if (spec.endAt !== undefined) words += ` until ${instantIn(spec.endAt, spec.timezone)}`;
  if (spec.jitter !== undefined && spec.jitter > 0) words += ` (jitter ${durationInWords(spec.jitter)})`;
  return words;
}

const CALENDAR_UNITS = ['years', 'months', 'weeks', 'days'] as const;

function describeCalendarInterval(spec: CalendarIntervalTriggerSpec): string {
  const parts: string[] = [];
  for (const unit of CALENDAR_UNITS) {
    const value = spec[unit];
    if (typeof value === 'number' && value > 0) parts.push(countOf(value, unit));
  }
  const time = [spec.hour ?? 0, spec.minute ?? 0, spec.second ?? 0]
    .map((part) => String(part).padStart(2, '0'))
    .join(':');
  let words = `every ${parts.join(' ')} at ${time}`;
  if (spec.timezone !== undefined) words += ` (${spec.timezone})`;
  if (spec.startAt !== undefined) words += ` from ${spec.startAt}`;
  if (spec.endAt !== undefined) words += ` until ${spec.endAt}`;
  return words;
}

function describeCombination(label: string, spec: CombiningTriggerSpec): string {
  const children = spec.triggers.map((child) => {
    const words = triggerInWords(child);
    return child.type === 'and' || child.type === 'or' ? `[${words}]` : words;
  });
  return `${label}: ${children.join('; ')}`;
}

function describeAfter(spec: AfterTriggerSpec): string {
  const tasks = Array.isArray(spec.tasks) ? spec.tasks.map(String) : [String(spec.tasks)];
  const outcome = spec.outcome === undefined ? 'success' : String(spec.outcome);
  const what = outcome === 'any' ? 'any end' : outcome;
  return `after ${what} of ${tasks.join(', ')}`;
}

/** `5 minutes`, `1 hour`: a count and a unit name, singular for 1. */
function countOf(value: number, unit: string): string {
  return `${value} ${value === 1 ? unit.slice(0, -1) : unit}`;
}

/** An ISO instant as `2026-12-08 09:00 Europe/Berlin` (seconds when it has them), in UTC without a zone. */
function instantIn(iso: string, zone: string | undefined): string {
  const time = DateTime.fromISO(iso, { zone: zone ?? 'utc' });
  if (!time.isValid) return iso;
  const format =
    time.millisecond !== 0
      ? 'yyyy-MM-dd HH:mm:ss.SSS'
      : time.second !== 0
        ? 'yyyy-MM-dd HH:mm:ss'
        : 'yyyy-MM-dd HH:mm';
  return `${time.toFormat(format)} ${zone ?? 'UTC'}`;
}
