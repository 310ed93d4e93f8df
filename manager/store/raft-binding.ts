// Puts a MemoryStore on top of a Raft node (manager/raft/node's RaftNode<bigint>): the store
// proposes through the node, and the node applies committed entries to the store, snapshots
// it and restores it. The types are structural so the store does not depend on the library.
import type { Clock } from '../clock.js';
import { StoreError } from './errors.js';
import { MemoryStore } from './memory-store.js';

/** What the store needs of a Raft node: propose resolves with the entry's index once applied here. */
export interface RaftProposals {
  propose(data: Uint8Array): Promise<bigint>;
}

/** The state machine a Raft node drives (RaftNodeOptions.stateMachine). */
export interface StoreStateMachine {
  apply(data: Uint8Array, entry: { readonly index: bigint }): bigint;
  snapshot(): Uint8Array;
  restore(data: Uint8Array): void;
}

export class RaftNotAttachedError extends StoreError {
  constructor() {
    super('the store is not attached to a Raft node yet; start the node and call attach() first');
  }
}

export interface RaftBindingOptions {
  clock?: Clock;
  maxProposalBytes?: number;
}

/**
 * Usage: const b = new RaftBinding(); const node = await RaftNode.start({ ...,
 * stateMachine: b.stateMachine }); b.attach(node); then use b.store everywhere.
 */
export class RaftBinding {
  readonly store: MemoryStore;
  readonly stateMachine: StoreStateMachine;
  private node: RaftProposals | undefined;

  constructor(opts: RaftBindingOptions = {}) {
    this.store = new MemoryStore({
      clock: opts.clock,
      maxProposalBytes: opts.maxProposalBytes,
      proposer: {
        propose: async (data) => {
          if (!this.node) throw new RaftNotAttachedError();
          return { index: await this.node.propose(data) };
        },
      },
    });
    const store = this.store;
    this.stateMachine = {
      apply(data, entry) {
        store.applyCommitted(data, entry.index);
        return entry.index;
      },
      snapshot: () => store.snapshot(),
      // A founder's bootstrap snapshot carries no store state yet.
      restore: (data) => (data.length > 0 ? store.restore(data) : undefined),
    };
  }

  attach(node: RaftProposals): void {
    this.node = node;
  }
}
