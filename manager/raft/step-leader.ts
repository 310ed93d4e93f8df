// Message handling of the leader: proposals (with conf-change admission), follower
// acknowledgements and flow control, heartbeats and ReadIndex, leadership transfer.
import { ConfChange, ConfChangeType, type Entry, EntryType, type Message, MessageType } from '../../proto/gen/raft.js';
import { Changer } from './confchange/changer.js';
import { ConfChangeError, ProposalDroppedError, ProposalTooLargeError } from './errors.js';
import { EMPTY, NONE, newMessage } from './messages.js';
import { jointCommitted, jointVoteResult } from './quorum/joint.js';
import { majorityActive } from './quorum/majority.js';
import type { Raft } from './raft.js';
import type { Progress } from './tracker/progress.js';

const T = MessageType;

export function stepLeader(r: Raft, m: Message): void {
  switch (m.type) {
    case T.MSG_BEAT:
      r.bcastHeartbeat();
      return;
    case T.MSG_PROP:
      return handleProposal(r, m);
    case T.MSG_READ_INDEX:
      return handleReadIndex(r, m);
    default:
      break;
  }
  const pr = r.trk.progress.get(m.from);
  if (!pr) {
    r.droppedFromUnknown++;
    r.logger.debug({ raft: r.id, from: m.from, type: T[m.type] }, 'no progress for sender: dropped');
    return;
  }
  switch (m.type) {
    case T.MSG_APP_RESP:
      return handleAppendResponse(r, m, pr);
    case T.MSG_HEARTBEAT_RESP:
      return handleHeartbeatResponse(r, m, pr);
    case T.MSG_SNAP_STATUS:
      if (pr.state !== 'snapshot') return;
      if (m.reject) pr.pendingSnapshot = 0n;
      pr.becomeProbe();
      // Wait for the follower's MsgAppResp (or a heartbeat) before probing again.
      pr.msgAppFlowPaused = true;
      return;
    case T.MSG_UNREACHABLE:
      // An optimistic pipeline to an unreachable peer is pointless: go back to probing.
      if (pr.state === 'replicate') pr.becomeProbe();
      return;
    case T.MSG_TRANSFER_LEADER:
      return handleTransferLeader(r, m, pr);
    default:
      return;
  }
}

function handleProposal(r: Raft, m: Message): void {
  const local = m.from === r.id;
  const drop = (why: string): void => {
    if (local) throw new ProposalDroppedError(why);
    r.logger.debug({ raft: r.id, from: m.from }, `dropped forwarded proposal: ${why}`);
  };
  if (m.entries.length === 0) throw new Error('stepped an empty MsgProp');
  if (!r.trk.progress.has(r.id)) return drop('this member was removed from the cluster');
  if (r.leadTransferee !== NONE) return drop(`leadership is being transferred to ${r.leadTransferee}`);
  for (const e of m.entries) {
    if (e.data.length > r.cfg.maxProposalBytes) {
      if (local) throw new ProposalTooLargeError(e.data.length, r.cfg.maxProposalBytes);
      return drop('proposal too large');
    }
  }
  const ents: Entry[] = [];
  let pendingConf = r.pendingConfIndex;
  for (let i = 0; i < m.entries.length; i++) {
    const e = m.entries[i]!;
    // Copies: appendEntry stamps term and index, and the message may be shared (or redelivered).
    if (e.type !== EntryType.ENTRY_CONF_CHANGE) { ents.push({ ...e }); continue; }
    const refusal = confChangeRefusal(r, e, pendingConf);
    if (refusal !== undefined) {
      if (local) throw new ConfChangeError(refusal);
      r.logger.warn({ raft: r.id, from: m.from }, `refused forwarded conf change: ${refusal}`);
      ents.push({ term: 0n, index: 0n, type: EntryType.ENTRY_NORMAL, data: EMPTY }); // keep the batch's shape
      continue;
    }
    pendingConf = r.log.lastIndex() + BigInt(i) + 1n;
    ents.push({ ...e });
  }
  r.pendingConfIndex = pendingConf;
  r.appendEntry(ents);
  r.bcastAppend();
}

