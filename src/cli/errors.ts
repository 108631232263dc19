/**
 * How the `kairos` command fails: one line on stderr, prefixed `kairos: `, and an exit code that says whose
 * fault it was. Nothing here prints; `main.ts` does, once.
 */
import { KairosError, SerializationError, TaskLookupError, ValueError } from '../errors.js';

/** Exit codes of the `kairos` command. */
export const EXIT = {
  /** Done. */
  ok: 0,
  /** The input was fine but the operation could not be done (no scheduler took a run, a server is unreachable). */
  failed: 1,
  /** Bad input: an unknown command or option, a bad `--store`, expression, zone or duration, an unknown id. */
  badInput: 2,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure the command reports as one line, with its exit code. */
export class CliError extends Error {
  readonly exitCode: ExitCode;

  constructor(message: string, exitCode: ExitCode) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** Bad input (exit code 2). */
export function badInput(message: string): CliError {
  return new CliError(message, EXIT.badInput);
}

/** An operation that could not be done (exit code 1). */
export function failed(message: string): CliError {
  return new CliError(message, EXIT.failed);
}

/**
 * The line and exit code for any error a command throws: its own `CliError`s as they are; kairos' own
 * `ValueError` and `TaskLookupError` (a bad expression, zone, date, an unknown id) and `SerializationError` (a file
 * that is not a kairos store) are bad input; anything else could not be done (exit 1), said in one line.
 */
export function describeFailure(error: unknown): { line: string; exitCode: ExitCode } {
  if (error instanceof CliError) return { line: oneLine(error.message), exitCode: error.exitCode };
  if (error instanceof ValueError || error instanceof TaskLookupError || error instanceof SerializationError)
    return { line: oneLine(error.message), exitCode: EXIT.badInput };
  if (error instanceof KairosError) return { line: oneLine(error.message), exitCode: EXIT.failed };
  if (error instanceof Error)
    return { line: oneLine(error.message || error.name || String(error)), exitCode: EXIT.failed };
  return { line: oneLine(String(error)), exitCode: EXIT.failed };
}

/** A message on one line: line breaks and runs of blanks become one space. */
export function oneLine(message: string): string {
  return message.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}
