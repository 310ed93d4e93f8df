// Durations as the wire carries them (int64 nanoseconds) and the floors of health checks.

/** The largest duration a Duration message holds: 2^63-1 ns, about 292 years. */
export const MAX_DURATION_NANOS = (1n << 63n) - 1n;

/** Why `nanos` cannot be a duration of `what`, or undefined. */
export function durationProblem(what: string, nanos: bigint): string | undefined {
  if (nanos < 0n) return `${what} must not be negative`;
  if (nanos > MAX_DURATION_NANOS) return `${what} is too long: at most ${MAX_DURATION_NANOS / 3_600_000_000_000n}h (${MAX_DURATION_NANOS} ns)`;
  return undefined;
}

/**
 * Docker's floor for a health check's timeout is 1 ms. Intervals get a higher one: every probe
 * is a process started inside the container, and at 1 ms probes run back to back and keep a
 * core busy per container; 100 ms bounds that to a few percent.
 */
export const MIN_HEALTH_TIMEOUT_NANOS = 1_000_000n;
export const MIN_HEALTH_INTERVAL_NANOS = 100_000_000n;

export interface HealthDurations {
  readonly interval?: { readonly nanos: bigint };
  readonly timeout?: { readonly nanos: bigint };
  readonly startPeriod?: { readonly nanos: bigint };
  readonly startInterval?: { readonly nanos: bigint };
}

/** The first problem of a health check's durations (0 or unset = the default), or undefined. */
export function healthDurationsProblem(h: HealthDurations, names = { interval: 'health interval', timeout: 'health timeout', startPeriod: 'health start period', startInterval: 'health start interval' }): string | undefined {
  const floors = [
    ['interval', MIN_HEALTH_INTERVAL_NANOS, h.interval],
    ['timeout', MIN_HEALTH_TIMEOUT_NANOS, h.timeout],
    ['startInterval', MIN_HEALTH_INTERVAL_NANOS, h.startInterval],
    ['startPeriod', 0n, h.startPeriod],
  ] as const;
  for (const [key, floor, d] of floors) {
    const nanos = d?.nanos ?? 0n;
    const problem = durationProblem(names[key], nanos);
    if (problem) return problem;
    if (nanos !== 0n && nanos < floor) return `${names[key]} of ${showNanos(nanos)} is below the minimum of ${showNanos(floor)}`;
  }
  return undefined;
}

export function showNanos(n: bigint): string {
  if (n >= 1_000_000_000n && n % 1_000_000_000n === 0n) return `${n / 1_000_000_000n}s`;
  if (n >= 1_000_000n && n % 1_000_000n === 0n) return `${n / 1_000_000n}ms`;
  if (n >= 1_000n && n % 1_000n === 0n) return `${n / 1_000n}us`;
  return `${n}ns`;
}
