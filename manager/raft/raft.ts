// The Raft state machine of one member: terms, roles, elections and message dispatch. It
// performs no I/O: outgoing messages collect in `msgs`, log changes in the unstable log, and
// RawNode hands both out through Ready. Role-specific handling lives in step-*.ts.
import { type ConfState, type Entry, EntryType, type HardState, type Message, MessageType, type Snapshot } from '../../proto/gen/raft.js';
import { type RaftConfig, type RaftLogger, noopLogger, validateConfig } from './config.js';
import { restoreConfig } from './confchange/restore.js';
import { CompactedError, UnavailableError } from './errors.js';
import { RaftLog } from './log/raft-log.js';
import { isEmptyHardState } from './log/storage.js';
import { EMPTY, entriesSize, NONE, newMessage, voteRespType } from './messages.js';
import { ReadOnlyTracker } from './read-only.js';
import { stepCandidate, stepFollower } from './step-follower.js';
import { stepLeader } from './step-leader.js';
import type { Progress } from './tracker/progress.js';
import { ProgressTracker, type TrackerConfig } from './tracker/tracker.js';
import type { VoteResult } from './quorum/majority.js';

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';
export type CampaignKind = 'pre-election' | 'election' | 'transfer';
export interface ReadState { index: bigint; context: Uint8Array }

/** Context of a vote request sent on MsgTimeoutNow: voters grant it even inside a leader lease. */
export const CAMPAIGN_TRANSFER = Buffer.from('CampaignTransfer');

export class Raft {
  readonly id: bigint;
  readonly clusterId: string;
  readonly log: RaftLog;
  readonly trk: ProgressTracker;
  readonly readOnly = new ReadOnlyTracker();
  readonly logger: RaftLogger;
  readonly cfg: RaftConfig;

  term = 0n;
  vote = NONE;
  lead = NONE;
  role: Role = 'follower';
  isLearner = false;
  leadTransferee = NONE;
  /** Index of the latest conf change appended by this leader; no new one until it is applied. */
  pendingConfIndex = 0n;
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  readonly electionTimeout: number;
  readonly heartbeatTimeout: number;

  msgs: Message[] = [];
  readStates: ReadState[] = [];
  /** ReadIndex requests that arrived before this leader committed an entry of its term. */
  pendingReadIndexMessages: Message[] = [];
  /** Proposals since the last Ready: appends are broadcast once per Ready, batching entries. */
  pendingBcast = false;
  /** Logical clock: ticks since start (lease reads). */
  ticks = 1; // 0 means "never" in leaseAckTick
  /**
   * Lease mode: a restarted member may have promised a leader, before the crash, not to vote
   * for anyone else for an election timeout; it keeps that promise by waiting one out.
   */
  startupLease: boolean;
  /** Messages dropped because the sender is not a member (observability). */
  droppedFromUnknown = 0;

  constructor(cfg: RaftConfig) {
    validateConfig(cfg);
    this.cfg = cfg;
    this.id = cfg.id;
    this.clusterId = cfg.clusterId;
    this.logger = cfg.logger ?? noopLogger;
    this.electionTimeout = cfg.electionTicks;
    this.startupLease = cfg.readOnly === 'lease';
    this.heartbeatTimeout = cfg.heartbeatTicks;
    this.log = new RaftLog(cfg.storage);
    this.trk = new ProgressTracker(cfg.maxInflightMsgs);
    const { hardState, confState } = cfg.storage.initialState();
    const r = restoreConfig(confState, this.log.lastIndex(), cfg.maxInflightMsgs);
    this.switchToConfig(r.config, r.progress);
    if (!isEmptyHardState(hardState)) this.loadState(hardState);
    if (cfg.applied !== undefined && cfg.applied > 0n) this.log.appliedTo(cfg.applied);
    this.becomeFollower(this.term, NONE);
  }

