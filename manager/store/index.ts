// The manager's replicated object store: import from here.
export { DEFAULT_MAX_PROPOSAL_BYTES, MemoryStore, type MemoryStoreOptions, type WatchOptions } from './memory-store.js';
export { cloneObject } from './actions.js';
export { slotKey, type IndexName } from './table.js';
export type { ReadTable, ReadTx, WriteTable, WriteTx } from './tx.js';
export { DEFAULT_WATCH_LIMITS, Watcher, type EventFilter, type OverflowPolicy, type WatchLimits } from './watch.js';
export { DEFAULT_HISTORY_LIMITS } from './history.js';
export * from './errors.js';
export * from './types.js';
export { newObjectId } from './ids.js';
export { MAX_FAILED_PASSES, ReconcileLoop, type ReconcileHooks } from './reconcile-loop.js';
export { storeWithFailingReads } from './fault-injection.js';
export { applyTaskStatus, type StatusOutcome } from './task-status.js';
export { RaftBinding, RaftNotAttachedError, type RaftBindingOptions, type RaftProposals, type StoreStateMachine } from './raft-binding.js';
