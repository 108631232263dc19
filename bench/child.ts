/**
 * One scenario against one library, in a fresh process (the runner runs the compiled bench/results/build/):
 *   node --expose-gc bench/results/build/bench/child.js <scenario> <library> '<params json>'
 *   node --expose-gc --import tsx bench/child.ts <scenario> <library> '<params json>'   (the same, from source)
 * Prints one line `@@RESULT <json>` on stdout (libraries may print their own lines around it).
 */
import { kairosOptions, loadAdapter } from './adapters/adapter.js';
import { installTimerProbe, s1, s1cron, s2, s3, s4, s5, s6 } from './scenarios.js';

export const RESULT_MARK = '@@RESULT ';

async function main(): Promise<unknown> {
  const [scenario, library, paramsJson] = process.argv.slice(2);
  if (scenario === undefined || library === undefined)
    throw new Error('usage: child.ts <scenario> <library> [params]');
  const params = JSON.parse(paramsJson ?? '{}');
  // The timer probe must wrap setTimeout before the library loads.
  const probe = scenario === 'S4' || scenario === 'S6' ? installTimerProbe() : null;
  if (scenario === 'S7') {
    const { s7 } = await import('./s7-sqlite.js');
    return s7(params, kairosOptions(library));
  }
  if (scenario === 'S9') {
    // kairos only: an SQLite file of cron tasks, read by fresh processes (bench/s9-sqlite.ts).
    const { s9 } = await import('./s9-sqlite.js');
    return s9(params);
  }
  if (scenario === 'S8') {
    // A fleet of worker processes on one PostgreSQL database (bench/s8-postgres.ts); kairos, and croner done by hand.
    const { s8 } = await import('./s8-postgres.js');
    const version = (await loadAdapter(library)).version;
    return { version, ...(await s8(library, params)) };
  }
  const adapter = await loadAdapter(library);
  const run = async (): Promise<object> => {
    switch (scenario) {
      case 'S1':
        return s1(adapter, params);
      case 'S1-cron':
        return s1cron(adapter, params);
      case 'S2':
        return s2(adapter, params);
      case 'S3':
        return s3(adapter, params);
      case 'S4':
        return s4(adapter, params, probe!);
      case 'S5':
        return s5(adapter, params);
      case 'S6':
        return s6(adapter, params, probe!);
      default:
        throw new Error(`unknown scenario '${scenario}'`);
    }
  };
  return { version: adapter.version, ...(await run()) };
}

main().then(
  (result) => {
    process.stdout.write(`${RESULT_MARK}${JSON.stringify(result)}\n`, () => process.exit(0));
  },
  (error: unknown) => {
    // The message for the table; the first stack lines for bench/results/latest.json.
    const message = error instanceof Error ? error.message : String(error);
    const stack = error instanceof Error ? (error.stack ?? '').split('\n').slice(1, 4).join(' | ') : '';
    process.stdout.write(`${RESULT_MARK}${JSON.stringify({ error: message.split('\n')[0], stack })}\n`, () =>
      process.exit(1),
    );
  },
);
