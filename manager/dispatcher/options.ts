// What the daemon plugs into a Dispatcher: who the caller is (from its certificate), who leads,
// where the managers are, and the timing knobs tests and benchmarks turn down.
import type { ServerUnaryCall } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { NodeRole } from '../../proto/gen/types.js';
import type { WeightedPeer } from '../../proto/gen/dispatcher.js';

/** The node a call comes from, as proven by its credentials. */
export interface NodeIdentity {
  nodeId: string;
  role: NodeRole;
}

/** What identify() may look at: the peer's certificate (auth context), metadata, address. */
export type CallerInfo = Pick<ServerUnaryCall<unknown, unknown>, 'metadata' | 'getPeer' | 'getAuthContext'>;

/** Reads the caller's identity; throws (any error) when the call carries none. */
export type IdentifyFn = (call: CallerInfo) => NodeIdentity;

export interface DispatcherOptions {
  identify: IdentifyFn;
  /** The current leader's cluster API address, for the "not leader: <addr>" refusal. */
  leaderAddr?: () => string | undefined;
  /** Managers an agent may fall back to; default: manager nodes in the store with an address. */
  managers?: () => WeightedPeer[];
  /** Used when the cluster object sets no DispatcherConfig.heartbeat_period (default 5 s). */
  heartbeatPeriodMs?: number;
  /** Missed periods before a node is marked down (default 3). */
  missedHeartbeats?: number;
  /**
   * A node whose session stream closed (its agent process died, or restarts) and that opens no
   * new session within this long is marked down without waiting for its heartbeats to lapse
   * (default 3 s: longer than an agent restart, short enough to replace a dead worker's tasks
   * within seconds). A cut link closes nothing: the heartbeat expiry catches that.
   */
  disconnectGraceMs?: number;
  /** Fraction of the period added at random to each period handed out (default 0.25). */
  heartbeatJitter?: number;
  /** Status updates wait at most this long for company before one store write (default 20 ms). */
  statusBatchMs?: number;
  /** ... or until this many are queued (default 1,000). */
  statusBatchSize?: number;
  /**
   * A session from a node the store does not know creates its Node object (default true). Set
   * false where the CA creates nodes at join: then an unknown (e.g. removed) node is refused.
   */
  registerUnknownNodes?: boolean;
  /** Random source in [0, 1) for jitter (tests pass a fixed one). */
  random?: () => number;
  logger?: Logger;
}

export const DEFAULT_HEARTBEAT_PERIOD_MS = 5_000;
