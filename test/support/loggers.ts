/** Loggers and errors for tests of failures that cannot be reported. */
import { Writable } from 'node:stream';
import { pino } from 'pino';

/** A logger at the default level ('warn'): warn and error really serialize `err` (and write nowhere). */
export const warnLogger = pino({ level: 'warn' }, pino.destination({ dest: '/dev/null', sync: true }));

/** An error pino's standard serializer cannot read: an enumerable getter that throws. */
export function unloggableError(): Error {
  return Object.defineProperty(new Error('x'), 'detail', {
    enumerable: true,
    get() {
      throw new Error('getter');
    },
  });
}

/** A logger at warn level that keeps the message of every line it logs, in order. */
export function keepingLogger(): { logger: pino.Logger; messages: string[] } {
  const messages: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line.trim() !== '') messages.push((JSON.parse(line) as { msg: string }).msg);
      done();
    },
  });
  return { logger: pino({ level: 'warn' }, sink), messages };
}
