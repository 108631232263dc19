/**
 * Typed tasks: `addTask` checks `args` against the function's parameters at compile time, both for a function
 * given directly and for a name in the scheduler's `functions` (the scheduler keeps their types). Runs about 3 s.
 *
 *   npx tsx examples/typed-tasks.ts
 */
import { DateTrigger, IntervalTrigger, Scheduler } from '../src/index.js';

const started = Date.now();
/** Prints a line with the time since the start. */
function say(message: string): void {
  console.log(`+${String(Date.now() - started).padStart(4)} ms  ${message}`);
}

function sendReport(to: string, format: 'pdf' | 'csv' = 'pdf'): void {
  say(`report (${format}) sent to ${to}`);
}

function resize(width: number, height: number): void {
  say(`thumbnail resized to ${width}x${height}`);
}

/** A lifecycle task: its args go to the generator function, so they are checked the same way. */
async function* connection(url: string) {
  say(`connected to ${url}`);
  try {
    for (let query = 1; ; query++) {
      yield;
      say(`query ${query} on ${url}`);
    }
  } finally {
    say(`disconnected from ${url}`);
  }
}

const scheduler = new Scheduler({ timezone: 'UTC', functions: { sendReport } });
await scheduler.start();

// By name: checked against the registered function. These would not compile:
//   scheduler.addTask('sendReprot', { trigger, args: ['ops@example.com'] })  // not a registered name
//   scheduler.addTask('sendReport', { trigger, args: [42] })                 // 42 is not a string
await scheduler.addTask('sendReport', {
  id: 'report',
  trigger: new IntervalTrigger({ seconds: 1 }),
  args: ['ops@example.com', 'csv'],
});

// A function given directly: `args: [320]` (height missing) or `args: [320, '200']` would not compile.
await scheduler.addTask(resize, {
  id: 'thumbnail',
  trigger: new DateTrigger(Date.now() + 1500),
  args: [320, 200],
});

// A lifecycle task: `args: []` would not compile (url is required). Module references ('./jobs.js#fn') are
// loaded at run time, so their args are the one thing not checked.
await scheduler.addTask(connection, {
  id: 'db',
  trigger: new IntervalTrigger({ seconds: 1 }),
  args: ['postgres://db/app'],
});

setTimeout(async () => {
  await scheduler.shutdown();
  say('scheduler shut down');
}, 3200);
