// When a node renews its certificate: at a random point between 50% and 80% of its validity
// (as Swarm does, so that a thousand nodes that joined together do not renew together), at once
// if that point has passed (a node that was down, or already past 80%), and whenever the daemon
// asks (its role changed). While no manager answers it retries with doubling backoff. The
// renewal itself (CSR, save, swap) is the caller's renew(); this file only decides when.
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../manager/clock.js';

export const RENEW_FROM = 0.5;
export const RENEW_TO = 0.8;
/** Timers are re-armed at least this often: setTimeout overflows past 24.8 days, and a host that
 *  slept should not wake to a timer computed before. */
const MAX_SLEEP_MS = 3_600_000;

export interface Validity {
  notBeforeMs: number;
  notAfterMs: number;
  /** Identifies the certificate, so that a new one gets a new random point. */
  serial: string;
}

/** The moment to renew a certificate: notBefore + (50% + 30% * random) of its lifetime. */
export function renewalTime(v: Pick<Validity, 'notBeforeMs' | 'notAfterMs'>, random: number): number {
  const life = Math.max(0, v.notAfterMs - v.notBeforeMs);
  return v.notBeforeMs + life * (RENEW_FROM + (RENEW_TO - RENEW_FROM) * Math.min(1, Math.max(0, random)));
}

export interface CertRenewerOptions {
  clock: Clock;
  random?: () => number;
  /** The certificate in use now. */
  current(): Validity;
  /** Asks a manager for a new certificate and puts it in use; rejects when none answered. */
  renew(reason: string): Promise<void>;
  /** False while the node has nothing to renew (left the cluster, changing role): wait. */
  active?: () => boolean;
  backoff?: { initialMs?: number; maxMs?: number };
  logger: Logger;
}

export class CertRenewer {
  private readonly random: () => number;
  private plan: { serial: string; at: number } | undefined;
  private failures = 0;
  private retryAt = 0;
  private kicked: string | undefined;
  private timer: TimerHandle | undefined;
  private wake: (() => void) | undefined;
  private running = false;
  private done: Promise<void> = Promise.resolve();
  /** Renewals attempted and succeeded (tests and logs). */
  attempts = 0;
  renewals = 0;

  constructor(private readonly o: CertRenewerOptions) {
    this.random = o.random ?? Math.random;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.timer?.cancel();
    this.wake?.();
    await this.done;
  }

  /** Renew as soon as possible (role changed); several requests before it runs make one. */
  renewNow(reason: string): void {
    this.kicked ??= reason;
    this.failures = 0;
    this.timer?.cancel();
    this.wake?.();
  }

  /** When the current certificate is due (the random point, fixed per certificate). */
  dueAt(): number {
    const v = this.o.current();
    if (this.plan?.serial !== v.serial) {
      this.plan = { serial: v.serial, at: renewalTime(v, this.random()) };
      if (!Number.isFinite(this.plan.at)) this.plan.at = Infinity; // no certificate: nothing due
      else this.o.logger.info({ serial: v.serial, renewAt: new Date(this.plan.at).toISOString(), notAfter: new Date(v.notAfterMs).toISOString() }, 'certificate renewal planned');
    }
    return this.plan.at;
  }

  /** How long to wait before the next attempt, from now. */
  nextDelay(): number {
    if (this.kicked) return 0;
    if (this.failures > 0) return Math.max(0, this.retryAt - this.o.clock.now());
    const due = this.dueAt();
    if (!Number.isFinite(due)) return MAX_SLEEP_MS; // no certificate (the node left): nothing due
    return Math.max(0, due - this.o.clock.now());
  }

  private async loop(): Promise<void> {
    try {
      await this.steps();
    } catch (err) {
      // a bug here must not become an unhandled rejection that ends the daemon
      this.o.logger.error({ err: (err as Error).message }, 'certificate renewal stopped');
    }
  }

  private async steps(): Promise<void> {
    while (this.running) {
      const delay = this.nextDelay();
      if (delay > 0) {
        await this.sleep(Math.min(delay, MAX_SLEEP_MS));
        continue; // re-evaluate: woken early, kicked, stopped, or a chunk of a long wait
      }
      if (this.o.active && !this.o.active()) {
        await this.sleep(1_000);
        continue;
      }
      const reason = this.kicked ?? (this.failures > 0 ? 'retry' : 'due');
      this.kicked = undefined;
      this.attempts++;
      try {
        await this.o.renew(reason);
        this.renewals++;
        this.failures = 0;
      } catch (err) {
        this.failures++;
        const initial = this.o.backoff?.initialMs ?? 1_000;
        const max = this.o.backoff?.maxMs ?? 60_000;
        const pause = Math.min(max, initial * 2 ** (this.failures - 1)) * (0.75 + 0.5 * this.random());
        this.retryAt = this.o.clock.now() + pause;
        this.o.logger.warn({ err: (err as Error).message, failures: this.failures, reason }, 'certificate renewal failed; retrying');
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const finish = (): void => {
        this.timer?.cancel();
        this.timer = undefined;
        this.wake = undefined;
        resolve();
      };
      this.wake = finish;
      if (!this.running || this.kicked) return finish();
      this.timer = this.o.clock.setTimeout(finish, ms);
    });
  }
}