  private loadState(hs: HardState): void {
    if (hs.commit < this.log.committed || hs.commit > this.log.lastIndex()) {
      throw new Error(`hard state commit ${hs.commit} is out of range [${this.log.committed}, ${this.log.lastIndex()}]: the log storage is inconsistent`);
    }
    this.log.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  hardState(): HardState { return { term: this.term, vote: this.vote, commit: this.log.committed }; }

  // ---- sending ----

  send(m: Message): void {
    if (m.from === NONE) m.from = this.id;
    m.clusterId = this.clusterId;
    const t = m.type;
    if (t === MessageType.MSG_VOTE || t === MessageType.MSG_VOTE_RESP || t === MessageType.MSG_PRE_VOTE || t === MessageType.MSG_PRE_VOTE_RESP) {
      if (m.term === 0n) throw new Error(`term must be set on ${MessageType[t]}`);
    } else if (t !== MessageType.MSG_PROP && t !== MessageType.MSG_READ_INDEX) {
      // Forwarded proposals and read requests carry term 0: they are handled as local on arrival.
      m.term = this.term;
    }
    this.msgs.push(m);
  }

  /** Sends a MsgApp (or MsgSnap) to `to` if its progress allows; returns whether one was sent. */
  maybeSendAppend(to: bigint, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1n;
    let prevTerm: bigint;
    let ents: Entry[];
    try {
      prevTerm = this.log.term(prevIndex);
      ents = this.log.entries(pr.next, this.cfg.maxSizePerMsg);
    } catch (e) {
      if (e instanceof CompactedError || e instanceof UnavailableError) return this.maybeSendSnapshot(to, pr);
      throw e;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send(newMessage({ type: MessageType.MSG_APP, to, index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.log.committed }));
    pr.sentEntries(ents.length, ents.length > 0 ? entriesSize(ents) : 0);
    return true;
  }

  private maybeSendSnapshot(to: bigint, pr: Progress): boolean {
    if (!pr.recentActive) {
      this.logger.debug({ raft: this.id, to }, 'not sending snapshot: peer not recently active');
      return false;
    }
    let snap: Snapshot;
    try { snap = this.log.snapshot(); } catch (e) {
      if (e instanceof UnavailableError) return false; // being made: try again on the next heartbeat
      throw e;
    }
    const md = snap.metadata!;
    if (md.index === 0n) throw new Error('need a non-empty snapshot to catch up a follower whose entries are compacted');
    if (md.clusterId === '') snap = { ...snap, metadata: { ...md, clusterId: this.clusterId } };
    pr.becomeSnapshot(md.index);
    this.logger.info({ raft: this.id, to, index: md.index, term: md.term }, 'sending snapshot');
    this.send(newMessage({ type: MessageType.MSG_SNAP, to, snapshot: snap }));
    return true;
  }

  /** Queues an append to every follower; flushAppends() sends them when the Ready is built. */
  bcastAppend(): void { this.pendingBcast = true; }

  flushAppends(): void {
    if (!this.pendingBcast) return;
    this.pendingBcast = false;
    if (this.role !== 'leader') return;
    for (const id of this.trk.memberIds()) {
      if (id === this.id) continue;
      if (this.maybeSendAppend(id, true)) while (this.maybeSendAppend(id, false));
    }
  }

  bcastHeartbeat(ctx: Buffer | undefined = this.readOnly.lastPendingContext()): void {
    for (const id of this.trk.memberIds()) {
      if (id === this.id) continue;
      const pr = this.trk.progress.get(id)!;
      const commit = pr.match < this.log.committed ? pr.match : this.log.committed;
      // In lease mode the heartbeat carries the leader's tick, echoed back: a quorum that
      // answered a heartbeat sent at tick t refuses other candidates until t + election timeout.
      const index = this.cfg.readOnly === 'lease' ? BigInt(this.ticks) : 0n;
      this.send(newMessage({ type: MessageType.MSG_HEARTBEAT, to: id, commit, index, context: ctx ?? EMPTY }));
    }
  }

  // ---- role changes ----

  private reset(term: bigint): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTimeout + Math.floor(this.cfg.random() * this.electionTimeout);
    this.abortLeaderTransfer();
    this.trk.resetVotes();
    const last = this.log.lastIndex();
    for (const [id, pr] of this.trk.progress) {
      pr.becomeProbe();
      pr.match = id === this.id ? last : 0n;
      pr.next = last + 1n;
      pr.recentActive = false;
      pr.wasActive = false;
      pr.leaseAckTick = 0;
    }
    this.pendingConfIndex = 0n;
    this.readOnly.reset();
    this.pendingReadIndexMessages = [];
    this.pendingBcast = false;
  }

  becomeFollower(term: bigint, lead: bigint): void {
    this.reset(term);
    this.lead = lead;
    this.role = 'follower';
  }

  becomePreCandidate(): void {
    if (this.role === 'leader') throw new Error('invalid transition leader -> pre-candidate');
    // Neither term nor vote changes: a pre-vote must not disturb anyone if it fails.
    this.trk.resetVotes();
    this.lead = NONE;
    this.role = 'pre-candidate';
  }

  becomeCandidate(): void {
    if (this.role === 'leader') throw new Error('invalid transition leader -> candidate');
    this.reset(this.term + 1n);
    this.vote = this.id;
    this.role = 'candidate';
    this.logger.info({ raft: this.id, term: this.term }, 'became candidate');
  }

  becomeLeader(): void {
    if (this.role === 'follower') throw new Error('invalid transition follower -> leader');
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    const self = this.trk.progress.get(this.id)!;
    self.becomeReplicate();
    self.recentActive = true;
    // Conf changes in the uncommitted tail may be pending: allow no new one until they apply.
    this.pendingConfIndex = this.log.lastIndex();
    // A no-op entry of the new term: committing it commits every earlier entry (§5.4.2) and
    // lets ReadIndex answer.
    this.appendEntry([{ term: 0n, index: 0n, type: EntryType.ENTRY_NORMAL, data: EMPTY }]);
    this.bcastAppend();
    this.logger.info({ raft: this.id, term: this.term }, 'became leader');
  }

  appendEntry(ents: Entry[]): void {
    let li = this.log.lastIndex();
    for (const e of ents) {
      e.term = this.term;
      e.index = ++li;
    }
    this.log.append(ents);
    // The leader counts itself: its entries are persisted (Ready.entries) before any later
    // Ready can carry a commit that depends on a follower's answer.
    this.trk.progress.get(this.id)!.maybeUpdate(this.log.lastIndex());
    this.maybeCommit();
  }

  maybeCommit(): boolean {
    return this.log.maybeCommit(this.trk.committed(), this.term);
  }

  // ---- ticks ----

  tick(): void {
    this.ticks++;
    if (this.startupLease && this.electionElapsed + 1 >= this.electionTimeout) this.startupLease = false;
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(this.cfg.preVote ? 'pre-election' : 'election');
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      this.checkQuorumWindow();
      if (this.role !== 'leader') return;
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.leadTransferee !== NONE) this.abortLeaderTransfer();
    }
    if (this.role !== 'leader') return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  /** End of an activity window: with CheckQuorum, step down unless a quorum was heard from. */
  private checkQuorumWindow(): void {
    if (this.cfg.checkQuorum && !this.trk.quorumActive(this.id)) {
      this.logger.warn({ raft: this.id, term: this.term }, 'stepped down: quorum not active');
      this.becomeFollower(this.term, NONE);
      return;
    }
    for (const [id, pr] of this.trk.progress) {
      if (id === this.id) continue;
      pr.wasActive = pr.recentActive;
      pr.recentActive = false;
    }
  }

