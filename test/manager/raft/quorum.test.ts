// Quorum arithmetic against brute-force definitions, over random configurations.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jointCommitted, jointVoteResult } from '../../../manager/raft/quorum/joint.js';
import { majorityCommitted, majorityVoteResult } from '../../../manager/raft/quorum/majority.js';

const MAX = (1n << 64n) - 1n;

/** The largest index i such that a majority acknowledged >= i (0 if none). */
function bruteCommitted(voters: bigint[], acked: Map<bigint, bigint>): bigint {
  if (voters.length === 0) return MAX;
  let best = 0n;
  for (const cand of [0n, ...voters.map((v) => acked.get(v) ?? 0n)]) {
    const n = voters.filter((v) => (acked.get(v) ?? 0n) >= cand).length;
    if (n > voters.length / 2 && cand > best) best = cand;
  }
  return best;
}

const arbConfig = fc.uniqueArray(fc.integer({ min: 1, max: 9 }), { maxLength: 7 }).map((a) => a.map(BigInt));
const arbAcks = fc.dictionary(fc.integer({ min: 1, max: 9 }).map(String), fc.integer({ min: 0, max: 20 }))
  .map((d) => new Map(Object.entries(d).map(([k, v]) => [BigInt(k), BigInt(v)])));

describe('quorum', () => {
  it('majorityCommitted matches the definition', () => {
    fc.assert(fc.property(arbConfig, arbAcks, (voters, acks) => {
      expect(majorityCommitted(new Set(voters), (id) => acks.get(id))).toBe(bruteCommitted(voters, acks));
    }), { numRuns: 500 });
  });

  it('jointCommitted is the minimum of both halves', () => {
    fc.assert(fc.property(arbConfig, arbConfig, arbAcks, (a, b, acks) => {
      const got = jointCommitted({ incoming: new Set(a), outgoing: new Set(b) }, (id) => acks.get(id));
      const x = bruteCommitted(a, acks);
      const y = bruteCommitted(b, acks);
      expect(got).toBe(x < y ? x : y);
    }), { numRuns: 500 });
  });

  it('vote results', () => {
    const v = new Set([1n, 2n, 3n]);
    expect(majorityVoteResult(v, new Map([[1n, true]]))).toBe('pending');
    expect(majorityVoteResult(v, new Map([[1n, true], [2n, true]]))).toBe('won');
    expect(majorityVoteResult(v, new Map([[1n, true], [2n, false], [3n, false]]))).toBe('lost');
    expect(majorityVoteResult(new Set(), new Map())).toBe('won');
    // joint: must win both
    const j = { incoming: new Set([1n, 2n, 3n]), outgoing: new Set([3n, 4n, 5n]) };
    expect(jointVoteResult(j, new Map([[1n, true], [2n, true]]))).toBe('pending');
    expect(jointVoteResult(j, new Map([[1n, true], [2n, true], [3n, true], [4n, true]]))).toBe('won');
    expect(jointVoteResult(j, new Map([[1n, true], [2n, true], [4n, false], [5n, false]]))).toBe('lost');
  });
});
