// Simulated durable storage: a "written" view that the core reads, and a "synced" copy that
// survives a crash. Writes land in the written view; sync() makes them durable; crash()
// throws away everything written since the last sync (as a power loss would).
import type { ConfState, Entry, HardState, Snapshot } from '../../../../proto/gen/raft.js';
import { bootstrapStorage, MemoryLogStorage } from '../../../../manager/raft/index.js';

type Op =
  | { k: 'append'; ents: Entry[] }
  | { k: 'hs'; hs: HardState }
  | { k: 'snap'; s: Snapshot };

export class SimStorage {
  written = new MemoryLogStorage();
  private synced = new MemoryLogStorage();
  private unsynced: Op[] = [];

  append(ents: Entry[]): void {
    if (!ents.length) return;
    this.written.append(ents);
    this.unsynced.push({ k: 'append', ents });
  }

  setHardState(hs: HardState): void {
    this.written.setHardState(hs);
    this.unsynced.push({ k: 'hs', hs });
  }

  applySnapshot(s: Snapshot): void {
    this.written.applySnapshot(s);
    this.unsynced.push({ k: 'snap', s });
  }

  sync(): void {
    for (const op of this.unsynced) {
      if (op.k === 'append') this.synced.append(op.ents);
      else if (op.k === 'hs') this.synced.setHardState(op.hs);
      else this.synced.applySnapshot(op.s);
    }
    this.unsynced = [];
  }

  get dirty(): boolean { return this.unsynced.length > 0; }

  /**
   * A local snapshot plus compaction, written atomically (temp file, fsync, rename) and so
   * durable at once. Only covers applied entries, which are always synced.
   */
  snapshotAndCompact(index: bigint, cs: ConfState, data: Buffer, keep: bigint): void {
    this.sync();
    for (const st of [this.written, this.synced]) {
      st.createSnapshot(index, cs, data);
      const to = index - keep;
      if (to >= st.firstIndex()) st.compact(to);
    }
  }

  /** A founding member: the initial configuration is durable from the start. */
  bootstrap(clusterId: string, voters: bigint[]): void {
    bootstrapStorage(this.written, clusterId, voters);
    bootstrapStorage(this.synced, clusterId, voters);
  }

  /** Loses every unsynced write: the written view becomes a copy of the synced one. */
  crash(): void {
    this.unsynced = [];
    this.written = cloneStorage(this.synced);
  }
}

function cloneStorage(src: MemoryLogStorage): MemoryLogStorage {
  const dst = new MemoryLogStorage();
  const snap = src.snapshot();
  const md = snap.metadata!;
  if (md.index > 0n || md.confState!.voters.length) dst.applySnapshot(snap);
  // Entries the snapshot already covers are not copied: the clone starts right after it.
  const first = src.firstIndex() > md.index + 1n ? src.firstIndex() : md.index + 1n;
  const last = src.lastIndex();
  if (last >= first) dst.append(src.entries(first, last + 1n, Number.MAX_SAFE_INTEGER));
  dst.setHardState(src.initialState().hardState);
  return dst;
}
