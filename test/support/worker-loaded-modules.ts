/**
 * A child process for test/executors/worker.test.ts:
 * `node --import tsx test/support/worker-loaded-modules.ts [loaded|missing]`.
 * - `loaded`: prints whether piscina is loaded (in the CommonJS cache) after importing kairos and the
 *   WorkerExecutor module, after constructing one, and after `start()`.
 * - `missing`: hides piscina (a resolve hook fails to find it, as when it is not installed), starts a
 *   WorkerExecutor and prints the error: `{ name, kairos, message }`.
 */
import { createRequire, register } from 'node:module';
import { sep } from 'node:path';
import { pino } from 'pino';

const mode = process.argv[2];
const logger = pino({ level: 'silent' });
const require = createRequire(import.meta.url);
const piscinaLoaded = () => Object.keys(require.cache).some((file) => file.includes(`${sep}piscina${sep}`));

if (mode === 'loaded') {
  await import('../../src/index.js');
  const { WorkerExecutor } = await import('../../src/executors/worker.js');
  const afterImport = piscinaLoaded();
  const executor = new WorkerExecutor({ threads: 1 });
  const afterConstruct = piscinaLoaded();
  await executor.start({ logger, alias: 'default' });
  const afterStart = piscinaLoaded();
  await executor.shutdown({ wait: true });
  process.stdout.write(`${JSON.stringify({ afterImport, afterConstruct, afterStart })}\n`);
} else if (mode === 'missing') {
  const HIDE_PISCINA = `
export async function resolve(specifier, context, next) {
  if (specifier === 'piscina') {
    throw Object.assign(new Error("Cannot find package 'piscina'"), { code: 'ERR_MODULE_NOT_FOUND' });
  }
  return next(specifier, context);
}`;
  register(`data:text/javascript,${encodeURIComponent(HIDE_PISCINA)}`);
  const { KairosError } = await import('../../src/errors.js');
  const { WorkerExecutor } = await import('../../src/executors/worker.js');
  try {
    await new WorkerExecutor().start({ logger, alias: 'default' });
    process.stdout.write(`${JSON.stringify({ name: null })}\n`);
  } catch (error) {
    const { name, message } = error as Error;
    process.stdout.write(`${JSON.stringify({ name, kairos: error instanceof KairosError, message })}\n`);
  }
} else {
  throw new Error('usage: worker-loaded-modules.ts loaded|missing');
}
