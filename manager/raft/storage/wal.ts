// The write-ahead log: append-only segment files with group commit (everything saved while an
// fdatasync is in flight joins the next one), recovery, snapshot files and segment release.
import { mkdir, open, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { Entry, HardState, Snapshot, SnapshotMetadata } from '../../../proto/gen/raft.js';
import { StorageIdentityError, WalClosedError, WalCorruptError } from './errors.js';
import { claimDir, fdatasync, releaseDir, syncDir, writeAllSync } from './fsutil.js';
import { silentLogger, type StorageLogger } from './logger.js';
import type { RecordCipher } from './cipher.js';
import { RecordCodec } from './codec.js';
import { encodeBatchFrame, encodeRecord, RecordType } from './record.js';
import { replaySegments, type SegmentName } from './recover.js';
import { SnapshotStore } from './snapshots.js';
import { SECRET_FILE_MODE } from '../../../proto/file-modes.js';

export interface WalOptions {
  dir: string; // the member's state directory: <dir>/wal and <dir>/snap
  clusterId: string;
  nodeId: bigint;
  segmentBytes?: number; // a segment is cut once it grows past this (default 64 MiB)
  fsync?: boolean; // default true; false only for tests that measure without the disk
  logger?: StorageLogger;
  /** Seals every record and snapshot written (see cipher.ts); without it they are plaintext. */
  cipher?: RecordCipher;
  /** With a cipher: still read plaintext records (a directory from before encryption). */
  allowPlaintext?: boolean;
}

export interface RecoveredState {
  hardState: HardState;
  snapshot: Snapshot | undefined;
  entries: Entry[]; // after the snapshot, contiguous
  fresh: boolean; // the directory held no WAL
}

const SEGMENT = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;
const hex = (n: bigint): string => n.toString(16).padStart(16, '0');

export class Wal {
  private pending: Buffer[] = [];
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private needSync = false;
  private flushing = false;
  private failed: Error | undefined;
  private closed = false;
  private hardState: HardState = { term: 0n, vote: 0n, commit: 0n };
  private lastMark: SnapshotMetadata | undefined;
  private lastIndex = 0n;

  private constructor(
    private readonly opts: Required<Omit<WalOptions, 'cipher' | 'allowPlaintext'>>,
    private readonly codec: RecordCodec,
    private segKeys: Set<string>[], // per segment, the key ids its records were sealed with
    private readonly walDir: string,
    readonly snapshots: SnapshotStore,
    private segments: SegmentName[],
    private fh: FileHandle,
    private offset: number,
  ) {}

  /** Opens (creating if absent) the state directory and replays it. */
  static async open(options: WalOptions): Promise<{ wal: Wal; state: RecoveredState }> {
    const { cipher, allowPlaintext, ...rest } = options;
    const opts = { segmentBytes: 64 << 20, fsync: true, logger: silentLogger, ...rest };
    const codec = new RecordCodec({ cipher, allowPlaintext });
    const walDir = `${opts.dir}/wal`;
    await mkdir(walDir, { recursive: true });
    const holder = claimDir(opts.dir);
    if (holder !== undefined) {
      throw new StorageIdentityError(`raft state directory ${opts.dir} is in use by process ${holder}; stop that member first`);
    }
    const snapshots = new SnapshotStore(`${opts.dir}/snap`, opts.clusterId, opts.logger, codec);
    await snapshots.init();
    const id = { clusterId: opts.clusterId, nodeId: opts.nodeId.toString() };
    let segments = await listSegments(walDir);
    const fresh = segments.length === 0;
    const snapshot = await snapshots.loadNewest();
    const snapIndex = snapshot?.metadata?.index ?? 0n;
    if (fresh) {
      const seg = await createSegment(walDir, 0n, snapIndex + 1n, segmentHead(codec, id, undefined, undefined));
      segments = [seg];
    }
    const rp = await replaySegments(segments, id, opts.logger, codec);
    const entries = afterSnapshot(rp.entries, snapshot, segments);
    const fh = await open(segments[segments.length - 1]!.file, 'r+');
    const wal = new Wal(opts, codec, rp.keys, walDir, snapshots, segments, fh, rp.tailOffset);
    wal.hardState = rp.hardState;
    wal.lastMark = rp.marks[rp.marks.length - 1];
    wal.lastIndex = entries.length ? entries[entries.length - 1]!.index : snapIndex;
    if (snapshot && (!wal.lastMark || wal.lastMark.index < snapIndex)) {
      opts.logger.info({ index: snapIndex }, 'raft snapshot file newer than the last WAL mark (crash in between); using it');
    }
    return { wal, state: { hardState: rp.hardState, snapshot, entries, fresh } };
  }

  /** Appends a hard state and entries; resolves once written (and fdatasync'ed if `sync`). */
  save(rec: { hardState?: HardState; entries?: readonly Entry[] }, sync = true): Promise<void> {
    // with a cipher, one save is one sealed Batch record: a seal costs the same for 100 bytes
    // and for 10 KiB (node:crypto's per-call overhead dominates), and a Ready carries many entries
    const sealed = this.codec.cipher !== undefined;
    const frames: Buffer[] = sealed ? [] : this.pending;
    const frame = sealed ? encodeBatchFrame : encodeRecord;
    for (const e of rec.entries ?? []) frames.push(frame(RecordType.Entry, Entry.encode(e).finish()));
    if (rec.entries?.length) this.lastIndex = rec.entries[rec.entries.length - 1]!.index;
    if (rec.hardState) {
      this.hardState = rec.hardState;
      frames.push(frame(RecordType.HardState, HardState.encode(rec.hardState).finish()));
    }
    if (sealed && frames.length) this.pending.push(this.codec.encode(RecordType.Batch, frames.length === 1 ? frames[0]! : Buffer.concat(frames)));
    this.noteWriteKey();
    return this.enqueue(sync);
  }

  /** Stores the snapshot file durably, then records its mark in the log. */
  async saveSnapshot(snap: Snapshot): Promise<void> {
    if (this.closed) throw new WalClosedError();
    await this.snapshots.save(snap);
    const md = snap.metadata!;
    const mark: SnapshotMetadata = { index: md.index, term: md.term, confState: undefined, clusterId: md.clusterId };
    this.lastMark = mark;
    if (md.index > this.lastIndex) this.lastIndex = md.index;
    this.pending.push(this.codec.encode(RecordType.SnapshotMark, SnapshotMetadata.encode(mark).finish()));
    this.noteWriteKey();
    await this.enqueue(true);
  }

  /** Seals every later record and snapshot with `cipher` (a rotated data key). Records already
   *  written keep theirs: the old key must stay readable until keyIdsInUse() no longer lists it. */
  setCipher(cipher: RecordCipher): void {
    this.codec.setCipher(cipher);
  }

  /** Ids of the keys that the segments and snapshot files on disk were sealed with
   *  ('plaintext' for unsealed records). A key not listed is no longer needed to restart. */
  async keyIdsInUse(): Promise<Set<string>> {
    const out = await this.snapshots.keyIds();
    for (const k of this.segKeys) for (const id of k) out.add(id);
    return out;
  }

  /** Removes segments holding only entries at or below `index` (covered by a durable snapshot). */
  async releaseTo(index: bigint): Promise<number> {
    let removed = 0;
    while (this.segments.length > 1 && this.segments[1]!.firstIndex - 1n <= index) {
      await unlink(this.segments[0]!.file);
      this.segments.shift();
      this.segKeys.shift();
      removed++;
    }
    if (removed) await syncDir(this.walDir);
    return removed;
  }

  segmentCount(): number {
    return this.segments.length;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    while (this.flushing) await new Promise((r) => setImmediate(r));
    this.closed = true;
    await this.fh.close();
    releaseDir(this.opts.dir);
  }

  private enqueue(sync: boolean): Promise<void> {
    if (this.closed) return Promise.reject(new WalClosedError());
    if (this.failed) return Promise.reject(this.failed);
    this.needSync ||= sync;
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.flushing) void this.flushLoop();
    return p;
  }

  private async flushLoop(): Promise<void> {
    this.flushing = true;
    try {
      while (this.waiters.length) {
        const data = Buffer.concat(this.pending);
        const waiters = this.waiters;
        const sync = this.needSync && this.opts.fsync;
        this.pending = [];
        this.waiters = [];
        this.needSync = false;
        try {
          // the write only reaches the page cache (microseconds), so it runs inline; the
          // fdatasync is the slow part and goes to the thread pool
          if (data.length) writeAllSync(this.fh.fd, data, this.offset);
          this.offset += data.length;
          if (sync) await fdatasync(this.fh.fd);
          if (this.offset >= this.opts.segmentBytes) await this.cut();
        } catch (err) {
          // a failed write or fsync leaves the file in an unknown state: refuse everything after
          this.failed = err instanceof Error ? err : new Error(String(err));
          for (const w of [...waiters, ...this.waiters]) w.reject(this.failed);
          this.waiters = [];
          return;
        }
        for (const w of waiters) w.resolve();
      }
    } finally {
      this.flushing = false;
    }
  }

  private async cut(): Promise<void> {
    const prev = this.segments[this.segments.length - 1]!;
    const id = { clusterId: this.opts.clusterId, nodeId: this.opts.nodeId.toString() };
    const seg = await createSegment(this.walDir, prev.seq + 1n, this.lastIndex + 1n, segmentHead(this.codec, id, this.hardState, this.lastMark));
    await this.fh.datasync();
    await this.fh.close();
    this.fh = await open(seg.file, 'r+');
    this.offset = (await this.fh.stat()).size;
    this.segments.push(seg);
    this.segKeys.push(new Set([this.codec.writeKey]));
  }

  /** Records are encoded at save time, so the key they carry is the one current now. */
  private noteWriteKey(): void {
    this.segKeys[this.segKeys.length - 1]!.add(this.codec.writeKey);
  }
}

