/**
 * Colour: ANSI escapes only when stdout is a terminal and `NO_COLOR` is not set (to anything, even empty).
 * Everything that paints goes through a `Palette`, which is a no-op without colour.
 */

/** Paints text in one style. */
export type Paint = (text: string) => string;

/** The styles the command uses. */
export interface Palette {
  enabled: boolean;
  bold: Paint;
  dim: Paint;
  green: Paint;
  red: Paint;
  yellow: Paint;
  cyan: Paint;
}

/** Whether to colour output written to `stream`: a TTY, and `NO_COLOR` unset. */
export function colourWanted(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && env.NO_COLOR === undefined;
}

const plain: Paint = (text) => text;

function ansi(open: number, close: number): Paint {
  return (text) => (text === '' ? text : `\u001b[${open}m${text}\u001b[${close}m`);
}

/** A palette that paints (`enabled`) or leaves text as it is. */
export function palette(enabled: boolean): Palette {
  if (!enabled)
    return { enabled, bold: plain, dim: plain, green: plain, red: plain, yellow: plain, cyan: plain };
  return {
    enabled,
    bold: ansi(1, 22),
    dim: ansi(2, 22),
    green: ansi(32, 39),
    red: ansi(31, 39),
    yellow: ansi(33, 39),
    cyan: ansi(36, 39),
  };
}

/** How a run outcome is painted: success green, failures red, runs that never started yellow. */
export function outcomePaint(colours: Palette, outcome: string): Paint {
  if (outcome === 'success') return colours.green;
  if (outcome === 'error' || outcome === 'timeout' || outcome === 'aborted') return colours.red;
  if (outcome === 'missed' || outcome === 'skipped') return colours.yellow;
  return plain;
}

/** Removes ANSI escapes (for measuring, and for tests). */
export function stripAnsi(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching the escape character is the point.
  return text.replace(/\u001b\[[0-9;]*m/g, '');
}
