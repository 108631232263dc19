/** Loggers and errors for tests of failures that cannot be reported. */
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
