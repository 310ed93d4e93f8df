// Sizes, durations, CPU counts and file modes as Docker writes them. Each parser returns the
// value or a message that says what is valid; callers attach the path and position.
import { MAX_DURATION_NANOS } from '../../rules/durations.js';

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = <T>(message: string): Parsed<T> => ({ ok: false, message });

const sizeUnits: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** `1.5G`, `512m`, `100k`, `1024` -> bytes (binary multiples, as Docker's RAMInBytes). */
export function parseSize(v: string | number): Parsed<number> {
  if (typeof v === 'number') {
    return Number.isSafeInteger(v) && v >= 0 ? ok(v) : bad(`invalid size ${v}: use a whole number of bytes or a unit, e.g. 512M`);
  }
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$/i.exec(v.trim());
  if (!m) return bad(`invalid size "${v}": write a positive number with an optional unit b, k, m, g, t, e.g. 512M or 1.5G`);
  const bytes = Math.round(Number(m[1]) * sizeUnits[m[2]!.toLowerCase()]!);
  if (!Number.isSafeInteger(bytes)) return bad(`size "${v}" is too large: at most 8P`);
  return ok(bytes);
}

const durationUnits: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go-style durations (`1m30s`, `500ms`, `2h`) -> milliseconds. */
export function parseDuration(v: string | number): Parsed<number> {
  if (typeof v === 'number') {
    return v === 0 ? ok(0) : bad(`invalid duration ${v}: add a unit, e.g. ${v}s`);
  }
  const s = v.trim();
  if (s === '0') return ok(0);
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let i = 0;
  while (i < s.length) {
    part.lastIndex = i;
    const m = part.exec(s);
    if (!m) return bad(`invalid duration "${v}": use numbers with units h, m, s, ms, us, ns, e.g. 1m30s or 500ms`);
    total += Number(m[1]) * durationUnits[m[2]!]!;
    i = part.lastIndex;
  }
  if (s.length === 0) return bad('empty duration: use e.g. 10s');
  // the wire holds int64 nanoseconds (rules/durations.ts): about 292 years
  if (!Number.isFinite(total) || total * 1e6 > Number(MAX_DURATION_NANOS)) return bad(`duration "${v}" is too long: at most ${MAX_DURATION_NANOS / 3_600_000_000_000n}h`);
  return ok(Math.round(total * 1e6) / 1e6);
}

/** `0.5`, `"2"` -> nano-CPUs (Docker's NanoCPUs). */
export function parseCpus(v: string | number): Parsed<number> {
  const n = typeof v === 'number' ? v : /^\s*(\d+(\.\d+)?|\.\d+)\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n) || n <= 0) return bad(`invalid cpus ${JSON.stringify(v)}: write a positive number of CPUs, e.g. 0.5 or "2"`);
  const nano = Math.round(n * 1e9);
  if (!Number.isSafeInteger(nano) || nano < 1) return bad(`cpus ${JSON.stringify(v)} is out of range`);
  return ok(nano);
}

/** File modes: YAML already read `0440` as octal 288; bounds only. */
export function checkMode(v: number): Parsed<number> {
  return Number.isInteger(v) && v >= 0 && v <= 0o7777 ? ok(v) : bad(`invalid file mode ${v}: write it in octal, e.g. 0440`);
}
