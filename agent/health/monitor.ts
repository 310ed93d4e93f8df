// The health of one running container: runs its probe every interval, counts consecutive
// failures against `retries`, ignores failures during start_period until a probe first
// succeeds (as Docker does), and reports each change of status with the last five results.
import { pino, type Logger } from 'pino';
import type { HealthConfig } from '../../proto/gen/types.js';
import { planHealthCheck, type HealthCheckPlan } from './config.js';
import { runProbe, type ProbeRuntime, type RunningProbe, type Timers } from './probe.js';

export type HealthState = 'starting' | 'healthy' | 'unhealthy';

/** One probe, as Docker's .State.Health.Log shows it. */
export interface HealthLogEntry {
  startMs: number;
  endMs: number;
  exitCode: number;
  output: string;
}

export interface HealthStatus {
  status: HealthState;
  failingStreak: number;
  /** The last five probes, oldest first. */
  log: HealthLogEntry[];
}

/** The time a monitor uses; tests may pass a fake one. */
export interface HealthClock extends Timers {
  now(): number;
}

export const realHealthClock: HealthClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
};

export const HEALTH_LOG_ENTRIES = 5;

export interface HealthMonitorOptions {
  runtime: ProbeRuntime;
  containerId: string;
  config: HealthConfig | undefined;
  clock?: HealthClock;
  logger?: Logger;
  onChange?: (status: HealthStatus) => void;
}

export class HealthMonitor {
  readonly plan: HealthCheckPlan;
  private readonly clock: HealthClock;
  private readonly log: Logger;
  private readonly listeners: ((s: HealthStatus) => void)[] = [];
  private state: HealthStatus = { status: 'starting', failingStreak: 0, log: [] };
  private startedAt = 0;
  private timer: { cancel(): void } | undefined;
  private probe: RunningProbe | undefined;
  private running = false;

  /** Throws HealthCheckConfigError for a test that cannot run. */
  constructor(private readonly opts: HealthMonitorOptions) {
    this.plan = planHealthCheck(opts.config);
    this.clock = opts.clock ?? realHealthClock;
    this.log = (opts.logger ?? pino({ level: process.env.SHOAL_LOG_LEVEL ?? 'info' })).child({ component: 'health', container: opts.containerId });
    if (opts.onChange) this.listeners.push(opts.onChange);
  }

  /** False for NONE (or no test): nothing runs and the status stays 'starting'. */
  get enabled(): boolean {
    return this.plan.args !== undefined;
  }

  get current(): HealthStatus {
    return { ...this.state, log: [...this.state.log] };
  }

  /** Adds a listener of status changes; returns a function that removes it. */
  onChange(fn: (s: HealthStatus) => void): () => void {
    this.listeners.push(fn);
    return () => {
      const i = this.listeners.indexOf(fn);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  start(): void {
    if (this.running || !this.enabled) return;
    this.running = true;
    this.startedAt = this.clock.now();
    this.schedule();
  }

  /** Stops checking and kills a probe still running. */
  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
    this.probe?.kill();
    this.probe = undefined;
  }

  private inStartPeriod(now: number): boolean {
    return now < this.startedAt + this.plan.startPeriodMs;
  }

  private schedule(): void {
    if (!this.running) return;
    const starting = this.state.status === 'starting' && this.inStartPeriod(this.clock.now());
    this.timer = this.clock.setTimeout(() => void this.check(), starting ? this.plan.startIntervalMs : this.plan.intervalMs);
  }

  private async check(): Promise<void> {
    if (!this.running) return;
    const startMs = this.clock.now();
    const probe = runProbe(this.opts.runtime, this.opts.containerId, this.plan.args!, this.plan.timeoutMs, this.clock);
    this.probe = probe;
    const r = await probe.result;
    if (!this.running || this.probe !== probe) return;
    this.probe = undefined;
    const endMs = this.clock.now();
    this.record({ startMs, endMs, exitCode: r.exitCode, output: r.output }, startMs);
    this.schedule();
  }

  private record(entry: HealthLogEntry, startMs: number): void {
    const prev = this.state.status;
    const log = [...this.state.log, entry].slice(-HEALTH_LOG_ENTRIES);
    let { status, failingStreak } = this.state;
    if (entry.exitCode === 0) {
      status = 'healthy';
      failingStreak = 0;
    } else if (!(status === 'starting' && this.inStartPeriod(startMs))) {
      // Failures in the start period count only once a probe has succeeded.
      failingStreak++;
      if (failingStreak >= this.plan.retries) status = 'unhealthy';
    }
    this.state = { status, failingStreak, log };
    if (status !== prev) {
      this.log.info({ status, failingStreak, exitCode: entry.exitCode }, 'health status changed');
      for (const fn of [...this.listeners]) fn(this.current);
    }
  }
}
