// Keeps a leader's components running: each one that fails (throws, or returns while it should
// still run) is logged with its error and started again after a backoff. A component that fails
// `maxFailures` times within `windowMs` is failing for good as far as this manager can tell: the
// supervisor says so once (onFailing), so that the manager can step down for a healthy one, and
// keeps restarting it at the longest backoff meanwhile (a lone manager has no one to hand over to).
import type { Logger } from 'pino';
import type { Clock } from './clock.js';

export interface SupervisedComponent {
  readonly name: string;
  /** Runs until the signal aborts. A run that throws or returns before then has failed. */
  run(signal: AbortSignal): Promise<void>;
}

export interface SupervisionPolicy {
  /** Delay before the first restart; doubled after each failure in a row, up to maxDelayMs. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** This many failures of one component within windowMs: it keeps failing. */
  maxFailures: number;
  windowMs: number;
}

export const DEFAULT_SUPERVISION: SupervisionPolicy = { initialDelayMs: 100, maxDelayMs: 10_000, maxFailures: 5, windowMs: 60_000 };

export interface ComponentHealth {
  name: string;
  /** running, or waiting out its backoff before the next start */
  state: 'running' | 'restarting' | 'stopped';
  /** Failures within the last windowMs. */
  recentFailures: number;
  restarts: number;
  lastError?: string;
}

/** A component that kept failing: what onFailing and failing() report. */
export interface FailingComponent {
  name: string;
  failures: number;
  windowMs: number;
  error: string;
}

export interface SupervisorOptions {
  clock: Clock;
  log: Logger;
  policy?: Partial<SupervisionPolicy>;
  /** Called once per component per run() when it keeps failing. */
  onFailing?: (f: FailingComponent) => void;
}

interface Slot {
  c: SupervisedComponent;
  state: ComponentHealth['state'];
  failures: number[]; // clock times of failures within the window
  restarts: number;
  lastError?: string;
  failing?: FailingComponent;
}

export class Supervisor {
  private readonly policy: SupervisionPolicy;
  private readonly slots: Slot[];

  constructor(
    components: readonly SupervisedComponent[],
    private readonly o: SupervisorOptions,
  ) {
    this.policy = { ...DEFAULT_SUPERVISION, ...o.policy };
    this.slots = components.map((c) => ({ c, state: 'stopped', failures: [], restarts: 0 }));
  }

  /** Runs every component until the signal aborts; resolves once all of them have returned. */
  async run(signal: AbortSignal): Promise<void> {
    await Promise.all(this.slots.map((s) => this.keep(s, signal)));
  }

  health(): ComponentHealth[] {
    const since = this.o.clock.now() - this.policy.windowMs;
    return this.slots.map((s) => ({
      name: s.c.name,
      state: s.state,
      recentFailures: s.failures.filter((t) => t > since).length,
      restarts: s.restarts,
      ...(s.lastError === undefined ? {} : { lastError: s.lastError }),
    }));
  }

  /** The first component that kept failing during this run, if any. */
  failing(): FailingComponent | undefined {
    return this.slots.find((s) => s.failing)?.failing;
  }

  private async keep(s: Slot, signal: AbortSignal): Promise<void> {
    const { clock, log } = this.o;
    const p = this.policy;
    let inARow = 0;
    s.failing = undefined;
    while (!signal.aborted) {
      const startedAt = clock.now();
      s.state = 'running';
      let err: unknown;
      try {
        await s.c.run(signal);
        if (signal.aborted) break;
        err = new Error(`component ${s.c.name} stopped on its own while the manager leads`);
      } catch (e) {
        if (signal.aborted) break; // the run was told to stop: however it ended, that is no failure
        err = e;
      }
      const now = clock.now();
      if (now - startedAt >= p.windowMs) inARow = 0; // it had run well for a while: start the backoff over
      s.failures = [...s.failures.filter((t) => t > now - p.windowMs), now];
      s.lastError = err instanceof Error ? err.message : String(err);
      const delayMs = Math.min(p.maxDelayMs, p.initialDelayMs * 2 ** inARow);
      inARow++;
      s.state = 'restarting';
      log.error({ component: s.c.name, err, failures: s.failures.length, windowMs: p.windowMs, restartInMs: delayMs }, 'leader component failed; restarting it');
      if (!s.failing && s.failures.length >= p.maxFailures) {
        s.failing = { name: s.c.name, failures: s.failures.length, windowMs: p.windowMs, error: s.lastError };
        log.error({ component: s.c.name, failures: s.failures.length, windowMs: p.windowMs, err }, 'leader component keeps failing');
        try {
          this.o.onFailing?.(s.failing);
        } catch (e) {
          log.error({ component: s.c.name, err: e }, 'handling a failing leader component failed');
        }
      }
      try {
        await clock.sleep(delayMs, signal);
      } catch (err) {
        if (!signal.aborted) throw err;
        break; // aborted during the backoff
      }
      s.restarts++;
    }
    s.state = 'stopped';
  }
}

/** Resolves when the signal aborts (at once if it already has): a leader task's "hold the term". */
export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((r) => signal.addEventListener('abort', () => r(), { once: true }));
}
