// The lab's structured log: quiet by default so CLI output stays readable; SHOAL_LOG_LEVEL=info
// (or debug) shows each step as one JSON line on stderr.
import { pino, type Logger } from 'pino';

export function labLogger(): Logger {
  return pino({ name: 'lab', level: process.env.SHOAL_LOG_LEVEL ?? 'warn' }, pino.destination(2));
}
