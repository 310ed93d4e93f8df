// Record framing of WAL segments and snapshot files.
//   0..3   payload length (u32 LE)
//   4      record type
//   5      flags: bit 0 = payload sealed by the WAL's RecordCipher (see cipher.ts)
//   6..7   zero
//   8..11  CRC32C of bytes 0..7 (so a damaged length is detected before it is trusted)
//   12..15 CRC32C of the payload
//   16..   payload
import { crc32c } from './crc32c.js';

export const HEADER_BYTES = 16;
export const MAX_RECORD_BYTES = 256 << 20;

export enum RecordType {
  Meta = 1, // JSON {clusterId, nodeId}: first record of every segment
  Entry = 2, // an encoded Entry
  HardState = 3, // an encoded HardState
  SnapshotMark = 4, // an encoded SnapshotMetadata (index, term) of a durable snapshot file
  Snapshot = 5, // an encoded Snapshot (only in .snap files)
  Batch = 6, // framed Entry and HardState records of one save, sealed as one (encrypted WALs only)
}

export const FLAG_SEALED = 1;

export function encodeRecord(type: RecordType, payload: Uint8Array, flags = 0): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out[4] = type;
  out[5] = flags;
  out[6] = 0;
  out[7] = 0;
  out.writeUInt32LE(crc32c(out, 0, 0, 8), 8);
  out.writeUInt32LE(crc32c(payload), 12);
  out.set(payload, HEADER_BYTES);
  return out;
}

/** A record inside a sealed Batch: u32 LE length, type, payload. No checksums: the batch is
 *  authenticated as a whole by the cipher, and its outer record carries the CRCs. */
export function encodeBatchFrame(type: RecordType, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out[4] = type;
  out.set(payload, 5);
  return out;
}

export type ScanResult =
  | { kind: 'record'; type: RecordType; sealed: boolean; payload: Buffer; next: number }
  | { kind: 'end' } // clean end: EOF or an all-zero tail (unwritten space)
  | { kind: 'torn'; why: string } // an incomplete or damaged record with nothing after it
  | { kind: 'corrupt'; why: string }; // a damaged record followed by more data

function zeroFrom(buf: Buffer, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

/** Reads the record at `offset`; a damaged record counts as torn only if nothing follows it. */
export function readRecord(buf: Buffer, offset: number): ScanResult {
  if (offset >= buf.length || zeroFrom(buf, offset)) return { kind: 'end' };
  if (buf.length - offset < HEADER_BYTES) return { kind: 'torn', why: 'partial record header' };
  const len = buf.readUInt32LE(offset);
  if (buf.readUInt32LE(offset + 8) !== crc32c(buf, 0, offset, offset + 8)) {
    return zeroFrom(buf, offset + HEADER_BYTES)
      ? { kind: 'torn', why: 'damaged record header at the tail' }
      : { kind: 'corrupt', why: 'record header checksum mismatch' };
  }
  const end = offset + HEADER_BYTES + len;
  if (len > MAX_RECORD_BYTES) return { kind: 'corrupt', why: `record length ${len} exceeds the maximum` };
  if (end > buf.length) return { kind: 'torn', why: `record of ${len} bytes cut short by the end of the file` };
  if (buf.readUInt32LE(offset + 12) !== crc32c(buf, 0, offset + HEADER_BYTES, end)) {
    return zeroFrom(buf, end)
      ? { kind: 'torn', why: 'record payload checksum mismatch at the tail' }
      : { kind: 'corrupt', why: 'record payload checksum mismatch' };
  }
  const type = buf[offset + 4] as RecordType;
  if (!(type >= RecordType.Meta && type <= RecordType.Batch)) {
    return { kind: 'corrupt', why: `unknown record type ${type}` };
  }
  const flags = buf[offset + 5]!;
  if ((flags & ~FLAG_SEALED) !== 0) return { kind: 'corrupt', why: `unknown record flags ${flags}` };
  return { kind: 'record', type, sealed: (flags & FLAG_SEALED) !== 0, payload: buf.subarray(offset + HEADER_BYTES, end), next: end };
}
