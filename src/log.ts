/** The scheduler's logger: reports about task failures never fail themselves. */
import { type Logger, pino } from 'pino';

type ErrorSerializer = (error: unknown) => unknown;

/**
 * A child of `logger` whose `err` serializer never throws. A task may fail with anything (an error with a
 * getter that throws, a revoked Proxy); logging it must not break dispatch. The logger's own `err` serializer,
 * if it has one, is kept and guarded.
 */
export function withSafeErrorSerializer(logger: Logger): Logger {
  const serializers = (logger as unknown as Record<symbol, Record<string, ErrorSerializer> | undefined>)[
    pino.symbols.serializersSym
  ];
  const serialize: ErrorSerializer = serializers?.err ?? (pino.stdSerializers.err as ErrorSerializer);
  return logger.child({}, { serializers: { err: (error: unknown) => serializeSafely(serialize, error) } });
}

function serializeSafely(serialize: ErrorSerializer, error: unknown): unknown {
  try {
    return serialize(error);
  } catch {
    let message: string;
    try {
      message = String((error as { message?: unknown })?.message ?? error);
    } catch {
      message = 'an error that cannot be read';
    }
    return { type: 'Unserializable', message };
  }
}