  // ---- elections ----

  promotable(): boolean {
    const pr = this.trk.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && this.log.unstable.snapshot === undefined;
  }

  hup(kind: CampaignKind): void {
    if (this.role === 'leader') return;
    if (!this.promotable()) {
      this.logger.debug({ raft: this.id }, 'not promotable: ignoring campaign');
      return;
    }
    if (this.hasUnappliedConfChanges()) {
      this.logger.warn({ raft: this.id, term: this.term }, 'cannot campaign: conf changes committed but not applied');
      return;
    }
    this.campaign(kind);
  }

  private hasUnappliedConfChanges(): boolean {
    if (this.log.applied >= this.log.committed) return false;
    const ents = this.log.slice(this.log.applied + 1n, this.log.committed + 1n, Number.MAX_SAFE_INTEGER);
    return ents.some((e) => e.type === EntryType.ENTRY_CONF_CHANGE);
  }

  campaign(kind: CampaignKind): void {
    let voteMsg: MessageType;
    let term: bigint;
    if (kind === 'pre-election') {
      this.becomePreCandidate();
      voteMsg = MessageType.MSG_PRE_VOTE;
      term = this.term + 1n; // the term we would campaign in; ours stays unchanged
    } else {
      this.becomeCandidate();
      voteMsg = MessageType.MSG_VOTE;
      term = this.term;
    }
    if (this.poll(this.id, true) === 'won') {
      if (kind === 'pre-election') this.campaign('election');
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of this.trk.memberIds()) {
      if (id === this.id || !this.trk.isVoter(id)) continue;
      this.send(newMessage({
        type: voteMsg, to: id, term, index: lastIndex, logTerm: lastTerm,
        context: kind === 'transfer' ? CAMPAIGN_TRANSFER : EMPTY,
      }));
    }
  }

