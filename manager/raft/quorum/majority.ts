// Majority quorum arithmetic over one voter set: the committed index and vote outcomes.

export type VoteResult = 'pending' | 'lost' | 'won';

/** Index acknowledged by a member, or undefined when it has not reported. */
export type AckedIndexer = (id: bigint) => bigint | undefined;

const MAX_INDEX = (1n << 64n) - 1n;

/**
 * Largest index acknowledged by a majority of voters. An empty voter set commits
 * everything, so that joint quorums with an empty outgoing half reduce to the incoming half.
 */
export function majorityCommitted(voters: ReadonlySet<bigint>, acked: AckedIndexer): bigint {
  const n = voters.size;
  if (n === 0) return MAX_INDEX;
  // Small n (a handful of managers): an insertion sort on a small array beats anything fancier.
  const idx: bigint[] = [];
  for (const id of voters) {
    const v = acked(id) ?? 0n;
    let j = idx.length;
    idx.push(v);
    while (j > 0 && idx[j - 1]! < v) { idx[j] = idx[j - 1]!; j--; }
    idx[j] = v;
  }
  return idx[Math.floor(n / 2)]!; // descending: the (n/2)-th largest is held by a majority
}

export function majorityVoteResult(voters: ReadonlySet<bigint>, votes: ReadonlyMap<bigint, boolean>): VoteResult {
  if (voters.size === 0) return 'won';
  let yes = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) yes++;
  }
  const q = Math.floor(voters.size / 2) + 1;
  if (yes >= q) return 'won';
  if (yes + missing >= q) return 'pending';
  return 'lost';
}

/** Whether the members for which `active` holds form a majority. */
export function majorityActive(voters: ReadonlySet<bigint>, active: (id: bigint) => boolean): boolean {
  if (voters.size === 0) return true;
  let yes = 0;
  for (const id of voters) if (active(id)) yes++;
  return yes >= Math.floor(voters.size / 2) + 1;
}
