#!/usr/bin/env node
/**
 * The `kairos` command (package.json `bin`; built to dist/src/cli/main.js). See program.ts for the commands, and
 * README "Operating kairos".
 */
import { runCli } from './program.js';

// `kairos tasks | head -1`: a reader that went away is not a failure.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const code = await runCli(process.argv.slice(2));
process.exitCode = code;
// The store is closed; a socket still being torn down must not keep the command alive (an unref'd timer fires
// only if something else still holds the process open).
setTimeout(() => process.exit(code), 200).unref();
