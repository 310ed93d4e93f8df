// The apply side of the driver: committed entries into the state machine and membership,
// and the callers waiting on them (proposals, membership changes, read-index barriers).
import { ConfChange, ConfChangeType, type ConfState, type Entry, EntryType, type Snapshot } from '../../../proto/gen/raft.js';
import { ProposalDroppedError } from '../index.js';
import { confContext, decodeNodeSnapshot, encodeNodeSnapshot, unwrapProposal } from './envelope.js';
import type { NodeLogger, StateMachine } from './options.js';
import { Pending } from './pending.js';

/** What applying needs from the rest of the node. */
export interface ApplyHooks {
  applyConfChange(cc: ConfChange): ConfState; // the core's
  addPeer(id: bigint, addr: string): void; // the transport's
  removePeer(id: bigint): void;
}

export class Applier<R> {
  readonly proposals = new Pending<R>();
  readonly confs = new Pending<ConfState>();
  readonly reads = new Pending<void>();
  private readonly readAt = new Map<bigint, bigint>(); // read seq -> index to reach
  private readonly ownAt = new Map<bigint, bigint>(); // log index -> our proposal seq there

  constructor(
    private readonly id: bigint,
    private readonly sm: StateMachine<R>,
    private readonly hooks: ApplyHooks,
    private readonly log: NodeLogger,
    readonly members: Map<bigint, string>,
    public applied: bigint,
    public confState: ConfState | undefined,
  ) {}

  /** Remembers where our proposals landed, so one overwritten by a new leader fails fast. */
  noteOwn(entries: readonly Entry[]): void {
    for (const e of entries) {
      this.ownAt.delete(e.index);
      if (e.type !== EntryType.ENTRY_NORMAL) continue;
      const p = unwrapProposal(e.data);
      if (p && p.proposer === this.id && this.proposals.has(p.seq)) this.ownAt.set(e.index, p.seq);
    }
  }

  apply(entries: readonly Entry[]): void {
    for (const e of entries) {
      if (e.index <= this.applied) continue; // already reflected by a restored snapshot
      const waiting = this.ownAt.get(e.index);
      this.ownAt.delete(e.index);
      if (e.type === EntryType.ENTRY_CONF_CHANGE) this.applyConfChange(e);
      else this.applyNormal(e, waiting);
      this.applied = e.index;
    }
  }

  /** Read-index answers: each resolves once the applied index reaches its read point. */
  noteReads(readStates: readonly { index: bigint; context: Uint8Array }[]): void {
    for (const rs of readStates) {
      if (rs.context.length === 8) this.readAt.set(Buffer.from(rs.context).readBigUInt64BE(0), rs.index);
    }
    for (const [seq, index] of this.readAt) {
      if (!this.reads.has(seq)) this.readAt.delete(seq);
      else if (index <= this.applied) {
        this.readAt.delete(seq);
        this.reads.resolve(seq, undefined);
      }
    }
  }

  /** Replaces the state machine and membership with a snapshot's. */
  restore(snap: Snapshot): void {
    const { members, sm } = decodeNodeSnapshot(snap.data);
    this.sm.restore(sm);
    for (const [id, addr] of members) {
      this.members.set(id, addr);
      this.hooks.addPeer(id, addr);
    }
    this.confState = snap.metadata!.confState;
    this.applied = snap.metadata!.index;
  }

  snapshotData(): Buffer {
    return encodeNodeSnapshot(this.members, this.sm.snapshot());
  }

  /** Rejects the callers whose deadline has passed (called on the driver's tick). */
  expire(now: number): void {
    this.proposals.expire(now);
    this.confs.expire(now);
    this.reads.expire(now);
  }

  rejectAll(err: Error): void {
    this.proposals.rejectAll(err);
    this.confs.rejectAll(err);
    this.reads.rejectAll(err);
  }

  private applyNormal(e: Entry, waiting: bigint | undefined): void {
    const p = unwrapProposal(e.data);
    const ours = p && p.proposer === this.id;
    if (waiting !== undefined && !(ours && p.seq === waiting)) {
      this.proposals.reject(waiting, new ProposalDroppedError(`entry ${e.index} was overwritten by a new leader`));
    }
    if (!p) return; // a leader's no-op
    let result: R;
    try {
      result = this.sm.apply(p.data, e);
    } catch (err) {
      // the state machine must be deterministic: the same entry fails the same way everywhere
      this.log.warn({ index: e.index.toString(), err: (err as Error).message }, 'raft state machine refused an entry');
      if (ours) this.proposals.reject(p.seq, err as Error);
      return;
    }
    if (ours) this.proposals.resolve(p.seq, result);
  }

  private applyConfChange(e: Entry): void {
    const cc = ConfChange.decode(e.data);
    const ctx = confContext(cc);
    const mine = ctx.proposer === this.id.toString() && ctx.seq ? BigInt(ctx.seq) : undefined;
    try {
      this.confState = this.hooks.applyConfChange(cc);
    } catch (err) {
      this.log.warn({ index: e.index.toString(), err: (err as Error).message }, 'raft conf change not applied');
      if (mine !== undefined) this.confs.reject(mine, err as Error);
      return;
    }
    const cs = this.confState;
    // follow the configuration the core arrived at: it ignores an invalid change identically everywhere
    const inConfig = (id: bigint): boolean =>
      [cs.voters, cs.learners, cs.votersOutgoing, cs.learnersNext].some((ids) => ids.includes(id));
    for (const ch of cc.changes) {
      if (ch.type === ConfChangeType.CONF_REMOVE) {
        if (inConfig(ch.nodeId)) continue;
        this.members.delete(ch.nodeId);
        if (ch.nodeId !== this.id) this.hooks.removePeer(ch.nodeId);
      } else if (ctx.addr && inConfig(ch.nodeId)) {
        this.members.set(ch.nodeId, ctx.addr);
        this.hooks.addPeer(ch.nodeId, ctx.addr);
      }
    }
    this.log.info(
      { index: e.index.toString(), voters: (cs.voters ?? []).map(String), learners: (cs.learners ?? []).map(String) },
      'raft membership changed',
    );
    if (mine !== undefined) this.confs.resolve(mine, cs);
  }
}
