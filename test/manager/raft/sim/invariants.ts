// The safety properties of Raft (§5.2-5.4, Figure 3 of the paper), checked continuously
// while the simulator runs. Each check throws SafetyViolation with what it saw.
import type { Entry } from '../../../../proto/gen/raft.js';
import type { MemoryLogStorage } from '../../../../manager/raft/index.js';

export class SafetyViolation extends Error {}

const fp = (e: Entry): string => `${e.term}:${e.type}:${e.data.toString('base64')}`;

export class SafetyMonitor {
  /** Election safety: at most one leader per term. */
  private leaders = new Map<bigint, bigint>();
  /** State machine safety: what was applied at each index, by anyone. */
  private applied = new Map<bigint, string>();
  /** Committed entries seen so far (for leader completeness). */
  private committed = new Map<bigint, string>();
  private maxCommitted = 0n;

  leaderSeen(id: bigint, term: bigint): void {
    const prev = this.leaders.get(term);
    if (prev !== undefined && prev !== id) throw new SafetyViolation(`election safety: term ${term} has two leaders, ${prev} and ${id}`);
    this.leaders.set(term, id);
  }

  /** Leader append-only: a leader's Ready never rewrites entries it already has. */
  leaderAppend(id: bigint, term: bigint, storage: MemoryLogStorage, ents: Entry[]): void {
    if (!ents.length) return;
    if (ents[0]!.index <= storage.lastIndex()) {
      throw new SafetyViolation(`leader append-only: leader ${id} (term ${term}) rewrites from index ${ents[0]!.index} (last ${storage.lastIndex()})`);
    }
  }

  entryApplied(id: bigint, e: Entry): void {
    const f = fp(e);
    const prev = this.applied.get(e.index);
    if (prev !== undefined && prev !== f) throw new SafetyViolation(`state machine safety: member ${id} applied ${f} at index ${e.index}, another member applied ${prev}`);
    this.applied.set(e.index, f);
    this.committed.set(e.index, f);
    if (e.index > this.maxCommitted) this.maxCommitted = e.index;
  }

  /** Leader completeness: a new leader's log holds every entry known to be committed. */
  newLeader(id: bigint, term: bigint, storage: MemoryLogStorage, unstable: Entry[]): void {
    const first = storage.firstIndex();
    const byIndex = new Map<bigint, Entry>();
    if (storage.lastIndex() >= first) for (const e of storage.entries(first, storage.lastIndex() + 1n, Number.MAX_SAFE_INTEGER)) byIndex.set(e.index, e);
    for (const e of unstable) byIndex.set(e.index, e);
    for (const [idx, f] of this.committed) {
      if (idx < first) continue; // inside its snapshot
      const e = byIndex.get(idx);
      if (!e || fp(e) !== f) throw new SafetyViolation(`leader completeness: leader ${id} of term ${term} lacks committed entry ${idx} (${f}); has ${e ? fp(e) : 'nothing'}`);
    }
  }

  /** Log matching: two logs with an entry of the same index and term are identical up to it. */
  static logMatching(logs: Map<bigint, MemoryLogStorage>): void {
    const views = [...logs].map(([id, s]) => {
      const m = new Map<bigint, string>();
      const first = s.firstIndex();
      if (s.lastIndex() >= first) for (const e of s.entries(first, s.lastIndex() + 1n, Number.MAX_SAFE_INTEGER)) m.set(e.index, fp(e));
      return { id, m, first, last: s.lastIndex() };
    });
    for (let i = 0; i < views.length; i++) for (let j = i + 1; j < views.length; j++) {
      const a = views[i]!;
      const b = views[j]!;
      const lo = a.first > b.first ? a.first : b.first;
      const hi = a.last < b.last ? a.last : b.last;
      let matched = false;
      for (let k = hi; k >= lo; k--) {
        const x = a.m.get(k);
        const y = b.m.get(k);
        const sameTerm = x !== undefined && y !== undefined && x.split(':')[0] === y.split(':')[0];
        if (sameTerm) matched = true;
        if (matched && x !== y) throw new SafetyViolation(`log matching: members ${a.id} and ${b.id} agree on a later index but differ at ${k} (${x} vs ${y})`);
      }
    }
  }
}
