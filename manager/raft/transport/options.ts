// Options shared by the sending and receiving halves of the transport.
import type { ChannelCredentials, ServerCredentials } from '@grpc/grpc-js';
import type { Message } from '../../../proto/gen/raft.js';

export interface TransportLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export const silentTransportLogger: TransportLogger = { debug() {}, info() {}, warn() {} };

/** What the server learned about a caller from its TLS handshake. */
export interface RaftPeer {
  /** DER of the client certificate the handshake verified; absent on an insecure transport. */
  certificate?: Buffer;
}

/** The one member a caller may speak for, or why it may speak for none. The reason is logged
 *  on this side only: a refusal sent back names no member. */
export type PeerAuthorization = { member: bigint } | { refused: string };

export interface TransportOptions {
  id: bigint; // this member
  clusterId: string; // stamped on every outgoing message; incoming ones must match
  listen: string; // host:port to serve on ("127.0.0.1:0" picks a port)
  /** Steps a received message into the core; called synchronously, in arrival order per peer. */
  handler: (m: Message) => void;
  onUnreachable?: (peer: bigint) => void; // a message was dropped or a connection failed
  onSnapshotStatus?: (peer: bigint, ok: boolean) => void;
  serverCredentials?: ServerCredentials; // default insecure (loopback tests); the cluster CA plugs in here
  /** Maps a caller's certificate to the member it is (checked on every batch). Required with
   *  serverCredentials; without it (insecure loopback tests) the `from` of each message is trusted. */
  authorize?: (peer: RaftPeer) => PeerAuthorization;
  /** Whether a proposal (MsgProp) forwarded by member `from` may be stepped; default: never. */
  acceptProposal?: (from: bigint) => boolean;
  channelCredentials?: ChannelCredentials;
  maxQueue?: number; // messages waiting per peer before new ones are dropped (default 4096)
  maxQueueBytes?: number; // ... or bytes of entries waiting (default 64 MiB)
  maxBatchBytes?: number; // split a batch above this (default 4 MiB)
  snapshotChunkBytes?: number; // default 1 MiB
  backoff?: { initialMs: number; maxMs: number }; // reconnect backoff (default 25 ms .. 1 s, with jitter)
  connectTimeoutMs?: number; // one connection attempt (default 1 s)
  logger?: TransportLogger;
}

export type ResolvedOptions = Required<Omit<TransportOptions, 'serverCredentials' | 'channelCredentials' | 'authorize'>> &
  Pick<TransportOptions, 'serverCredentials' | 'channelCredentials' | 'authorize'>;

export function resolveOptions(o: TransportOptions): ResolvedOptions {
  return {
    onUnreachable: () => {},
    onSnapshotStatus: () => {},
    acceptProposal: () => false,
    maxQueue: 4096,
    maxQueueBytes: 64 << 20,
    maxBatchBytes: 4 << 20,
    snapshotChunkBytes: 1 << 20,
    backoff: { initialMs: 25, maxMs: 1000 },
    connectTimeoutMs: 1000,
    logger: silentTransportLogger,
    ...o,
  };
}

/** gRPC limits sized for Raft batches and snapshot chunks. */
export const GRPC_CHANNEL_OPTIONS = {
  'grpc.max_receive_message_length': 64 << 20,
  'grpc.max_send_message_length': 64 << 20,
  // a restarted peer must be reachable again quickly: grpc-js's own default starts at 1 s
  'grpc.initial_reconnect_backoff_ms': 25,
  'grpc.max_reconnect_backoff_ms': 1000,
  // a peer that vanished without a reset (partition, frozen host) is noticed within ~7 s
  'grpc.keepalive_time_ms': 5000,
  'grpc.keepalive_timeout_ms': 2000,
};
