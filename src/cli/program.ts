/**
 * The `kairos` command line: its commands and options (commander), and the one rule for failures: one line on
 * stderr, prefixed `kairos: `, never a stack trace, and an exit code (0 done, 1 could not be done, 2 bad input).
 * Each command's work is in commands/, loaded when that command runs.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { DURATION_FORMS } from './durations.js';
import { describeFailure, EXIT, type ExitCode, oneLine } from './errors.js';
import { makeOutput, type Output } from './output.js';
import type { OpenStore } from './store-open.js';
import { parseStoreLocation, STORE_ENV, STORE_FORMS } from './store-url.js';

/** Where the command line reads and writes (the process's, unless a caller gives others). */
export interface CliIo {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
}

/** A command's work: resolves with its exit code, or with anything else for 0. */
type Work = () => Promise<unknown>;

const MAIN_HELP = `
Stores (--store, or the ${STORE_ENV} environment variable):
  sqlite:PATH        a SQLiteStore database file
  file:PATH          a FileStore JSON document
  postgres://USER@HOST:PORT/DB[?schema=NAME]
                     a PostgresStore, schema default 'kairos' (or postgresql://)
  The store must exist: kairos never creates one. Every change is safe while
  schedulers run on the store, and they see it within a second.

Durations: 90m, 1h30m, 45s, 2d, 500ms (units w d h m s ms) or ISO 8601 (PT90M).

Output: tables fit 80 columns; colour only on a terminal, never with NO_COLOR;
--json prints JSON with ISO 8601 times instead.

Exit codes: 0 done; 1 could not be done (no scheduler took a run, a server
unreachable, a run failed with --wait); 2 bad input (unknown command or option,
bad --store, expression, zone or duration, unknown id, no such store file).
Failures are one line on stderr.
`;

/** Runs the command line `args` (without `node` and the script) and resolves with the exit code. */
export async function runCli(args: readonly string[], io: CliIo = processIo()): Promise<ExitCode> {
  let work: { run: Work } | null = null;
  const program = buildProgram(io, (run) => {
    work = { run };
  });
  try {
    await program.parseAsync([...args], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return commanderExit(error, args, io);
    return fail(error, io);
  }
  const chosen = work as { run: Work } | null;
  if (chosen === null) return EXIT.ok;
  try {
    const code = await chosen.run();
    return code === EXIT.failed || code === EXIT.badInput ? code : EXIT.ok;
  } catch (error) {
    return fail(error, io);
  }
}

function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}

