// Public API of shoal's Raft core (pure, deterministic, no I/O). See README.md.
export type { RaftConfig, RaftLogger } from './config.js';
export { noopLogger } from './config.js';
export {
  RaftError, ProposalTooLargeError, ProposalDroppedError, NotLeaderError, CompactedError,
  UnavailableError, ConfChangeError, ClusterIdMismatchError, InvalidInputError,
} from './errors.js';
export type { LogStorage } from './log/storage.js';
export { MemoryLogStorage, emptyConfState, emptySnapshot, isEmptyHardState } from './log/storage.js';
export { RawNode } from './rawnode.js';
export type { Ready, RaftStatus, SoftState, SoftRole } from './rawnode.js';
export type { ReadState, Role } from './raft.js';
export type { ProgressState } from './tracker/progress.js';
export { NONE, isLocalMsg, isResponseMsg, msgTypeName } from './messages.js';
export { bootstrapStorage, confChangeAddVoter, confChangeAddLearner, confChangeRemove } from './bootstrap.js';
export {
  type Entry, EntryType, type HardState, type ConfState, ConfChange, ConfChangeType, type ConfChangeItem,
  type Snapshot, type SnapshotMetadata, Message, MessageType,
} from '../../proto/gen/raft.js';
