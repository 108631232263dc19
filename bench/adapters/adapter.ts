/**
 * One interface over kairos and its peers, so that every scenario runs the same code against each library.
 * Each adapter uses the library's idiomatic API; a feature the library lacks is absent (N/A in the table).
 */

/** The libraries compared, kairos first. */
export const LIBRARIES = ['kairos', 'node-schedule', 'croner', 'toad-scheduler', 'cron'] as const;
export type LibraryName = (typeof LIBRARIES)[number];

/**
 * kairos with other scheduler options, measured beside kairos in the cases that list it (a column after
 * kairos'); never a peer ("best peer" ignores it). `--libs kairos` runs them too.
 */
export const KAIROS_VARIANTS = ['kairos-nohistory'] as const;
/** The name of a kairos variant, as `--libs` and bench/results/latest.json spell it. */
export type KairosVariant = (typeof KAIROS_VARIANTS)[number];

/** How the report heads each variant's column. */
export const VARIANT_LABELS: Readonly<Record<KairosVariant, string>> = {
  'kairos-nohistory': 'kairos (history off)',
};

/** Whether `library` is a kairos variant. */
export function isKairosVariant(library: string): library is KairosVariant {
  return (KAIROS_VARIANTS as readonly string[]).includes(library);
}

/** The scheduler options that make kairos (the defaults: `{}`) or a variant of it. */
export function kairosOptions(library: string): { history?: false } {
  return library === 'kairos-nohistory' ? { history: false } : {};
}

/** A task body; the scenarios pass a function that records the time it was called. */
export type Fire = () => void;

export interface Adapter {
  readonly name: LibraryName;
  /** Library version, for the report. */
  readonly version: string;
  /** Starts the scheduler (no-op for libraries without one). */
  start(): Promise<void>;
  /**
   * Schedules `fire` once at epoch ms `at`, under the caller's numeric `key`. Absent when the library has
   * no way to run a task once. Returns what the library's own call returns: a promise (kairos) is awaited.
   */
  once?(key: number, at: number, fire: Fire): unknown;
  /**
   * How `once` is done when the library has no one-shot task of its own and its users build one (toad-scheduler:
   * an interval job that stops itself after its first run), for the report; absent for a real one-shot API.
   */
  readonly onceHow?: string;
  /**
   * For S1-cron: schedules `fire` on cron `expression` in `timezone` with the library's own cron jobs, under
   * `key` (`nextRun` and `remove` take it). Absent when the library has no cron engine of its own.
   */
  cron?(key: number, expression: string, timezone: string, fire: Fire): void | Promise<void>;
  /**
   * Schedules `fire` every second. Returns the origin of the grid it fires on (epoch ms): 0 when it fires on
   * whole seconds, or the instant its interval started (toad-scheduler's setInterval).
   */
  everySecond?(key: number, fire: Fire): number | Promise<number>;
  /**
   * Only for libraries without one-shot tasks: a recurring job whose first run is `delayMs` from now, used
   * where a scenario needs "a task far ahead" (S4, S6). Documented as such in the report.
   */
  intervalFromNow?(key: number, delayMs: number, fire: Fire): void | Promise<void>;
  /** The library's own idea of task `key`'s next fire time (epoch ms), or undefined if it cannot tell. */
  nextRun(key: number): number | undefined | Promise<number | undefined>;
  /** Removes task `key`. */
  remove(key: number): void | Promise<void>;
  /** Removes every task, the library's bulk way if it has one, else one by one. */
  removeAll(): void | Promise<void>;
  /** How `removeAll` works, for the report. */
  readonly removeAllHow: string;
  /** Stops the scheduler; pending timers are cleared so the process can exit. */
  shutdown(): Promise<void>;
  /**
   * For S5: a function from an instant (epoch ms) to the next fire time strictly after it of `expression` in
   * `timezone`, with the library's own cron engine; null when the library has none of its own.
   */
  cronStepper?(expression: string, timezone: string): Promise<(previous: number) => number | null>;
  /** Which API `cronStepper` uses, for the report. */
  readonly cronHow?: string;
}

/** Loads an adapter by library name. */
export async function loadAdapter(name: string): Promise<Adapter> {
  switch (name) {
    case 'kairos':
    case 'kairos-nohistory':
      return (await import('./kairos.js')).create(kairosOptions(name));
    case 'node-schedule':
      return (await import('./node-schedule.js')).create();
    case 'croner':
      return (await import('./croner.js')).create();
    case 'toad-scheduler':
      return (await import('./toad-scheduler.js')).create();
    case 'cron':
      return (await import('./cron.js')).create();
    case 'none':
      return (await import('./none.js')).create();
    default:
      throw new Error(`unknown library '${name}'`);
  }
}

/** The version in a package's package.json. */
export async function packageVersion(pkg: string): Promise<string> {
  const { createRequire } = await import('node:module');
  const require = createRequire(import.meta.url);
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return '?';
  }
}
