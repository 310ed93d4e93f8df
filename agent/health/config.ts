// A service's HealthConfig read the way Docker reads it: the test's first word says how to run
// it (CMD: argv, CMD-SHELL: /bin/sh -c, NONE: no checks), and unset durations take Docker's
// defaults.
import type { HealthConfig } from '../../proto/gen/types.js';
import { MIN_HEALTH_INTERVAL_NANOS, MIN_HEALTH_TIMEOUT_NANOS } from '../../rules/durations.js';

export const DEFAULT_INTERVAL_MS = 30_000;
export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_RETRIES = 3;
export const DEFAULT_START_INTERVAL_MS = 5_000;

/** A health check that cannot run as written. */
export class HealthCheckConfigError extends Error {
  readonly userError = true as const;
  constructor(message: string) {
    super(message);
    this.name = 'HealthCheckConfigError';
  }
}

export interface HealthCheckPlan {
  /** The probe's argv inside the container; undefined when checks are off. */
  args: string[] | undefined;
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
  /** Interval while in the start period (Docker's start_interval); the interval if unset. */
  startIntervalMs: number;
}

type DurationLike = { readonly nanos: bigint } | undefined;

/** Below the floor (rules/durations.ts; the control API refuses such specs) a value is raised to it. */
function ms(d: DurationLike, dflt: number, what: string, floorNanos = MIN_HEALTH_TIMEOUT_NANOS): number {
  if (!d || d.nanos === 0n) return dflt;
  if (d.nanos < 0n) throw new HealthCheckConfigError(`healthcheck ${what} is negative (${d.nanos} ns): give a positive duration such as 10s`);
  return Math.max(Number(floorNanos / 1_000_000n), Number(d.nanos / 1_000_000n));
}

export function planHealthCheck(config: Readonly<Omit<HealthConfig, 'test'>> & { readonly test: readonly string[] } | undefined): HealthCheckPlan {
  const test = config?.test ?? [];
  const intervalMs = ms(config?.interval, DEFAULT_INTERVAL_MS, 'interval', MIN_HEALTH_INTERVAL_NANOS);
  const plan: HealthCheckPlan = {
    args: undefined,
    intervalMs,
    timeoutMs: ms(config?.timeout, DEFAULT_TIMEOUT_MS, 'timeout'),
    retries: config?.retries || DEFAULT_RETRIES,
    startPeriodMs: ms(config?.startPeriod, 0, 'start_period'),
    startIntervalMs: config?.startInterval && config.startInterval.nanos > 0n ? ms(config.startInterval, DEFAULT_START_INTERVAL_MS, 'start_interval', MIN_HEALTH_INTERVAL_NANOS) : intervalMs,
  };
  // An empty test would inherit the image's check; shoal's images carry none, so: no checks.
  if (test.length === 0 || test[0] === 'NONE') return plan;
  const [kind, ...rest] = test;
  if (kind === 'CMD') {
    if (rest.length === 0 || !rest[0]) throw new HealthCheckConfigError('healthcheck test ["CMD"] names no command: write ["CMD", "program", "arg", ...]');
    return { ...plan, args: rest };
  }
  if (kind === 'CMD-SHELL') {
    if (rest.length !== 1 || !rest[0]) throw new HealthCheckConfigError('healthcheck test ["CMD-SHELL", ...] takes exactly one command line: write ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]');
    return { ...plan, args: ['/bin/sh', '-c', rest[0]] };
  }
  throw new HealthCheckConfigError(`healthcheck test starts with ${JSON.stringify(kind)}: it must start with "CMD", "CMD-SHELL" or "NONE"`);
}
