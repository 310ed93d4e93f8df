// Replays WAL segments into the state a member restarts from.
import { readFile, truncate } from 'node:fs/promises';
import { Entry, HardState, SnapshotMetadata } from '../../../proto/gen/raft.js';
import { StorageIdentityError, WalCorruptError } from './errors.js';
import type { RecordCodec } from './codec.js';
import type { StorageLogger } from './logger.js';
import { readRecord, RecordType } from './record.js';

export interface SegmentName {
  file: string; // absolute path
  seq: bigint;
  firstIndex: bigint; // lastIndex + 1 when the segment was started
}

export interface Replayed {
  hardState: HardState;
  entries: Entry[]; // contiguous, in index order
  marks: SnapshotMetadata[];
  tailOffset: number; // where appends continue in the last segment
  keys: Set<string>[]; // per segment: the ids of the keys its records were sealed with
}

export interface Identity {
  clusterId: string;
  nodeId: string;
}

/** Reads every segment in order; a torn tail of the last one is cut off, anything else damaged throws. */
export async function replaySegments(
  segments: SegmentName[],
  id: Identity,
  logger: StorageLogger,
  codec: RecordCodec,
): Promise<Replayed> {
  let hardState: HardState = { term: 0n, vote: 0n, commit: 0n };
  let entries: Entry[] = [];
  const marks: SnapshotMetadata[] = [];
  let tailOffset = 0;
  const keys: Set<string>[] = [];
  for (let s = 0; s < segments.length; s++) {
    const seg = segments[s]!;
    const last = s === segments.length - 1;
    const buf = await readFile(seg.file);
    const segKeys = new Set<string>();
    keys.push(segKeys);
    let off = 0;
    for (;;) {
      const r = readRecord(buf, off);
      if (r.kind === 'end') break;
      if (r.kind === 'torn' && last) {
        logger.warn({ file: seg.file, offset: off, why: r.why, dropped: buf.length - off }, 'raft WAL torn tail truncated');
        await truncate(seg.file, off);
        break;
      }
      if (r.kind !== 'record') throw new WalCorruptError(seg.file, off, r.why);
      const payload = codec.decode(seg.file, off, r);
      if (r.type !== RecordType.Meta) segKeys.add(codec.keyOf(r));
      const inner = r.type === RecordType.Batch ? unbatch(payload, seg.file, off) : [{ type: r.type, payload }];
      for (const { type, payload } of inner) switch (type) {
        case RecordType.Meta:
          checkIdentity(payload, id, seg.file);
          break;
        case RecordType.HardState:
          hardState = HardState.decode(payload);
          break;
        case RecordType.SnapshotMark: {
          const mark = SnapshotMetadata.decode(payload);
          marks.push(mark);
          entries = dropCovered(entries, mark);
          break;
        }
        case RecordType.Entry:
          entries = appendReplayed(entries, Entry.decode(payload));
          break;
        default:
          throw new WalCorruptError(seg.file, off, `record type ${type} does not belong in a WAL segment`);
      }
      off = r.next;
    }
    tailOffset = off;
  }
  return { hardState, entries, marks, tailOffset, keys };
}

/** The Entry and HardState frames inside a Batch (record.ts encodeBatchFrame; already opened
 *  and authenticated, so a frame that does not fit is damage, not a torn write). */
function unbatch(buf: Buffer, file: string, at: number): { type: RecordType; payload: Buffer }[] {
  const out: { type: RecordType; payload: Buffer }[] = [];
  for (let off = 0; off < buf.length; ) {
    const len = off + 5 <= buf.length ? buf.readUInt32LE(off) : -1;
    const type = buf[off + 4] as RecordType;
    if (len < 0 || off + 5 + len > buf.length || (type !== RecordType.Entry && type !== RecordType.HardState)) {
      throw new WalCorruptError(file, at, `batch record holds a bad frame at ${off}`);
    }
    out.push({ type, payload: buf.subarray(off + 5, off + 5 + len) });
    off += 5 + len;
  }
  return out;
}

/** Entries up to a snapshot are covered by it; a log whose term there differs was replaced by it. */
function dropCovered(entries: Entry[], mark: SnapshotMetadata): Entry[] {
  const at = entries.find((e) => e.index === mark.index);
  if (at && at.term !== mark.term) return [];
  return entries.filter((e) => e.index > mark.index);
}

/** A rewritten index drops the old suffix (a new leader overwrote it); a gap starts afresh after a snapshot. */
function appendReplayed(entries: Entry[], e: Entry): Entry[] {
  if (entries.length === 0) return [e];
  const first = entries[0]!.index;
  const last = entries[entries.length - 1]!.index;
  if (e.index === last + 1n) {
    entries.push(e);
    return entries;
  }
  if (e.index > last + 1n || e.index < first) return [e];
  entries.length = Number(e.index - first);
  entries.push(e);
  return entries;
}

function checkIdentity(payload: Buffer, id: Identity, file: string): void {
  const got = JSON.parse(payload.toString('utf8')) as Partial<Identity>;
  if (got.clusterId !== id.clusterId || got.nodeId !== id.nodeId) {
    throw new StorageIdentityError(
      `raft WAL ${file} belongs to member ${got.nodeId} of cluster ${JSON.stringify(got.clusterId)}, ` +
        `not member ${id.nodeId} of ${JSON.stringify(id.clusterId)}; point this member at its own state directory`,
    );
  }
}
