// The core's view of the log: persisted entries (LogStorage) followed by unstable ones,
// plus the commit and applied cursors. Term lookups and conflict searches live here.
import type { Entry, Snapshot } from '../../../proto/gen/raft.js';
import { CompactedError, UnavailableError } from '../errors.js';
import { entrySize } from '../messages.js';
import type { LogStorage } from './storage.js';
import { Unstable } from './unstable.js';

export class RaftLog {
  readonly unstable: Unstable;
  committed: bigint;
  applied: bigint;

  constructor(readonly storage: LogStorage) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1n);
    this.committed = first - 1n;
    this.applied = first - 1n;
  }

  firstIndex(): bigint {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): bigint {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): bigint {
    return this.term(this.lastIndex());
  }

  /** Term at index i; throws CompactedError below the first index (minus one), UnavailableError past the end. */
  term(i: bigint): bigint {
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    const dummy = this.firstIndex() - 1n;
    if (i < dummy) throw new CompactedError(i, dummy + 1n);
    if (i > this.lastIndex()) throw new UnavailableError(`term of index ${i}: last index is ${this.lastIndex()}`);
    return this.storage.term(i);
  }

  /** Term at i, or 0 when it is not known (compacted or past the end). */
  termOrZero(i: bigint): bigint {
    try { return this.term(i); } catch (e) {
      if (e instanceof CompactedError || e instanceof UnavailableError) return 0n;
      throw e;
    }
  }

  matchTerm(i: bigint, t: bigint): boolean {
    try { return this.term(i) === t; } catch (e) {
      if (e instanceof CompactedError || e instanceof UnavailableError) return false;
      throw e;
    }
  }

  /** Is a log ending at (lastIndex, lastTerm) at least as up-to-date as ours (§5.4.1)? */
  isUpToDate(lasti: bigint, term: bigint): boolean {
    const lt = this.lastTerm();
    return term > lt || (term === lt && lasti >= this.lastIndex());
  }

  /**
   * Follower side of MsgApp: if our log matches (index, logTerm), append ents (truncating
   * at the first conflict) and advance commit; returns the last new index, or undefined.
   */
  maybeAppend(index: bigint, logTerm: bigint, committed: bigint, ents: Entry[]): bigint | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + BigInt(ents.length);
    const ci = this.findConflict(ents);
    if (ci !== 0n) {
      if (ci <= this.committed) throw new Error(`entry ${ci} conflicts with committed entry (committed ${this.committed})`);
      this.append(ents.slice(Number(ci - (index + 1n))));
    }
    this.commitTo(committed < lastNew ? committed : lastNew);
    return lastNew;
  }

  append(ents: Entry[]): bigint {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0]!.index - 1n;
    if (after < this.committed) throw new Error(`append after ${after} is below committed ${this.committed}`);
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /** Index of the first entry whose term differs from ours, the first new one, or 0 if all match. */
  findConflict(ents: Entry[]): bigint {
    const last = this.lastIndex();
    for (const e of ents) {
      if (e.index > last) return e.index;
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0n;
  }

  /**
   * The largest index <= index whose term is <= term (or the first unknown one): where a
   * leader's log with `term` at `index` can possibly match ours. Fast back-tracking (§5.3).
   */
  findConflictByTerm(index: bigint, term: bigint): { index: bigint; term: bigint } {
    for (;;) {
      let t: bigint;
      try { t = this.term(index); } catch (e) {
        if (e instanceof CompactedError || e instanceof UnavailableError) return { index, term: 0n };
        throw e;
      }
      if (t <= term) return { index, term: t };
      if (index === 0n) return { index, term: t };
      index--;
    }
  }

  /** Entries [lo, hi) from storage and unstable, within maxBytes (at least one). */
  slice(lo: bigint, hi: bigint, maxBytes: number): Entry[] {
    if (lo === hi) return [];
    const first = this.firstIndex();
    if (lo < first) throw new CompactedError(lo, first);
    const last = this.lastIndex();
    if (hi > last + 1n) throw new UnavailableError(`slice [${lo}, ${hi}) past last index ${last}`);
    const out: Entry[] = [];
    let size = 0;
    const uoff = this.unstable.offset;
    if (lo < uoff) {
      const end = hi < uoff ? hi : uoff;
      const stored = this.storage.entries(lo, end, maxBytes);
      for (const e of stored) { out.push(e); size += entrySize(e); }
      if (BigInt(stored.length) < end - lo || size >= maxBytes) return out; // hit the size limit
    }
    if (hi > uoff) {
      // Walk only as far as the byte budget allows: a lagging follower may be far behind.
      const u = this.unstable.entries;
      const from = Number((lo > uoff ? lo : uoff) - uoff);
      const to = Number(hi - uoff);
      for (let i = from; i < to; i++) {
        const e = u[i]!;
        size += entrySize(e);
        if (out.length > 0 && size > maxBytes) break;
        out.push(e);
      }
    }
    return out;
  }

  entries(i: bigint, maxBytes: number): Entry[] {
    const last = this.lastIndex();
    if (i > last) return [];
    return this.slice(i, last + 1n, maxBytes);
  }

  /** Committed entries not yet handed out for application, up to `upTo` (default: all). */
  nextCommittedEnts(maxBytes: number, upTo?: bigint): Entry[] {
    const lo = this.applyingFrom();
    const hi = this.applyBound(upTo);
    if (hi + 1n <= lo) return [];
    return this.slice(lo, hi + 1n, maxBytes);
  }

  hasNextCommittedEnts(upTo?: bigint): boolean {
    return this.applyBound(upTo) + 1n > this.applyingFrom();
  }

  private applyBound(upTo: bigint | undefined): bigint {
    return upTo !== undefined && upTo < this.committed ? upTo : this.committed;
  }

  private applyingFrom(): bigint {
    const f = this.firstIndex();
    return this.applied + 1n > f ? this.applied + 1n : f;
  }

  commitTo(c: bigint): void {
    if (c <= this.committed) return;
    if (c > this.lastIndex()) throw new Error(`commit ${c} is out of range [last index ${this.lastIndex()}]`);
    this.committed = c;
  }

  appliedTo(i: bigint): void {
    if (i === 0n) return;
    if (i > this.committed || i < this.applied) throw new Error(`applied ${i} is out of range [prev applied ${this.applied}, committed ${this.committed}]`);
    this.applied = i;
  }

  /** Leader commit rule: only entries of the current term are committed by counting (§5.4.2). */
  maybeCommit(maxIndex: bigint, term: bigint): boolean {
    if (maxIndex > this.committed && this.termOrZero(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  stableTo(i: bigint, t: bigint): void { this.unstable.stableTo(i, t); }
  stableSnapTo(i: bigint): void { this.unstable.stableSnapTo(i); }

  unstableEntries(): Entry[] { return this.unstable.entries; }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  restore(s: Snapshot): void {
    this.committed = s.metadata!.index;
    this.unstable.restore(s);
  }
}
