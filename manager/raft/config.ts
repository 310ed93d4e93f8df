// Configuration of one Raft member, validated once at construction.
import { InvalidInputError } from './errors.js';
import type { LogStorage } from './log/storage.js';

/** Structured logger; pino's Logger satisfies it. The core logs only rare events. */
export interface RaftLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface RaftConfig {
  id: bigint;
  clusterId: string;
  storage: LogStorage;
  /** Ticks without hearing from a leader before campaigning; the actual timeout is randomized in [e, 2e). */
  electionTicks: number;
  heartbeatTicks: number;
  /** Injected randomness in [0, 1): the core has no other source. */
  random: () => number;
  preVote: boolean;
  checkQuorum: boolean;
  /** Upper bound on the entry bytes of one MsgApp (at least one entry is always sent). */
  maxSizePerMsg: number;
  /** Pipelined MsgApps in flight per follower in replicate state. */
  maxInflightMsgs: number;
  maxProposalBytes: number;
  /**
   * 'safe': ReadIndex confirms leadership with a heartbeat round.
   * 'lease': answered from the leader's lease without a round trip; correct only if clock
   * drift between members is bounded well below the election timeout (requires checkQuorum).
   */
  readOnly: 'safe' | 'lease';
  /** Last index the state machine applied before a restart. */
  applied?: bigint;
  logger?: RaftLogger;
  /** Followers forward proposals to the leader (default true); when false they throw NotLeaderError. */
  forwardProposals?: boolean;
  /** Upper bound on the bytes of committed entries handed out in one Ready (default 64 MiB). */
  maxCommittedSizePerReady?: number;
}

export const noopLogger: RaftLogger = { debug() {}, info() {}, warn() {} };

export function validateConfig(c: RaftConfig): void {
  const bad = (what: string): never => { throw new InvalidInputError(`invalid raft config: ${what}`); };
  if (c.id === 0n) bad('id must not be 0 (0 means "none")');
  if (c.heartbeatTicks <= 0) bad('heartbeatTicks must be > 0');
  if (c.electionTicks <= c.heartbeatTicks) bad('electionTicks must be greater than heartbeatTicks');
  if (c.maxInflightMsgs <= 0) bad('maxInflightMsgs must be > 0');
  if (c.maxSizePerMsg <= 0) bad('maxSizePerMsg must be > 0');
  if (c.maxProposalBytes <= 0) bad('maxProposalBytes must be > 0');
  if (c.readOnly === 'lease' && !c.checkQuorum) bad("readOnly 'lease' requires checkQuorum (a leader must step down when it loses its lease)");
}