function segmentHead(codec: RecordCodec, id: { clusterId: string; nodeId: string }, hs: HardState | undefined, mark: SnapshotMetadata | undefined): Buffer {
  // every segment restates identity, hard state and the last mark, so older segments can go
  const parts = [encodeRecord(RecordType.Meta, Buffer.from(JSON.stringify(id)))];
  if (hs) parts.push(codec.encode(RecordType.HardState, HardState.encode(hs).finish()));
  if (mark) parts.push(codec.encode(RecordType.SnapshotMark, SnapshotMetadata.encode(mark).finish()));
  return Buffer.concat(parts);
}

async function createSegment(dir: string, seq: bigint, firstIndex: bigint, head: Buffer): Promise<SegmentName> {
  const name = `${hex(seq)}-${hex(firstIndex)}.wal`;
  const tmp = `${dir}/${name}.tmp`;
  await writeFile(tmp, head, { mode: SECRET_FILE_MODE }); // every secret of the cluster passes through here
  const fh = await open(tmp, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, `${dir}/${name}`);
  await syncDir(dir);
  return { file: `${dir}/${name}`, seq, firstIndex };
}

async function listSegments(dir: string): Promise<SegmentName[]> {
  const out: SegmentName[] = [];
  for (const name of await readdir(dir)) {
    if (name.endsWith('.tmp')) {
      await unlink(`${dir}/${name}`); // a segment whose creation never finished
      continue;
    }
    const m = SEGMENT.exec(name);
    if (m) out.push({ file: `${dir}/${name}`, seq: BigInt(`0x${m[1]}`), firstIndex: BigInt(`0x${m[2]}`) });
  }
  return out.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
}

/** Keeps the entries after the snapshot, dropping them all if they diverge from it. */
function afterSnapshot(entries: Entry[], snap: Snapshot | undefined, segments: SegmentName[]): Entry[] {
  const md = snap?.metadata;
  if (!md) {
    if (entries.length && entries[0]!.index !== 1n) {
      throw new WalCorruptError(segments[0]!.file, 0, `log starts at index ${entries[0]!.index} but no snapshot covers the entries before it`);
    }
    return entries;
  }
  const atSnap = entries.find((e) => e.index === md.index);
  if (atSnap && atSnap.term !== md.term) return []; // a snapshot from the leader replaced a divergent log
  const rest = entries.filter((e) => e.index > md.index);
  if (rest.length && rest[0]!.index !== md.index + 1n) {
    throw new WalCorruptError(segments[0]!.file, 0, `log resumes at index ${rest[0]!.index} but the newest snapshot ends at ${md.index}`);
  }
  return rest;
}
