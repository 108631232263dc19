/** Where a command writes: its results to stdout (a table, lines, or JSON with `--json`), warnings to stderr. */
import { colourWanted, type Palette, palette } from './colour.js';

/** A command's output channel. */
export interface Output {
  /** `--json` was given: write one JSON value, nothing else, to stdout. */
  readonly json: boolean;
  readonly colours: Palette;
  /** The width tables fit: the terminal's, or 80 when stdout is not a terminal. */
  readonly width: number;
  /** Writes lines to stdout. */
  lines(lines: readonly string[]): void;
  /** Writes `value` as JSON (indented) to stdout. */
  emitJson(value: unknown): void;
  /** Writes `kairos: warning: …` to stderr. */
  warn(text: string): void;
}

/** Output for `--json` or not, on these streams. */
export function makeOutput(
  json: boolean,
  stdout: NodeJS.WriteStream = process.stdout,
  stderr: NodeJS.WriteStream = process.stderr,
  env: NodeJS.ProcessEnv = process.env,
): Output {
  const colours = palette(!json && colourWanted(stdout, env));
  const width =
    stdout.isTTY === true && typeof stdout.columns === 'number' ? Math.max(40, stdout.columns) : 80;
  return {
    json,
    colours,
    width,
    lines(lines) {
      if (lines.length > 0) stdout.write(`${lines.join('\n')}\n`);
    },
    emitJson(value) {
      stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    },
    warn(text) {
      stderr.write(`kairos: warning: ${text.replace(/\s*[\r\n]+\s*/g, ' ')}\n`);
    },
  };
}
