// Joint quorum: during a joint configuration (C_old,new) a decision needs a majority of
// both the incoming and the outgoing voter sets.
import { type AckedIndexer, majorityActive, majorityCommitted, majorityVoteResult, type VoteResult } from './majority.js';

export interface JointVoters {
  incoming: Set<bigint>;
  outgoing: Set<bigint>; // empty unless in a joint configuration
}

export function jointCommitted(v: JointVoters, acked: AckedIndexer): bigint {
  const a = majorityCommitted(v.incoming, acked);
  const b = majorityCommitted(v.outgoing, acked);
  return a < b ? a : b;
}

export function jointVoteResult(v: JointVoters, votes: ReadonlyMap<bigint, boolean>): VoteResult {
  const a = majorityVoteResult(v.incoming, votes);
  const b = majorityVoteResult(v.outgoing, votes);
  if (a === b) return a;
  if (a === 'lost' || b === 'lost') return 'lost';
  return 'pending';
}

export function jointActive(v: JointVoters, active: (id: bigint) => boolean): boolean {
  return majorityActive(v.incoming, active) && majorityActive(v.outgoing, active);
}

export function jointIds(v: JointVoters): Set<bigint> {
  const s = new Set(v.incoming);
  for (const id of v.outgoing) s.add(id);
  return s;
}