  poll(id: bigint, granted: boolean): VoteResult {
    this.trk.recordVote(id, granted);
    return this.trk.tallyVotes().result;
  }

  // ---- step ----

  step(m: Message): void {
    const T = MessageType;
    if (m.term === 0n) {
      // local message (or forwarded proposal / read request)
    } else if (m.term > this.term) {
      if (m.type === T.MSG_VOTE || m.type === T.MSG_PRE_VOTE) {
        const force = m.context.equals(CAMPAIGN_TRANSFER);
        const inLease = this.cfg.checkQuorum && (this.lead !== NONE || this.startupLease) && this.electionElapsed < this.electionTimeout;
        if (!force && inLease) {
          // Heard from a leader within the minimum election timeout: a disruptive (possibly
          // partitioned) candidate must not depose it (§4.2.3 of the thesis).
          this.logger.debug({ raft: this.id, from: m.from, term: m.term }, 'ignored vote request inside leader lease');
          return;
        }
      }
      if (m.type === T.MSG_PRE_VOTE) {
        // never change term for a pre-vote request
      } else if (m.type === T.MSG_PRE_VOTE_RESP && !m.reject) {
        // the term we asked for; we bump it only when a quorum grants the pre-vote
      } else if (m.type === T.MSG_APP || m.type === T.MSG_HEARTBEAT || m.type === T.MSG_SNAP) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if (m.type === T.MSG_HEARTBEAT || m.type === T.MSG_APP) {
        // A stale leader learns the current term from this answer and steps down. Without it a
        // member whose term was raised (by a candidate it still believes a member, or during a
        // partition) but that cannot campaign itself (a lagging learner, CheckQuorum, PreVote)
        // would ignore the leader forever.
        this.send(newMessage({ type: T.MSG_APP_RESP, to: m.from }));
      } else if (m.type === T.MSG_PRE_VOTE) {
        this.send(newMessage({ type: T.MSG_PRE_VOTE_RESP, to: m.from, term: this.term, reject: true }));
      }
      return; // ignore other messages from stale terms
    }

    switch (m.type) {
      case T.MSG_HUP:
        this.hup(this.cfg.preVote ? 'pre-election' : 'election');
        return;
      case T.MSG_VOTE:
      case T.MSG_PRE_VOTE: {
        const canVote = this.vote === m.from || (this.vote === NONE && this.lead === NONE) ||
          (m.type === T.MSG_PRE_VOTE && m.term > this.term);
        if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
          this.send(newMessage({ type: voteRespType(m.type), to: m.from, term: m.term }));
          if (m.type === T.MSG_VOTE) {
            this.electionElapsed = 0;
            this.vote = m.from;
          }
        } else if (this.term > 0n) {
          this.send(newMessage({ type: voteRespType(m.type), to: m.from, term: this.term, reject: true }));
        }
        // (At term 0 a rejection could not carry a term: the candidate simply times out.)
        return;
      }
      default:
        if (this.role === 'leader') stepLeader(this, m);
        else if (this.role === 'follower') stepFollower(this, m);
        else stepCandidate(this, m);
    }
  }

  // ---- membership ----

  switchToConfig(config: TrackerConfig, progress: Map<bigint, Progress>): ConfState {
    this.trk.setConfig(config, progress);
    const pr = progress.get(this.id);
    this.isLearner = pr?.isLearner ?? false;
    const cs = this.trk.confState();
    if ((!pr || this.isLearner) && this.role === 'leader') {
      // Removed or demoted: stop leading; the remaining voters elect a new leader.
      this.logger.info({ raft: this.id, term: this.term }, 'stepping down: no longer a voter');
      this.becomeFollower(this.term, NONE);
      return cs;
    }
    if (this.role !== 'leader' || cs.voters.length === 0) return cs;
    this.maybeCommit();
    this.bcastAppend();
    if (this.leadTransferee !== NONE && !progress.has(this.leadTransferee)) this.abortLeaderTransfer();
    return cs;
  }

  abortLeaderTransfer(): void {
    if (this.leadTransferee !== NONE && this.cfg.readOnly === 'lease') {
      // Voters may have granted the transferee's forced vote: acks so far prove no lease.
      for (const pr of this.trk.progress.values()) pr.leaseAckTick = 0;
    }
    this.leadTransferee = NONE;
  }


  sendTimeoutNow(to: bigint): void {
    this.send(newMessage({ type: MessageType.MSG_TIMEOUT_NOW, to }));
  }
}
