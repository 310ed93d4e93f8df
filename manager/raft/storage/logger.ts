// The subset of a pino logger the library uses, so callers can pass pino or nothing.
export interface StorageLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export const silentLogger: StorageLogger = { info() {}, warn() {} };