/** Why a conf change must not be appended now, or undefined if it may. */
function confChangeRefusal(r: Raft, e: Entry, pendingConf: bigint): string | undefined {
  if (pendingConf > r.log.applied) {
    return `a previous change (log index ${pendingConf}) is not applied yet; wait for it to finish`;
  }
  let cc: ConfChange;
  try { cc = ConfChange.decode(e.data); } catch {
    return 'the entry is not a valid ConfChange';
  }
  const joint = r.trk.isJoint();
  if (cc.changes.length === 0 && !joint) return 'empty change outside a joint configuration';
  if (cc.changes.length > 0 && joint) return 'a joint configuration is in effect; it must be left first';
  const ch = new Changer(r.trk.config, r.trk.progress, r.log.lastIndex(), r.cfg.maxInflightMsgs);
  let next;
  try {
    next = cc.changes.length === 0 ? ch.leaveJoint() : cc.changes.length === 1 ? ch.simple(cc.changes) : ch.enterJoint(true, cc.changes);
  } catch (err) {
    if (err instanceof ConfChangeError) return err.message.replace(/^membership change refused: /, '');
    throw err;
  }
  // A learner becomes a voter only once it has caught up: a voter that needs the whole log
  // first would weaken the quorum meanwhile.
  for (const c of cc.changes) {
    if (c.type !== ConfChangeType.CONF_ADD_VOTER) continue;
    const pr = r.trk.progress.get(c.nodeId);
    if (pr?.isLearner && pr.match < r.log.committed) {
      return `learner ${c.nodeId} has not caught up (it has index ${pr.match}, the cluster committed ${r.log.committed}); retry once it has`;
    }
  }
  // Removing (or demoting) voters must leave a quorum of members we recently heard from,
  // or the cluster would be unable to commit anything, including the change back.
  const removesVoter = cc.changes.some((c) => c.type !== ConfChangeType.CONF_ADD_VOTER && r.trk.isVoter(c.nodeId));
  if (removesVoter) {
    const active = (id: bigint): boolean => {
      if (id === r.id) return true;
      const pr = r.trk.progress.get(id);
      return pr !== undefined && (pr.recentActive || pr.wasActive);
    };
    if (!majorityActive(next.config.voters.incoming, active)) {
      const ids = [...next.config.voters.incoming].join(',');
      return `the remaining voters (${ids}) would not have a quorum of reachable members; bring members back first`;
    }
  }
  return undefined;
}

function handleReadIndex(r: Raft, m: Message): void {
  if (r.trk.isSingleton()) {
    responseToReadIndex(r, m, r.log.committed);
    return;
  }
  // Until an entry of this term commits, the leader may not know the latest commit index.
  if (!committedEntryInCurrentTerm(r)) {
    r.pendingReadIndexMessages.push(m);
    return;
  }
  sendReadIndexResponse(r, m);
}

export function committedEntryInCurrentTerm(r: Raft): boolean {
  return r.log.termOrZero(r.log.committed) === r.term;
}

function sendReadIndexResponse(r: Raft, m: Message): void {
  // Within the lease no other leader can exist: answer without a round trip. Otherwise (lease
  // expired, transfer in progress, or readOnly 'safe') confirm leadership with a heartbeat round.
  if (r.cfg.readOnly === 'lease' && inLeaderLease(r)) {
    responseToReadIndex(r, m, r.log.committed);
    return;
  }
  r.readOnly.addRequest(r.log.committed, m);
  r.readOnly.recvAck(r.id, m.context);
  r.bcastHeartbeat(m.context);
}

function responseToReadIndex(r: Raft, m: Message, index: bigint): void {
  if (m.from === NONE || m.from === r.id) {
    r.readStates.push({ index, context: m.context });
    return;
  }
  r.send(newMessage({ type: T.MSG_READ_INDEX_RESP, to: m.from, index, context: m.context }));
}

export function releasePendingReadIndexMessages(r: Raft): void {
  if (r.pendingReadIndexMessages.length === 0 || !committedEntryInCurrentTerm(r)) return;
  const msgs = r.pendingReadIndexMessages;
  r.pendingReadIndexMessages = [];
  for (const m of msgs) sendReadIndexResponse(r, m);
}

