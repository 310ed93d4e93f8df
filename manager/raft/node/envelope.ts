// What the driver wraps around user data so it can match applied entries to waiting callers,
// and what it adds to a snapshot (member addresses) beside the state machine's bytes.
import { ConfChange } from '../../../proto/gen/raft.js';

const HEAD = 16; // proposer id (u64) + request sequence (u64)

export function wrapProposal(proposer: bigint, seq: bigint, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEAD + data.length);
  out.writeBigUInt64BE(proposer, 0);
  out.writeBigUInt64BE(seq, 8);
  out.set(data, HEAD);
  return out;
}

export function unwrapProposal(b: Buffer): { proposer: bigint; seq: bigint; data: Buffer } | undefined {
  if (b.length < HEAD) return undefined; // a leader's empty no-op entry
  return { proposer: b.readBigUInt64BE(0), seq: b.readBigUInt64BE(8), data: b.subarray(HEAD) };
}

/** ConfChange.context: the new member's address and who is waiting for the change. */
export interface ConfContext {
  addr?: string;
  proposer?: string;
  seq?: string;
}

export function confContext(cc: ConfChange): ConfContext {
  if (!cc.context.length) return {};
  try {
    return JSON.parse(cc.context.toString('utf8')) as ConfContext;
  } catch {
    return {};
  }
}

export function encodeNodeSnapshot(members: Map<bigint, string>, sm: Uint8Array): Buffer {
  const head = Buffer.from(JSON.stringify({ members: [...members].map(([id, a]) => [id.toString(), a]) }));
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32BE(head.length, 0);
  return Buffer.concat([len, head, sm]);
}

export function decodeNodeSnapshot(b: Buffer): { members: Map<bigint, string>; sm: Buffer } {
  if (b.length < 4) return { members: new Map(), sm: Buffer.alloc(0) };
  const n = b.readUInt32BE(0);
  const head = JSON.parse(b.subarray(4, 4 + n).toString('utf8')) as { members: [string, string][] };
  return { members: new Map(head.members.map(([id, a]) => [BigInt(id), a])), sm: b.subarray(4 + n) };
}
