// The manager process (see README.md): Raft-backed store, leader lifecycle, roles, membership.
export { Manager, type ManagerOptions, type RaftTiming } from './manager.js';
export { RaftStore, type RaftStoreOptions } from './raft-store.js';
export { Leadership, type LeaderTask } from './leadership.js';
export { RoleManager } from './role-manager.js';
export { RaftMembership, raftMembershipService, MembershipRefusal, type MembershipHost } from './membership.js';
export { raftPeerAuthorizer, type RaftPeerPolicy } from './raft-peers.js';
export { DEFAULT_API_PORT, apiAddrFor, raftAddrFor, withApiPort } from './addresses.js';
export { NoLeaderError, NotLeaderError, NoQuorumError, QuorumLossError } from './errors.js';