function handleAppendResponse(r: Raft, m: Message, pr: Progress): void {
  pr.recentActive = true;
  if (m.reject) {
    let nextProbe = m.rejectHint;
    if (m.logTerm > 0n) {
      // The follower told us the term at its hint: skip every entry of ours with a larger term.
      nextProbe = r.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
    }
    if (pr.maybeDecrTo(m.index, nextProbe)) {
      if (pr.state === 'replicate') pr.becomeProbe();
      r.maybeSendAppend(m.from, true);
    }
    return;
  }
  const wasPaused = pr.isPaused();
  if (!pr.maybeUpdate(m.index) && !(pr.match === m.index && pr.state === 'probe')) return;
  if (pr.state === 'probe') {
    pr.becomeReplicate();
  } else if (pr.state === 'snapshot' && pr.match + 1n >= r.log.firstIndex()) {
    // The follower caught up past our first index: resume normal replication.
    pr.becomeProbe();
    pr.becomeReplicate();
  } else if (pr.state === 'replicate') {
    pr.inflights.freeLE(m.index);
  }
  if (r.maybeCommit()) {
    releasePendingReadIndexMessages(r);
    r.bcastAppend();
  } else if (m.from !== r.id && (wasPaused || pr.next <= r.log.lastIndex())) {
    // Refill the pipeline now that the window has room.
    while (r.maybeSendAppend(m.from, false));
  }
  if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) {
    r.logger.info({ raft: r.id, to: m.from }, 'transferee caught up: sending MsgTimeoutNow');
    r.sendTimeoutNow(m.from);
  }
}

function handleHeartbeatResponse(r: Raft, m: Message, pr: Progress): void {
  pr.recentActive = true;
  pr.msgAppFlowPaused = false;
  // A full window may hold a lost message: free one slot so the next append probes past it.
  if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
  if (pr.match < r.log.lastIndex() || pr.state === 'probe') r.maybeSendAppend(m.from, true);
  if (r.cfg.readOnly === 'lease' && m.index > BigInt(pr.leaseAckTick)) pr.leaseAckTick = Number(m.index);
  if (m.context.length === 0) return;
  const acks = r.readOnly.recvAck(m.from, m.context);
  if (!acks) return;
  const votes = new Map<bigint, boolean>();
  for (const id of acks) votes.set(id, true);
  if (jointVoteResult(r.trk.config.voters, votes) !== 'won') return;
  for (const rs of r.readOnly.advance(m.context)) responseToReadIndex(r, rs.req, rs.index);
}

function handleTransferLeader(r: Raft, m: Message, pr: Progress): void {
  if (pr.isLearner) {
    r.logger.info({ raft: r.id, to: m.from }, 'cannot transfer leadership to a learner');
    return;
  }
  const transferee = m.from;
  if (r.leadTransferee !== NONE) {
    if (r.leadTransferee === transferee) return; // already in progress
    r.abortLeaderTransfer();
  }
  if (transferee === r.id) return; // already the leader
  // The transfer must finish within an election timeout or it is abandoned.
  r.electionElapsed = 0;
  r.leadTransferee = transferee;
  if (pr.match === r.log.lastIndex()) r.sendTimeoutNow(transferee);
  else r.maybeSendAppend(transferee, true);
}

/**
 * Lease mode: whether a quorum answered a heartbeat recent enough that no other leader can
 * have been elected since. Assumes clocks that tick at the same rate within the margin.
 */
export function inLeaderLease(r: Raft): boolean {
  if (r.role !== 'leader' || r.leadTransferee !== NONE) return false;
  const now = BigInt(r.ticks);
  const t = jointCommitted(r.trk.config.voters, (id) => (id === r.id ? now : BigInt(r.trk.progress.get(id)?.leaseAckTick ?? 0)));
  const margin = BigInt(Math.max(1, Math.ceil(r.electionTimeout / 10)));
  return t > 0n && now < t + BigInt(r.electionTimeout) - margin;
}
