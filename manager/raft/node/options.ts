// Options of a RaftNode and their defaults (see README.md for the timing rationale).
import type { ChannelCredentials, ServerCredentials } from '@grpc/grpc-js';
import type { Entry } from '../../../proto/gen/raft.js';
import type { RecordCipher } from '../storage/index.js';
import type { PeerAuthorization, RaftPeer } from '../transport/index.js';

/** The user's replicated state machine. apply() runs on every member, in log order. */
export interface StateMachine<R> {
  apply(data: Buffer, entry: Entry): R;
  snapshot(): Uint8Array;
  restore(data: Buffer): void;
}

export interface NodeLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface RaftNodeOptions<R> {
  id: bigint;
  clusterId: string;
  dir: string; // state directory (WAL + snapshots)
  listen: string; // raft transport address, host:port (port 0 picks one)
  /** Known members and their raft addresses. With `join` unset and a fresh directory these are
   *  the founding voters (every founder must be given the same map); otherwise just contacts. */
  peers: Map<bigint, string>;
  join?: boolean; // a new member of a running cluster: wait for the leader instead of bootstrapping
  stateMachine: StateMachine<R>;
  tickMs?: number; // default 50
  electionTicks?: number; // default 8: election timeout randomized in [400, 800) ms
  heartbeatTicks?: number; // default 2: heartbeat every 100 ms
  preVote?: boolean; // default true
  checkQuorum?: boolean; // default true
  forwardProposals?: boolean; // default false: followers reject with NotLeaderError { leader }
  maxSizePerMsg?: number; // default 1 MiB
  maxInflightMsgs?: number; // default 256
  maxProposalBytes?: number; // default 1 MiB
  readOnly?: 'safe' | 'lease'; // default 'safe'
  snapshotEvery?: number; // applied entries between snapshots (default 10000)
  snapshotKeepEntries?: number; // entries kept after a snapshot for slow followers (default 5000)
  requestTimeoutMs?: number; // propose / readIndex / membership timeout (default 10000)
  segmentBytes?: number;
  fsync?: boolean; // default true
  /** Seals the WAL and snapshot files at rest (see storage/README.md); the caller owns the keys. */
  cipher?: RecordCipher;
  allowPlaintext?: boolean; // with a cipher: still read records written before encryption
  serverCredentials?: ServerCredentials;
  channelCredentials?: ChannelCredentials;
  /** Which member a caller's client certificate stands for (required with serverCredentials):
   *  the transport steps only messages whose `from` is that member, while it is one. */
  authorizePeer?: (peer: RaftPeer) => PeerAuthorization;
  random?: () => number;
  logger?: NodeLogger;
}

export const NODE_DEFAULTS = {
  tickMs: 50,
  electionTicks: 8,
  heartbeatTicks: 2,
  preVote: true,
  checkQuorum: true,
  forwardProposals: false,
  maxSizePerMsg: 1 << 20,
  maxInflightMsgs: 256,
  maxProposalBytes: 1 << 20,
  readOnly: 'safe' as const,
  snapshotEvery: 10_000,
  snapshotKeepEntries: 5_000,
  requestTimeoutMs: 10_000,
  segmentBytes: 64 << 20,
  fsync: true,
};
