// When an agent gives up on its manager. The dispatcher marks a node down once it has heard no
// heartbeat for MANAGER_GRACE_PERIODS periods (its missedHeartbeats, 3 as in Swarm). The agent
// sends a heartbeat one period after the last answer and waits for the answer until shortly
// before that grace ends: a late answer still counts (the manager re-armed the node's expiry when
// the heartbeat arrived), so a busy manager does not cost every agent its session, while a
// silent one (frozen, or its link cut) is left with half a period to spare for opening a session
// with another manager before the node would be marked down. A failure that comes back at once
// (a reset connection) is retried within the same window. A dead manager process needs none of
// this: its session stream fails at once.
import { status as grpcStatus } from '@grpc/grpc-js';

/** Heartbeat periods a manager waits before it marks a silent node down (dispatcher default). */
export const MANAGER_GRACE_PERIODS = 3;
/** Periods without an answered heartbeat after which the agent moves to another manager. */
export const AGENT_GIVE_UP_PERIODS = MANAGER_GRACE_PERIODS - 0.5;

const MAX_RETRY_DELAY_MS = 250;
const MIN_RETRY_DELAY_MS = 20;

/** The session was ended because the manager stopped answering heartbeats. */
export class MissedHeartbeatsError extends Error {
  constructor(
    readonly manager: string,
    readonly silentMs: number,
    readonly periodMs: number,
    readonly last?: Error,
  ) {
    super(`manager ${manager} answered no heartbeat for ${silentMs} ms (period ${periodMs} ms)${last ? `: ${last.message}` : ''}; moving to another manager`);
    this.name = 'MissedHeartbeatsError';
  }
}

/** Errors worth another try on the same session: the call failed, not the session. */
export function isTransientHeartbeatError(err: { code?: number; details?: string }): boolean {
  if (err.code === grpcStatus.UNAVAILABLE) return !(err.details ?? '').startsWith('not leader: ');
  return err.code === grpcStatus.DEADLINE_EXCEEDED || err.code === grpcStatus.RESOURCE_EXHAUSTED;
}

/** The heartbeat timing of one session (times in ms since the epoch; pure, for tests). */
export class HeartbeatWindow {
  private lastOk: number;
  private period: number;

  constructor(openedAt: number, periodMs: number) {
    this.lastOk = openedAt;
    this.period = periodMs;
  }

  /** A heartbeat was answered (or the session opened) at `at`; the manager asks for `periodMs`. */
  answered(at: number, periodMs: number): void {
    this.lastOk = at;
    this.period = periodMs;
  }

  /** When the agent stops waiting for this manager. */
  giveUpAt(): number {
    return this.lastOk + AGENT_GIVE_UP_PERIODS * this.period;
  }

  /**
   * The deadline of a heartbeat sent at `now`: the end of the window, whatever the attempt. A
   * heartbeat whose timer fired late (this process was starved) still gets half a period: the
   * manager may not have given up on the node yet.
   */
  deadline(now: number): number {
    return Math.max(now + this.period / 2, this.giveUpAt());
  }

  expired(now: number): boolean {
    return now >= this.giveUpAt();
  }

  silentFor(now: number): number {
    return now - this.lastOk;
  }

  /** Pause before retrying a failed heartbeat: short, and never past the window. */
  retryDelay(now: number): number {
    const wanted = Math.max(MIN_RETRY_DELAY_MS, Math.min(MAX_RETRY_DELAY_MS, this.period / 4));
    return Math.max(0, Math.min(wanted, this.giveUpAt() - now));
  }
}
