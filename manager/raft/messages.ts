// Message helpers shared by every layer of the core: construction with defaults,
// classification of message types, and entry sizing for batching limits.
import { type Entry, EntryType, type Message, MessageType } from '../../proto/gen/raft.js';

/** Id 0 means "nobody" (no leader, no vote). */
export const NONE = 0n;
export const EMPTY = Buffer.alloc(0);

/** A Message with every field defaulted; cheaper than Message.fromPartial on the hot path. */
export function newMessage(m: Partial<Message> & { type: MessageType }): Message {
  return {
    type: m.type,
    to: m.to ?? 0n,
    from: m.from ?? 0n,
    term: m.term ?? 0n,
    logTerm: m.logTerm ?? 0n,
    index: m.index ?? 0n,
    entries: m.entries ?? [],
    commit: m.commit ?? 0n,
    snapshot: m.snapshot,
    reject: m.reject ?? false,
    rejectHint: m.rejectHint ?? 0n,
    context: m.context ?? EMPTY,
    clusterId: m.clusterId ?? '',
  };
}

export function newEntry(term: bigint, index: bigint, data: Buffer = EMPTY, type: EntryType = EntryType.ENTRY_NORMAL): Entry {
  return { term, index, type, data };
}

export function toBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

const LOCAL = new Set<MessageType>([
  MessageType.MSG_HUP, MessageType.MSG_BEAT, MessageType.MSG_UNREACHABLE,
  MessageType.MSG_SNAP_STATUS, MessageType.MSG_CHECK_QUORUM,
]);
const RESPONSE = new Set<MessageType>([
  MessageType.MSG_APP_RESP, MessageType.MSG_VOTE_RESP, MessageType.MSG_HEARTBEAT_RESP,
  MessageType.MSG_UNREACHABLE, MessageType.MSG_PRE_VOTE_RESP, MessageType.MSG_READ_INDEX_RESP,
]);
/** Messages only a leader sends: a member still catching up on membership must accept them. */
const FROM_LEADER = new Set<MessageType>([
  MessageType.MSG_APP, MessageType.MSG_HEARTBEAT, MessageType.MSG_SNAP, MessageType.MSG_TIMEOUT_NOW,
  MessageType.MSG_READ_INDEX_RESP,
]);

export function isLocalMsg(t: MessageType): boolean { return LOCAL.has(t); }
export function isResponseMsg(t: MessageType): boolean { return RESPONSE.has(t); }
export function isLeaderMsg(t: MessageType): boolean { return FROM_LEADER.has(t); }

export function voteRespType(t: MessageType): MessageType {
  if (t === MessageType.MSG_VOTE) return MessageType.MSG_VOTE_RESP;
  if (t === MessageType.MSG_PRE_VOTE) return MessageType.MSG_PRE_VOTE_RESP;
  throw new Error(`not a vote message: ${MessageType[t]}`);
}

/** Approximate encoded size of an entry: payload plus a fixed header allowance. */
export function entrySize(e: Entry): number {
  return e.data.length + 24;
}

export function entriesSize(ents: Entry[]): number {
  let n = 0;
  for (const e of ents) n += entrySize(e);
  return n;
}

/** Prefix of ents within maxBytes, but never empty when ents is not (progress must be possible). */
export function limitSize(ents: Entry[], maxBytes: number): Entry[] {
  if (ents.length === 0) return ents;
  let size = entrySize(ents[0]!);
  let i = 1;
  for (; i < ents.length; i++) {
    size += entrySize(ents[i]!);
    if (size > maxBytes) break;
  }
  return i === ents.length ? ents : ents.slice(0, i);
}

export function msgTypeName(t: MessageType): string {
  const n = MessageType[t] ?? String(t);
  // MSG_APP_RESP -> MsgAppResp, as in the Raft literature's traces.
  return n.split('_').map((p, i) => (i === 0 ? 'Msg' : p[0] + p.slice(1).toLowerCase())).join('');
}
