// RawNode: the caller-facing wrapper of the state machine. The caller feeds it ticks,
// messages and requests, and drains Ready: persist hard state, entries and snapshot; then
// send messages; then apply committed entries; then advance().
import { ConfChange, type ConfState, type Entry, EntryType, type HardState, type Message, MessageType, type Snapshot } from '../../proto/gen/raft.js';
import { Changer } from './confchange/changer.js';
import type { RaftConfig } from './config.js';
import { ClusterIdMismatchError, ConfChangeError, InvalidInputError, ProposalTooLargeError } from './errors.js';
import { EMPTY, isLeaderMsg, isLocalMsg, isResponseMsg, newMessage, NONE, toBuffer } from './messages.js';
import { Raft, type ReadState, type Role } from './raft.js';
import { releasePendingReadIndexMessages } from './step-leader.js';
import type { ProgressState } from './tracker/progress.js';

export type SoftRole = Role | 'learner';

export interface SoftState { leader: bigint; role: SoftRole }

export interface Ready {
  softState?: SoftState;
  /** Persist if present. */
  hardState?: HardState;
  /** Persist (append, truncating a conflicting suffix) BEFORE sending messages. */
  entries: Entry[];
  /** Persist and apply (replaces the state machine). */
  snapshot?: Snapshot;
  /** Apply in order, after the entries above are persisted. */
  committedEntries: Entry[];
  /** Send after the persist above. */
  messages: Message[];
  readStates: ReadState[];
  /** An fsync is needed before sending messages (term, vote or entries changed). */
  mustSync: boolean;
}

export interface RaftStatus {
  id: bigint;
  term: bigint;
  leader: bigint;
  role: string;
  commit: bigint;
  applied: bigint;
  lastIndex: bigint;
  leadTransferee: bigint;
  droppedFromUnknown: number;
  config: ConfState;
  progress?: Map<bigint, { match: bigint; next: bigint; state: ProgressState }>;
}

const DEFAULT_MAX_COMMITTED_PER_READY = 64 * 1024 * 1024;

export class RawNode {
  /** The state machine; exposed for tests and tooling, not for drivers. */
  readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;

  constructor(cfg: RaftConfig) {
    this.raft = new Raft(cfg);
    this.prevSoft = this.softState();
    this.prevHard = this.raft.hardState();
  }

  tick(): void { this.raft.tick(); }

  campaign(): void {
    this.raft.step(newMessage({ type: MessageType.MSG_HUP, from: this.raft.id }));
  }

  /**
   * A message from a peer. Throws ClusterIdMismatchError (other cluster) or InvalidInputError
   * (a local-only type, wrong recipient); drops and counts messages from non-members.
   */
  step(m: Message): void {
    const r = this.raft;
    if (isLocalMsg(m.type)) throw new InvalidInputError(`message type ${MessageType[m.type]} is local-only and cannot come from peer ${m.from}`);
    if (m.clusterId !== r.clusterId) throw new ClusterIdMismatchError(m.clusterId, r.clusterId, m.from);
    const snapCluster = m.snapshot?.metadata?.clusterId;
    if (m.type === MessageType.MSG_SNAP && snapCluster && snapCluster !== r.clusterId) {
      throw new ClusterIdMismatchError(snapCluster, r.clusterId, m.from);
    }
    if (m.from === NONE) throw new InvalidInputError(`message ${MessageType[m.type]} has no sender id`);
    // Only forwarded proposals and read requests travel without a term: anything else with
    // term 0 would bypass the term checks.
    if (m.term === 0n && m.type !== MessageType.MSG_PROP && m.type !== MessageType.MSG_READ_INDEX) {
      throw new InvalidInputError(`message ${MessageType[m.type]} from ${m.from} carries no term`);
    }
    if (m.to !== r.id) throw new InvalidInputError(`message ${MessageType[m.type]} from ${m.from} is addressed to ${m.to}, not to this member (${r.id})`);
    // Votes, proposals and responses from non-members are dropped (a removed member must not
    // disrupt the cluster). A leader's messages are accepted: this member's own view of the
    // membership may lag behind the log it is about to receive.
    if (r.trk.progress.size > 0 && !r.trk.progress.has(m.from) && !isLeaderMsg(m.type)) {
      r.droppedFromUnknown++;
      r.logger.debug({ raft: r.id, from: m.from, type: MessageType[m.type] }, 'dropped message from a non-member');
      return;
    }
    // A member without any configuration yet (joining) has nobody to take responses from.
    if (isResponseMsg(m.type) && !isLeaderMsg(m.type) && !r.trk.progress.has(m.from)) return;
    r.step(m);
  }

