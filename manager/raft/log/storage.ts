// The read view of the persisted log that the core consults (etcd's Storage), and an
// in-memory implementation used by tests, the simulator, and as the driver's cache.
import type { ConfState, Entry, HardState, Snapshot } from '../../../proto/gen/raft.js';
import { CompactedError, UnavailableError } from '../errors.js';
import { EMPTY, entrySize } from '../messages.js';

export interface LogStorage {
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries [lo, hi), at most maxBytes (but at least one entry when the range is not empty). */
  entries(lo: bigint, hi: bigint, maxBytes: number): Entry[];
  /** Term of the entry at index; throws CompactedError / UnavailableError. */
  term(index: bigint): bigint;
  firstIndex(): bigint;
  lastIndex(): bigint;
  /** The most recent snapshot; may throw UnavailableError while one is being made. */
  snapshot(): Snapshot;
}

export function emptyConfState(): ConfState {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}

export function emptySnapshot(): Snapshot {
  return { metadata: { index: 0n, term: 0n, confState: emptyConfState(), clusterId: '' }, data: EMPTY };
}

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0n && hs.vote === 0n && hs.commit === 0n;
}

export class MemoryLogStorage implements LogStorage {
  private hardState: HardState = { term: 0n, vote: 0n, commit: 0n };
  private snap: Snapshot = emptySnapshot();
  /** ents[0] is a dummy holding the index and term of the last compacted entry. */
  private ents: Entry[] = [{ term: 0n, index: 0n, type: 0, data: EMPTY }];

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: this.snap.metadata?.confState ?? emptyConfState() };
  }

  setHardState(hs: HardState): void { this.hardState = { ...hs }; }

  private offset(): bigint { return this.ents[0]!.index; }

  firstIndex(): bigint { return this.offset() + 1n; }
  lastIndex(): bigint { return this.offset() + BigInt(this.ents.length - 1); }

  term(index: bigint): bigint {
    const off = this.offset();
    if (index < off) throw new CompactedError(index, off + 1n);
    if (index - off >= BigInt(this.ents.length)) throw new UnavailableError(`index ${index} is past the last index ${this.lastIndex()}`);
    return this.ents[Number(index - off)]!.term;
  }

  entries(lo: bigint, hi: bigint, maxBytes: number): Entry[] {
    const off = this.offset();
    if (lo <= off) throw new CompactedError(lo, off + 1n);
    if (hi > this.lastIndex() + 1n) throw new UnavailableError(`entries up to ${hi - 1n} requested, last index is ${this.lastIndex()}`);
    const out: Entry[] = [];
    let size = 0;
    for (let i = Number(lo - off); i < Number(hi - off); i++) {
      const e = this.ents[i]!;
      size += entrySize(e);
      if (out.length > 0 && size > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  snapshot(): Snapshot { return this.snap; }

  /** Replaces the whole log with the snapshot's state. */
  applySnapshot(s: Snapshot): void {
    const md = s.metadata!;
    if (md.index < this.snap.metadata!.index) throw new CompactedError(md.index, this.snap.metadata!.index);
    this.snap = s;
    this.ents = [{ term: md.term, index: md.index, type: 0, data: EMPTY }];
  }

  /** Makes a snapshot of the state machine at `index` (which must be applied by the caller). */
  createSnapshot(index: bigint, cs: ConfState | undefined, data: Uint8Array, clusterId?: string): Snapshot {
    const cur = this.snap.metadata!;
    if (index <= cur.index) throw new CompactedError(index, cur.index + 1n);
    if (index > this.lastIndex()) throw new UnavailableError(`snapshot index ${index} is past the last index ${this.lastIndex()}`);
    this.snap = {
      metadata: { index, term: this.term(index), confState: cs ?? cur.confState, clusterId: clusterId ?? cur.clusterId },
      data: Buffer.isBuffer(data) ? data : Buffer.from(data),
    };
    return this.snap;
  }

  /** Discards entries up to and including `index` (a snapshot must cover them). */
  compact(index: bigint): void {
    const off = this.offset();
    if (index <= off) throw new CompactedError(index, off + 1n);
    if (index > this.lastIndex()) throw new UnavailableError(`compact index ${index} is past the last index ${this.lastIndex()}`);
    const i = Number(index - off);
    const head: Entry = { term: this.ents[i]!.term, index, type: 0, data: EMPTY };
    this.ents = [head, ...this.ents.slice(i + 1)];
  }

  /** Appends entries, truncating any conflicting suffix first. */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + BigInt(entries.length) - 1n;
    if (last < first) return; // all already compacted
    if (first > entries[0]!.index) entries = entries.slice(Number(first - entries[0]!.index));
    const off = entries[0]!.index - this.offset();
    const len = BigInt(this.ents.length);
    if (off > len) throw new UnavailableError(`append at ${entries[0]!.index} leaves a gap after last index ${this.lastIndex()}`);
    if (off < len) this.ents.length = Number(off);
    for (const e of entries) this.ents.push(e);
  }
}
