// Message handling of followers and (pre-)candidates: accept the leader's appends, heartbeats
// and snapshots, forward proposals and read requests, count votes.
import { type Message, MessageType, type Snapshot } from '../../proto/gen/raft.js';
import { restoreConfig } from './confchange/restore.js';
import { NotLeaderError, ProposalDroppedError } from './errors.js';
import { NONE, newMessage } from './messages.js';
import type { Raft } from './raft.js';

const T = MessageType;

export function stepFollower(r: Raft, m: Message): void {
  switch (m.type) {
    case T.MSG_PROP:
      if (r.lead === NONE) return dropProposal(r, m, 'no leader is known');
      if (r.cfg.forwardProposals === false && m.from === r.id) throw new NotLeaderError(r.lead);
      m.to = r.lead;
      r.send(m);
      return;
    case T.MSG_APP:
      r.electionElapsed = 0;
      r.lead = m.from;
      handleAppendEntries(r, m);
      return;
    case T.MSG_HEARTBEAT:
      r.electionElapsed = 0;
      r.lead = m.from;
      handleHeartbeat(r, m);
      return;
    case T.MSG_SNAP:
      r.electionElapsed = 0;
      r.lead = m.from;
      handleSnapshot(r, m);
      return;
    case T.MSG_TRANSFER_LEADER:
      if (r.lead === NONE) {
        r.logger.info({ raft: r.id }, 'no leader: dropping leadership transfer');
        return;
      }
      m.to = r.lead;
      r.send(m);
      return;
    case T.MSG_TIMEOUT_NOW:
      // The leader asks us to campaign at once, skipping pre-vote (it is handing over).
      r.logger.info({ raft: r.id, from: m.from }, 'received MsgTimeoutNow: campaigning');
      r.hup('transfer');
      return;
    case T.MSG_READ_INDEX:
      if (r.lead === NONE) {
        if (m.from === r.id) throw new ProposalDroppedError('read index: no leader is known');
        return;
      }
      m.to = r.lead;
      r.send(m);
      return;
    case T.MSG_READ_INDEX_RESP:
      r.readStates.push({ index: m.index, context: m.context });
      return;
    default:
      return;
  }
}

export function stepCandidate(r: Raft, m: Message): void {
  const myVoteResp = r.role === 'pre-candidate' ? T.MSG_PRE_VOTE_RESP : T.MSG_VOTE_RESP;
  switch (m.type) {
    case T.MSG_PROP:
      return dropProposal(r, m, 'an election is in progress');
    case T.MSG_READ_INDEX:
      if (m.from === r.id) throw new ProposalDroppedError('read index: an election is in progress');
      return;
    case T.MSG_APP:
      r.becomeFollower(m.term, m.from); // m.term is our term: a leader won it
      handleAppendEntries(r, m);
      return;
    case T.MSG_HEARTBEAT:
      r.becomeFollower(m.term, m.from);
      handleHeartbeat(r, m);
      return;
    case T.MSG_SNAP:
      r.becomeFollower(m.term, m.from);
      handleSnapshot(r, m);
      return;
    case myVoteResp: {
      const res = r.poll(m.from, !m.reject);
      if (res === 'won') {
        if (r.role === 'pre-candidate') r.campaign('election');
        else r.becomeLeader();
      } else if (res === 'lost') {
        // T.MSG_PRE_VOTE_RESP carries the voter's term; stay in ours.
        r.becomeFollower(r.term, NONE);
      }
      return;
    }
    default:
      return;
  }
}

function dropProposal(r: Raft, m: Message, why: string): void {
  if (m.from === r.id) throw new ProposalDroppedError(why);
  r.logger.debug({ raft: r.id, from: m.from }, `dropped forwarded proposal: ${why}`);
}

export function handleAppendEntries(r: Raft, m: Message): void {
  if (m.index < r.log.committed) {
    r.send(newMessage({ type: T.MSG_APP_RESP, to: m.from, index: r.log.committed }));
    return;
  }
  const lastNew = r.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
  if (lastNew !== undefined) {
    r.send(newMessage({ type: T.MSG_APP_RESP, to: m.from, index: lastNew }));
    return;
  }
  // Reject with a hint: the last index whose term is <= m.logTerm, so the leader can skip a
  // whole term of conflicting entries per round trip instead of one entry.
  const last = r.log.lastIndex();
  const hint = r.log.findConflictByTerm(m.index < last ? m.index : last, m.logTerm);
  r.send(newMessage({ type: T.MSG_APP_RESP, to: m.from, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term }));
}

function handleHeartbeat(r: Raft, m: Message): void {
  r.log.commitTo(m.commit);
  r.send(newMessage({ type: T.MSG_HEARTBEAT_RESP, to: m.from, index: m.index, context: m.context }));
}

function handleSnapshot(r: Raft, m: Message): void {
  const s = m.snapshot!;
  if (restoreSnapshot(r, s)) {
    r.send(newMessage({ type: T.MSG_APP_RESP, to: m.from, index: r.log.lastIndex() }));
  } else {
    r.send(newMessage({ type: T.MSG_APP_RESP, to: m.from, index: r.log.committed }));
  }
}

/** Installs a snapshot from the leader; returns false if it is stale or not for us. */
export function restoreSnapshot(r: Raft, s: Snapshot): boolean {
  const md = s.metadata!;
  if (md.index <= r.log.committed) return false;
  if (r.role !== 'follower') {
    // Only a leader of our term sends snapshots; be defensive and never install one otherwise.
    r.becomeFollower(r.term + 1n, NONE);
    return false;
  }
  const cs = md.confState!;
  const inConf = cs.voters.includes(r.id) || cs.learners.includes(r.id) || cs.votersOutgoing.includes(r.id);
  // A brand-new member (no configuration yet) accepts a snapshot taken before it was added:
  // it learns of its own addition from the log that follows.
  if (!inConf && r.trk.progress.size > 0) {
    r.logger.warn({ raft: r.id, index: md.index }, 'ignoring snapshot whose configuration does not include this member');
    return false;
  }
  if (r.log.matchTerm(md.index, md.term)) {
    r.log.commitTo(md.index); // we already have it: fast-forward commit only
    return false;
  }
  r.log.restore(s);
  const next = restoreConfig(cs, r.log.lastIndex(), r.cfg.maxInflightMsgs);
  r.switchToConfig(next.config, next.progress);
  r.logger.info({ raft: r.id, index: md.index, term: md.term }, 'restored snapshot');
  return true;
}
