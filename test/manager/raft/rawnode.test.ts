// RawNode's contract with its driver: config validation, typed errors, the Ready/advance
// cycle, and restart from persisted state.
import { describe, expect, it } from 'vitest';
import {
  bootstrapStorage, ClusterIdMismatchError, confChangeRemove, InvalidInputError, MemoryLogStorage, Message,
  MessageType, NotLeaderError, ProposalDroppedError, ProposalTooLargeError, RawNode, type RaftConfig, type Ready,
} from '../../../manager/raft/index.js';

function cfg(id: bigint, storage: MemoryLogStorage, over: Partial<RaftConfig> = {}): RaftConfig {
  return {
    id, clusterId: 'c1', storage, electionTicks: 10, heartbeatTicks: 1, random: () => 0.5,
    preVote: false, checkQuorum: false, maxSizePerMsg: 1 << 20, maxInflightMsgs: 16, maxProposalBytes: 64,
    readOnly: 'safe', ...over,
  };
}

function persist(st: MemoryLogStorage, rd: Ready): void {
  if (rd.snapshot) st.applySnapshot(rd.snapshot);
  st.append(rd.entries);
  if (rd.hardState) st.setHardState(rd.hardState);
}

describe('RawNode', () => {
  it('validates its configuration', () => {
    const st = new MemoryLogStorage();
    expect(() => new RawNode(cfg(0n, st))).toThrow(InvalidInputError);
    expect(() => new RawNode(cfg(1n, st, { electionTicks: 1 }))).toThrow(/electionTicks/);
    expect(() => new RawNode(cfg(1n, st, { readOnly: 'lease' }))).toThrow(/checkQuorum/);
  });

  it('holds back committed entries past applyUpTo (a driver still writing them) until the bound moves', () => {
    const st = new MemoryLogStorage();
    bootstrapStorage(st, 'c1', [1n]);
    const rn = new RawNode(cfg(1n, st));
    rn.campaign();
    while (rn.hasReady()) {
      const rd = rn.ready();
      persist(st, rd);
      rn.advance(rd);
    }
    const before = rn.status().lastIndex;
    rn.propose(Buffer.from('a'));
    // a single voter commits at once; a driver whose write of 'a' is in flight asks only for
    // what it has made durable
    const rd = rn.ready(before);
    expect(rd.entries.map((e) => e.data.toString())).toEqual(['a']);
    expect(rd.committedEntries).toEqual([]);
    expect(rd.hardState?.commit).toBe(before + 1n);
    persist(st, rd);
    rn.advance(rd);
    expect(rn.hasReady(before)).toBe(false); // nothing to do until the write completes
    expect(rn.hasReady(before + 1n)).toBe(true);
    const next = rn.ready(before + 1n);
    expect(next.committedEntries.map((e) => e.data.toString())).toEqual(['a']);
    rn.advance(next);
    expect(rn.hasReady(before + 1n)).toBe(false);
  });

  it('single voter: elects itself, commits, survives a restart', () => {
    const st = new MemoryLogStorage();
    bootstrapStorage(st, 'c1', [1n]);
    let rn = new RawNode(cfg(1n, st));
    expect(() => rn.propose(Buffer.from('early'))).toThrow(ProposalDroppedError);
    rn.campaign();
    const applied: string[] = [];
    const drain = (): void => {
      while (rn.hasReady()) {
        const rd = rn.ready();
        persist(st, rd);
        for (const e of rd.committedEntries) if (e.data.length) applied.push(e.data.toString());
        rn.advance(rd);
      }
    };
    drain();
    expect(rn.status().role).toBe('leader');
    rn.propose(Buffer.from('a'));
    rn.propose(Buffer.from('b'));
    expect(() => rn.propose(Buffer.alloc(65))).toThrow(ProposalTooLargeError);
    drain();
    expect(applied).toEqual(['a', 'b']);
    // A single voter answers reads at once.
    rn.readIndex(Buffer.from('r'));
    const rd = rn.ready();
    expect(rd.readStates.map((r) => Buffer.from(r.context).toString())).toEqual(['r']);
    rn.advance(rd);
    const { term, commit } = rn.status();
    // Restart from storage: same term, commit, nothing re-applied before `applied`.
    rn = new RawNode(cfg(1n, st, { applied: commit }));
    expect(rn.status()).toMatchObject({ term, commit, applied: commit, role: 'follower' });
    // Removing the only voter is refused.
    rn.campaign();
    drain();
    expect(() => rn.proposeConfChange(confChangeRemove(1n))).toThrow(/removes every voter/);
  });

  it('refuses messages from another cluster, local types and misaddressed ones', () => {
    const st = new MemoryLogStorage();
    bootstrapStorage(st, 'c1', [1n, 2n, 3n]);
    const rn = new RawNode(cfg(1n, st));
    const m = (p: Partial<Message>): Message => Message.fromPartial({ to: 1n, from: 2n, term: 1n, clusterId: 'c1', ...p });
    expect(() => rn.step(m({ type: MessageType.MSG_HEARTBEAT, clusterId: 'c2' }))).toThrow(ClusterIdMismatchError);
    expect(() => rn.step(m({ type: MessageType.MSG_HUP }))).toThrow(InvalidInputError);
    expect(() => rn.step(m({ type: MessageType.MSG_HEARTBEAT, to: 7n }))).toThrow(InvalidInputError);
    expect(() => rn.step(m({ type: MessageType.MSG_APP, term: 0n }))).toThrow(/carries no term/);
    const snap = { metadata: { index: 5n, term: 1n, clusterId: 'other', confState: { voters: [1n], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } }, data: Buffer.alloc(0) };
    expect(() => rn.step(m({ type: MessageType.MSG_SNAP, snapshot: snap }))).toThrow(ClusterIdMismatchError);
    rn.step(m({ type: MessageType.MSG_VOTE, from: 42n, term: 9n }));
    expect(rn.status()).toMatchObject({ term: 0n, droppedFromUnknown: 1 });
    rn.step(m({ type: MessageType.MSG_HEARTBEAT, commit: 1n }));
    expect(rn.status()).toMatchObject({ term: 1n, leader: 2n });
  });

  it('a follower without forwarding reports the leader', () => {
    const st = new MemoryLogStorage();
    bootstrapStorage(st, 'c1', [1n, 2n, 3n]);
    const rn = new RawNode(cfg(1n, st, { forwardProposals: false }));
    rn.step(Message.fromPartial({ type: MessageType.MSG_HEARTBEAT, to: 1n, from: 3n, term: 2n, clusterId: 'c1' }));
    try {
      rn.propose(Buffer.from('x'));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(NotLeaderError);
      expect((e as NotLeaderError).leader).toBe(3n);
      expect((e as NotLeaderError).userError).toBe(true);
    }
  });
});
