// The driver of the Raft library: RaftNode and its options.
export { RaftNode, type NodeStatus, type LeaderListener } from './node.js';
export type { RaftNodeOptions, StateMachine, NodeLogger } from './options.js';
export { NODE_DEFAULTS } from './options.js';
export { NodeStoppedError, RaftTimeoutError } from './errors.js';
