// The simulator's safety monitor must be able to fail: each of the paper's five properties
// (election safety, leader append-only, log matching, leader completeness, state machine
// safety) is fed a violating observation.
import { describe, expect, it } from 'vitest';
import { type Entry, MemoryLogStorage } from '../../../manager/raft/index.js';
import { SafetyMonitor, SafetyViolation } from './sim/invariants.js';

const ent = (term: number, index: number, data = ''): Entry => ({ term: BigInt(term), index: BigInt(index), type: 0, data: Buffer.from(data) });
const store = (...es: Entry[]): MemoryLogStorage => { const s = new MemoryLogStorage(); s.append(es); return s; };

describe('safety monitor', () => {
  it('election safety: two leaders in one term', () => {
    const m = new SafetyMonitor();
    m.leaderSeen(1n, 3n);
    m.leaderSeen(1n, 3n);
    m.leaderSeen(2n, 4n);
    expect(() => m.leaderSeen(2n, 3n)).toThrow(SafetyViolation);
  });

  it('leader append-only: a leader rewriting its log', () => {
    const m = new SafetyMonitor();
    const s = store(ent(1, 1), ent(1, 2));
    m.leaderAppend(1n, 1n, s, [ent(1, 3)]);
    expect(() => m.leaderAppend(1n, 1n, s, [ent(1, 2, 'other')])).toThrow(SafetyViolation);
  });

  it('log matching: same index and term, different history', () => {
    const a = store(ent(1, 1, 'x'), ent(2, 2));
    const b = store(ent(1, 1, 'y'), ent(2, 2));
    const c = store(ent(1, 1, 'x'), ent(3, 2));
    expect(() => SafetyMonitor.logMatching(new Map([[1n, a], [3n, c]]))).not.toThrow();
    expect(() => SafetyMonitor.logMatching(new Map([[1n, a], [2n, b]]))).toThrow(SafetyViolation);
  });

  it('leader completeness: a new leader missing a committed entry', () => {
    const m = new SafetyMonitor();
    m.entryApplied(1n, ent(1, 1, 'a'));
    m.entryApplied(1n, ent(1, 2, 'b'));
    m.newLeader(2n, 2n, store(ent(1, 1, 'a'), ent(1, 2, 'b')), [ent(2, 3)]);
    expect(() => m.newLeader(3n, 3n, store(ent(1, 1, 'a')), [ent(3, 2)])).toThrow(SafetyViolation);
  });

  it('state machine safety: two different entries applied at one index', () => {
    const m = new SafetyMonitor();
    m.entryApplied(1n, ent(1, 1, 'a'));
    m.entryApplied(2n, ent(1, 1, 'a'));
    expect(() => m.entryApplied(3n, ent(2, 1, 'b'))).toThrow(SafetyViolation);
  });
});
