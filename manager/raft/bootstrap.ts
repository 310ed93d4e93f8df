// Helpers for starting a new cluster and building membership changes.
import { type ConfChange, ConfChangeType } from '../../proto/gen/raft.js';
import type { MemoryLogStorage } from './log/storage.js';
import { EMPTY } from './messages.js';

/**
 * Prepares the storage of a founding member of a new cluster: a snapshot at index 1, term 1
 * whose configuration lists the initial voters (and learners). Every founding member must be
 * bootstrapped with the same lists; members added later start with empty storage.
 */
export function bootstrapStorage(storage: MemoryLogStorage, clusterId: string, voters: bigint[], learners: bigint[] = []): void {
  storage.applySnapshot({
    metadata: {
      index: 1n, term: 1n, clusterId,
      confState: { voters: [...voters], learners: [...learners], votersOutgoing: [], learnersNext: [], autoLeave: false },
    },
    data: EMPTY,
  });
}

const one = (type: ConfChangeType, nodeId: bigint, context: Uint8Array): ConfChange =>
  ({ changes: [{ type, nodeId }], context: Buffer.from(context) });

export const confChangeAddVoter = (id: bigint, context: Uint8Array = EMPTY): ConfChange => one(ConfChangeType.CONF_ADD_VOTER, id, context);
export const confChangeAddLearner = (id: bigint, context: Uint8Array = EMPTY): ConfChange => one(ConfChangeType.CONF_ADD_LEARNER, id, context);
export const confChangeRemove = (id: bigint, context: Uint8Array = EMPTY): ConfChange => one(ConfChangeType.CONF_REMOVE, id, context);