/** The commander program; each command's action hands its work to `choose` (run after parsing). */
export function buildProgram(io: CliIo, choose: (work: Work) => void): Command {
  const program = new Command('kairos')
    .description('Inspect and operate kairos stores: fire times, tasks, runs, pause, run now.')
    .usage('<command> [options]')
    .version(packageVersion(), '-V, --version', 'print the version of kairos')
    .helpCommand(true)
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      // Failures are written once, as one line, by `runCli`.
      writeErr: () => {},
      outputError: () => {},
    })
    .addHelpText('after', MAIN_HELP);

  const output = (json: boolean | undefined): Output =>
    makeOutput(json === true, io.stdout, io.stderr, io.env);
  const onStore = (options: { store?: string }, run: (open: OpenStore) => Promise<unknown>): Work => {
    return async () => {
      const location = parseStoreLocation(options.store, io.env);
      const { withStore } = await import('./store-open.js');
      return withStore(location, run, io.env);
    };
  };
  const storeOption = `the store: ${STORE_FORMS} (default: $${STORE_ENV})`;

  program
    .command('next')
    .description('next fire times of a cron or interval, DST marked')
    .argument('[expression]', "a cron expression: 5 fields, 6 with seconds first, 7 with a year, or '@daily'")
    .option('--every <duration>', `an interval instead of a cron expression: ${DURATION_FORMS}`)
    .option(
      '--start <date>',
      'list from this date (ISO 8601; without an offset, in --tz); for --every, the first fire time',
    )
    .option('--tz <zone>', 'the IANA zone the expression reads (default: the system zone)')
    .option('-n, --count <n>', 'how many fire times (1 to 1000)', '5')
    .option('--json', 'print JSON')
    .action((expression: string | undefined, options) => {
      choose(async () => {
        const { nextCommand } = await import('./commands/next.js');
        await nextCommand(expression, options, output(options.json));
      });
    });

  program
    .command('tasks')
    .description('every task: trigger, next run, paused, last run')
    .option('--store <url>', storeOption)
    .option('--tz <zone>', "show times in this zone (default: the task's own zone, else the system zone)")
    .option('--json', 'print JSON')
    .action((options) => {
      choose(
        onStore(options, async (open) => {
          const { tasksCommand } = await import('./commands/tasks.js');
          await tasksCommand(open, options, output(options.json));
        }),
      );
    });

  program
    .command('show')
    .description('one task in full, with its last 5 runs')
    .argument('<id>', 'the task id')
    .option('--store <url>', storeOption)
    .option('--tz <zone>', "show times in this zone (default: the task's own zone, else the system zone)")
    .option('--json', 'print JSON')
    .action((id: string, options) => {
      choose(
        onStore(options, async (open) => {
          const { showCommand } = await import('./commands/tasks.js');
          await showCommand(open, id, options, output(options.json));
        }),
      );
    });

  program
    .command('runs')
    .description('run history, newest first (of one task, or all)')
    .argument('[id]', 'only the runs of this task')
    .option('--store <url>', storeOption)
    .option('--failed', 'only failed runs (outcome error, timeout or aborted)')
    .option('-n, --limit <n>', 'at most this many runs', '20')
    .option('--tz <zone>', 'show times in this zone')
    .option('--json', 'print JSON')
    .action((id: string | undefined, options) => {
      choose(
        onStore(options, async (open) => {
          const { runsCommand } = await import('./commands/runs.js');
          await runsCommand(open, id, options, output(options.json));
        }),
      );
    });

  const change = (name: 'pause' | 'resume' | 'remove', description: string) =>
    program
      .command(name)
      .description(description)
      .argument('<id>', 'the task id')
      .option('--store <url>', storeOption)
      .option('--json', 'print JSON')
      .action((id: string, options) => {
        choose(
          onStore(options, async (open) => {
            const commands = await import('./commands/change.js');
            const command = {
              pause: commands.pauseCommand,
              resume: commands.resumeCommand,
              remove: commands.removeCommand,
            }[name];
            await command(open, id, output(options.json));
          }),
        );
      });
  change('pause', 'pause a task, as Scheduler.pauseTask does');
  change('resume', 'resume a task, its next run computed from now');
  change('remove', 'remove a task');

  const runNow = (name: 'run-now' | 'replay', argument: string, description: string) =>
    program
      .command(name)
      .description(description)
      .argument(`<${argument}>`, argument === 'id' ? 'the task id' : 'the run id (see kairos runs)')
      .option('--store <url>', storeOption)
      .option('--timeout <duration>', 'how long to wait for a scheduler to take the run', '5s')
      .option('--wait', 'wait for the run to end and report its outcome (exit 1 if it failed)')
      .option('--wait-timeout <duration>', 'with --wait: the longest to wait (default: no limit)')
      .option('--json', 'print JSON')
      .action((value: string, options) => {
        choose(
          onStore(options, async (open) => {
            const { runNowCommand, replayCommand } = await import('./commands/run-now.js');
            const command = name === 'run-now' ? runNowCommand : replayCommand;
            return command(open, value, options, output(options.json));
          }),
        );
      });
  runNow('run-now', 'id', 'have a running scheduler run a task now');
  runNow('replay', 'run-id', 'have a running scheduler run a recorded run again');

  return program;
}

/** The version in kairos' package.json, found above this file (src/cli or dist/src/cli). */
function packageVersion(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const json = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (json.name === 'kairos' && typeof json.version === 'string') return json.version;
    } catch {
      // Not this one.
    }
  }
  return 'unknown';
}

/**
 * The exit of a commander error: help and version are done (0); help shown for want of a command, and anything
 * else, is bad input (2), said in one line.
 */
function commanderExit(error: CommanderError, args: readonly string[], io: CliIo): ExitCode {
  if (error.exitCode === 0) return EXIT.ok;
  if (error.code === 'commander.help') {
    const asked = args[0] === 'help' ? args[1] : undefined;
    const what = asked === undefined ? 'no command given' : `unknown command '${asked}'`;
    io.stderr.write(`kairos: ${what}; run 'kairos --help' to see the commands\n`);
    return EXIT.badInput;
  }
  const message = oneLine(error.message.replace(/^error: /, ''));
  io.stderr.write(`kairos: ${message}\n`);
  return EXIT.badInput;
}

/** Writes a failure as one line (with the stack only under `KAIROS_DEBUG`) and returns its exit code. */
function fail(error: unknown, io: CliIo): ExitCode {
  const { line, exitCode } = describeFailure(error);
  io.stderr.write(`kairos: ${line}\n`);
  if (io.env.KAIROS_DEBUG !== undefined && error instanceof Error && error.stack !== undefined) {
    io.stderr.write(`${error.stack}\n`);
  }
  return exitCode;
}
