// Options shared by the sending and receiving halves of the transport.
import type { ChannelCredentials, ServerCredentials } from '@grpc/grpc-js';
import type { Message } from '../../../proto/gen/raft.js';

export interface TransportLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export const silentTransportLogger: TransportLogger = { debug() {}, info() {}, warn() {} };

export interface TransportOptions {
  id: bigint; // this member
  clusterId: string; // stamped on every outgoing message; incoming ones must match
  listen: string; // host:port to serve on ("127.0.0.1:0" picks a port)
  /** Steps a received message into the core; called synchronously, in arrival order per peer. */
  handler: (m: Message) => void;
  onUnreachable?: (peer: bigint) => void; // a message was dropped or a connection failed
  onSnapshotStatus?: (peer: bigint, ok: boolean) => void;
  serverCredentials?: ServerCredentials; // default insecure (loopback tests); the cluster CA plugs in here
  channelCredentials?: ChannelCredentials;
  maxQueue?: number; // messages waiting per peer before new ones are dropped (default 4096)
  maxQueueBytes?: number; // ... or bytes of entries waiting (default 64 MiB)
  maxBatchBytes?: number; // split a batch above this (default 4 MiB)
  snapshotChunkBytes?: number; // default 1 MiB
  backoff?: { initialMs: number; maxMs: number }; // reconnect backoff (default 25 ms .. 1 s, with jitter)
  connectTimeoutMs?: number; // one connection attempt (default 1 s)
  logger?: TransportLogger;
}

export type ResolvedOptions = Required<Omit<TransportOptions, 'serverCredentials' | 'channelCredentials'>> &
  Pick<TransportOptions, 'serverCredentials' | 'channelCredentials'>;

export function resolveOptions(o: TransportOptions): ResolvedOptions {
  return {
    onUnreachable: () => {},
    onSnapshotStatus: () => {},
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
