// Rebuilds a member's log view and state machine from its WAL, or bootstraps a new cluster.
import type { ConfState, Snapshot } from '../../../proto/gen/raft.js';
import { MemoryLogStorage } from '../index.js';
import { Wal } from '../storage/index.js';
import { decodeNodeSnapshot, encodeNodeSnapshot } from './envelope.js';
import type { NodeLogger, RaftNodeOptions } from './options.js';

export interface Booted {
  wal: Wal;
  storage: MemoryLogStorage;
  members: Map<bigint, string>;
  applied: bigint; // what the state machine reflects after restore
  confState: ConfState | undefined;
}

export async function boot<R>(o: RaftNodeOptions<R>, fsync: boolean, segmentBytes: number, logger: NodeLogger): Promise<Booted> {
  const { wal, state } = await Wal.open({ dir: o.dir, clusterId: o.clusterId, nodeId: o.id, fsync, segmentBytes, logger, cipher: o.cipher, allowPlaintext: o.allowPlaintext });
  const storage = new MemoryLogStorage();
  const members = new Map(o.peers);
  let applied = 0n;
  let confState: ConfState | undefined;
  try {
    if (state.snapshot?.metadata) {
      storage.applySnapshot(state.snapshot);
      const { members: m, sm } = decodeNodeSnapshot(state.snapshot.data);
      for (const [id, addr] of m) members.set(id, addr);
      o.stateMachine.restore(sm);
      applied = state.snapshot.metadata.index;
      confState = state.snapshot.metadata.confState;
    }
    // also empty: a founder that crashed between creating its WAL and writing the bootstrap
    const empty = !state.snapshot && state.entries.length === 0 && state.hardState.term === 0n;
    if (empty && !o.join) {
      // like the core's bootstrapStorage: a snapshot at index 1, term 1 listing the founders, but
      // carrying their addresses, so a member added later learns them with the snapshot
      const voters = [...o.peers.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const snap: Snapshot = {
        metadata: {
          index: 1n, term: 1n, clusterId: o.clusterId,
          confState: { voters, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
        },
        data: encodeNodeSnapshot(o.peers, o.stateMachine.snapshot()),
      };
      await wal.saveSnapshot(snap);
      storage.applySnapshot(snap);
      applied = 1n;
      confState = snap.metadata!.confState;
      logger.info({ founders: voters.map(String) }, 'raft cluster bootstrapped');
    }
    storage.setHardState(state.hardState);
    storage.append(state.entries);
  } catch (err) {
    await wal.close();
    throw err;
  }
  return { wal, storage, members, applied, confState };
}