  /** Proposes data for the log. Throws ProposalTooLargeError, ProposalDroppedError, NotLeaderError. */
  propose(data: Uint8Array): void {
    const r = this.raft;
    if (data.length > r.cfg.maxProposalBytes) throw new ProposalTooLargeError(data.length, r.cfg.maxProposalBytes);
    r.step(newMessage({
      type: MessageType.MSG_PROP, from: r.id,
      entries: [{ term: 0n, index: 0n, type: EntryType.ENTRY_NORMAL, data: toBuffer(data) }],
    }));
  }

  /**
   * Proposes a membership change: one item changes one member (one at a time); several
   * items enter a joint configuration that is left automatically. Throws ConfChangeError.
   */
  proposeConfChange(cc: ConfChange): void {
    const r = this.raft;
    if (r.role !== 'leader') {
      // Validate what we can locally; the leader re-checks against its own state.
      const ch = new Changer(r.trk.config, r.trk.progress, r.log.lastIndex(), r.cfg.maxInflightMsgs);
      if (cc.changes.length === 1) ch.simple(cc.changes);
      else if (cc.changes.length > 1) ch.enterJoint(true, cc.changes);
    }
    const data = Buffer.from(ConfChange.encode(cc).finish());
    r.step(newMessage({
      type: MessageType.MSG_PROP, from: r.id,
      entries: [{ term: 0n, index: 0n, type: EntryType.ENTRY_CONF_CHANGE, data }],
    }));
  }

  /**
   * Applies a committed conf-change entry's ConfChange (call when applying it) and returns
   * the resulting configuration. An invalid change is ignored identically on every member.
   */
  applyConfChange(cc: ConfChange): ConfState {
    const r = this.raft;
    const ch = new Changer(r.trk.config, r.trk.progress, r.log.lastIndex(), r.cfg.maxInflightMsgs);
    try {
      const res = cc.changes.length === 0 ? ch.leaveJoint()
        : cc.changes.length === 1 && !r.trk.isJoint() ? ch.simple(cc.changes)
          : ch.enterJoint(true, cc.changes);
      return r.switchToConfig(res.config, res.progress);
    } catch (e) {
      if (!(e instanceof ConfChangeError)) throw e;
      r.logger.warn({ raft: r.id, err: e.message }, 'ignored invalid committed conf change');
      return r.trk.confState();
    }
  }

  /**
   * Requests a linearizable read point; the answer arrives as a ReadState with the same
   * context (which must be unique per request). Throws ProposalDroppedError without a leader.
   */
  readIndex(context: Uint8Array): void {
    this.raft.step(newMessage({ type: MessageType.MSG_READ_INDEX, from: this.raft.id, context: toBuffer(context) }));
  }

  transferLeader(to: bigint): void {
    this.raft.step(newMessage({ type: MessageType.MSG_TRANSFER_LEADER, from: to, to: this.raft.id }));
  }

  reportUnreachable(id: bigint): void {
    this.raft.step(newMessage({ type: MessageType.MSG_UNREACHABLE, from: id }));
  }

  reportSnapshot(id: bigint, ok: boolean): void {
    this.raft.step(newMessage({ type: MessageType.MSG_SNAP_STATUS, from: id, reject: !ok }));
  }

  private softState(): SoftState {
    const r = this.raft;
    return { leader: r.lead, role: r.role === 'follower' && r.isLearner ? 'learner' : r.role };
  }

