// Entries (and possibly a snapshot) the core holds that the caller has not persisted yet.
import type { Entry, Snapshot } from '../../../proto/gen/raft.js';

export class Unstable {
  snapshot: Snapshot | undefined;
  entries: Entry[] = [];
  /** Index of entries[0]. */
  offset: bigint;

  constructor(offset: bigint) { this.offset = offset; }

  maybeFirstIndex(): bigint | undefined {
    return this.snapshot ? this.snapshot.metadata!.index + 1n : undefined;
  }

  maybeLastIndex(): bigint | undefined {
    if (this.entries.length > 0) return this.offset + BigInt(this.entries.length) - 1n;
    return this.snapshot ? this.snapshot.metadata!.index : undefined;
  }

  maybeTerm(i: bigint): bigint | undefined {
    if (i < this.offset) {
      if (this.snapshot && this.snapshot.metadata!.index === i) return this.snapshot.metadata!.term;
      return undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || i > last) return undefined;
    return this.entries[Number(i - this.offset)]!.term;
  }

  /** The caller persisted entries up to (i, t): drop them if they are still what we hold. */
  stableTo(i: bigint, t: bigint): void {
    const gt = this.maybeTerm(i);
    if (gt === undefined || gt !== t || i < this.offset) return;
    const n = Number(i + 1n - this.offset);
    this.entries = this.entries.slice(n);
    this.offset = i + 1n;
  }

  stableSnapTo(i: bigint): void {
    if (this.snapshot && this.snapshot.metadata!.index === i) this.snapshot = undefined;
  }

  restore(s: Snapshot): void {
    this.offset = s.metadata!.index + 1n;
    this.entries = [];
    this.snapshot = s;
  }

  truncateAndAppend(ents: Entry[]): void {
    const after = ents[0]!.index;
    const end = this.offset + BigInt(this.entries.length);
    if (after === end) {
      for (const e of ents) this.entries.push(e);
    } else if (after <= this.offset) {
      // Replaces everything unstable: the caller will truncate storage from `after` on.
      this.offset = after;
      this.entries = ents.slice();
    } else {
      this.entries = this.entries.slice(0, Number(after - this.offset));
      for (const e of ents) this.entries.push(e);
    }
  }

  slice(lo: bigint, hi: bigint): Entry[] {
    return this.entries.slice(Number(lo - this.offset), Number(hi - this.offset));
  }
}
