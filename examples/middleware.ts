/**
 * Middleware, in the Koa idiom: `scheduler.use(mw)` wraps every attempt of every task (the first added is the
 * outermost), and a task's own `middleware` goes inside those. A middleware may change `run.args` before `next()`,
 * and replace the result or catch the error after it; it runs inside `currentRun()`. Runs about 1 s.
 *
 *   npx tsx examples/middleware.ts
 */
import { pino } from 'pino';
import { currentRun, DateTrigger, type Middleware, Scheduler } from '../src/index.js';

const started = Date.now();
/** Prints a line with the time since the start. */
function say(message: string): void {
  console.log(`+${String(Date.now() - started).padStart(4)} ms  ${message}`);
}

/** What ran, in order, per task: middleware going in (`name>`) and coming out (`<name`), and the task itself. */
const order = new Map<string, string[]>();
function trace(step: string): void {
  const taskId = currentRun()?.taskId ?? '?'; // middleware and task alike run inside currentRun()
  order.set(taskId, [...(order.get(taskId) ?? []), step]);
}

// Log level 'error': keeps the retry below (logged at 'warn') off stderr.
const scheduler = new Scheduler({ timezone: 'UTC', logger: pino({ level: 'error' }) });

// Global: times every attempt of every task, whatever its outcome.
scheduler.use(async (run, next) => {
  trace('timing>');
  const begin = performance.now();
  try {
    return await next();
  } finally {
    const ms = (performance.now() - begin).toFixed(1);
    say(`[timing] ${run.taskId} attempt ${run.attempt} took ${ms} ms`);
    trace('<timing');
  }
});

// Per task: changes the args the task is called with (the task's stored args are untouched).
const addRegion: Middleware = async (run, next) => {
  trace('addRegion>');
  run.args = [...run.args, 'eu-west'];
  const result = await next();
  trace('<addRegion');
  return result;
};

// Per task: catches the task's error and returns a fallback result instead (the run then succeeds).
const cachedQuote: Middleware = async (run, next) => {
  trace('cachedQuote>');
  try {
    return await next();
  } catch (error) {
    say(`[cachedQuote] ${run.taskId} failed (${(error as Error).message}), using the cached quote`);
    return { price: 101.5, cached: true };
  } finally {
    trace('<cachedQuote');
  }
};

scheduler.on('task:executed', ({ taskId, result }) =>
  say(`task:executed ${taskId} -> ${JSON.stringify(result)}`),
);
scheduler.on('task:error', ({ taskId, error }) => say(`task:error ${taskId}: ${(error as Error).message}`));
await scheduler.start();

const soon = () => new DateTrigger(Date.now() + 100);
await scheduler.addTask(
  (report: string, region?: string) => {
    trace('task');
    say(`report: building '${report}' for region ${region}`);
    return `${report}@${region}`;
  },
  { id: 'report', trigger: soon(), args: ['sales'], middleware: [addRegion] },
);
await scheduler.addTask(
  () => {
    trace('task');
    throw new Error('quote service down');
  },
  { id: 'quote', trigger: soon(), middleware: [cachedQuote, addRegion] },
);
// No middleware of its own, and fails its first attempt: the global middleware wraps each attempt.
let syncCalls = 0;
await scheduler.addTask(
  () => {
    trace('task');
    if (++syncCalls === 1) throw new Error('CRM timed out');
    return 'synced';
  },
  { id: 'sync', trigger: soon(), retries: { max: 1, delay: 200 } },
);

await new Promise((resolve) => setTimeout(resolve, 600));
for (const [taskId, steps] of order) console.log(`order for ${taskId.padEnd(6)}: ${steps.join(' ')}`);
const [reportRun] = await scheduler.getRuns({ taskId: 'report' });
console.log(`report's recorded args: ${JSON.stringify(reportRun?.args)} (as stored, not as changed)`);
await scheduler.shutdown();