  /**
   * Is there a Ready? `applyUpTo` (see ready()) must be the same as the next ready() call's.
   */
  hasReady(applyUpTo?: bigint): boolean {
    const r = this.raft;
    r.flushAppends();
    if (r.msgs.length > 0 || r.readStates.length > 0) return true;
    if (r.log.unstable.entries.length > 0 || r.log.unstable.snapshot) return true;
    if (r.log.hasNextCommittedEnts(applyUpTo)) return true;
    const s = this.softState();
    if (s.leader !== this.prevSoft.leader || s.role !== this.prevSoft.role) return true;
    const hs = r.hardState();
    return hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote || hs.commit !== this.prevHard.commit;
  }

  /**
   * Everything to persist, send and apply since the last Ready; messages are handed over once.
   * `applyUpTo` holds back committed entries past that index (a driver that persists Readies
   * while taking the next ones hands out only what its own log has made durable); they come in
   * a later Ready.
   */
  ready(applyUpTo?: bigint): Ready {
    const r = this.raft;
    r.flushAppends();
    const rd: Ready = {
      entries: r.log.unstableEntries().slice(),
      committedEntries: r.log.nextCommittedEnts(r.cfg.maxCommittedSizePerReady ?? DEFAULT_MAX_COMMITTED_PER_READY, applyUpTo),
      messages: r.msgs,
      readStates: r.readStates,
      mustSync: false,
    };
    r.msgs = [];
    r.readStates = [];
    const s = this.softState();
    if (s.leader !== this.prevSoft.leader || s.role !== this.prevSoft.role) {
      rd.softState = s;
      this.prevSoft = s;
    }
    const hs = r.hardState();
    if (hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote || hs.commit !== this.prevHard.commit) {
      rd.hardState = hs;
      rd.mustSync = hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote;
    }
    if (rd.entries.length > 0) rd.mustSync = true;
    if (r.log.unstable.snapshot) {
      rd.snapshot = r.log.unstable.snapshot;
      rd.mustSync = true;
    }
    return rd;
  }

  /** Confirms that rd was persisted, sent and applied. */
  advance(rd: Ready): void {
    const r = this.raft;
    if (rd.hardState) this.prevHard = rd.hardState;
    if (rd.snapshot) {
      const idx = rd.snapshot.metadata!.index;
      r.log.stableSnapTo(idx);
      if (idx > r.log.applied) r.log.applied = idx;
    }
    const last = rd.entries[rd.entries.length - 1];
    if (last) r.log.stableTo(last.index, last.term);
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied) {
      r.log.appliedTo(lastApplied.index);
      this.maybeLeaveJoint();
      releasePendingReadIndexMessages(r);
    }
  }

  /** After a joint configuration with autoLeave is applied, the leader proposes leaving it. */
  private maybeLeaveJoint(): void {
    const r = this.raft;
    if (r.role !== 'leader' || !r.trk.config.autoLeave || r.pendingConfIndex > r.log.applied) return;
    const data = Buffer.from(ConfChange.encode({ changes: [], context: EMPTY }).finish());
    r.appendEntry([{ term: 0n, index: 0n, type: EntryType.ENTRY_CONF_CHANGE, data }]);
    r.pendingConfIndex = r.log.lastIndex();
    r.bcastAppend();
  }

  status(): RaftStatus {
    const r = this.raft;
    const st: RaftStatus = {
      id: r.id, term: r.term, leader: r.lead, role: this.softState().role,
      commit: r.log.committed, applied: r.log.applied, lastIndex: r.log.lastIndex(),
      leadTransferee: r.leadTransferee, droppedFromUnknown: r.droppedFromUnknown,
      config: r.trk.confState(),
    };
    if (r.role === 'leader') {
      st.progress = new Map();
      for (const id of r.trk.memberIds()) {
        const pr = r.trk.progress.get(id)!;
        st.progress.set(id, { match: pr.match, next: pr.next, state: pr.state });
      }
    }
    return st;
  }
}
