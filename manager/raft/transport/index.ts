// gRPC transport of the Raft library (service RaftTransport of proto/raft.proto).
export { GrpcRaftTransport } from './transport.js';
export type { TransportOptions, TransportLogger, RaftPeer, PeerAuthorization } from './options.js';
