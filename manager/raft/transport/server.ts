// The receiving side: steps batches into the core, reassembles chunked snapshots, and refuses
// whatever the caller's certificate does not entitle it to send. A refusal sent back says what
// kind of thing was wrong but names no member id and no cluster id: only this side's log does.
import { status, type sendUnaryData, type ServerReadableStream } from '@grpc/grpc-js';
import { type Message, type MessageBatch, MessageType, type RaftTransportServer, type SnapshotChunk, type TransportAck } from '../../../proto/gen/raft.js';
import { isLocalMsg } from '../messages.js';
import type { RaftPeer, ResolvedOptions } from './options.js';

/** Why a message or a caller was refused: `why` goes to this member's log, `told` to the caller. */
interface Refusal {
  code: status;
  why: string;
  told: string;
}

const NOT_A_MEMBER = 'raft: the caller is not a member of this Raft group (a manager certificate of this cluster is required)';
const REFUSED = 'raft: message refused';

export class Inbound {
  refused = 0;
  received = 0n;
  batches = 0;
  stopping = false;

  constructor(
    private readonly o: ResolvedOptions,
    private readonly isKnown: (id: bigint) => boolean,
  ) {}

  /** The member a caller speaks for (undefined: any, on an insecure test transport), or a refusal. */
  authorize(peer: RaftPeer): { member: bigint | undefined } | Refusal {
    if (!this.o.authorize) return { member: undefined };
    const a = this.o.authorize(peer);
    if ('refused' in a) return { code: status.PERMISSION_DENIED, why: a.refused, told: NOT_A_MEMBER };
    if (!this.isKnown(a.member)) return { code: status.PERMISSION_DENIED, why: `the caller is member ${a.member}, which is not (or no longer) in this member's configuration`, told: NOT_A_MEMBER };
    return { member: a.member };
  }

  /** Why `m`, sent by a caller speaking for `member`, must not reach the core; undefined if it may. */
  refusal(m: Message, member: bigint | undefined): Refusal | undefined {
    const no = (why: string): Refusal => ({ code: status.PERMISSION_DENIED, why, told: REFUSED });
    if (m.clusterId !== this.o.clusterId) return no(`message from cluster ${JSON.stringify(m.clusterId)}, this is ${JSON.stringify(this.o.clusterId)}`);
    if (m.to !== this.o.id) return { code: status.PERMISSION_DENIED, why: `message for member ${m.to} delivered to member ${this.o.id}`, told: `${REFUSED}: not addressed to the member at this address` };
    if (member !== undefined && m.from !== member) return no(`message claims to come from member ${m.from}, the caller's certificate is member ${member}'s`);
    if (!this.isKnown(m.from)) return no(`message from unknown member ${m.from}`);
    if (isLocalMsg(m.type)) return no(`message type ${MessageType[m.type]} from member ${m.from} is local-only`);
    if (m.type === MessageType.MSG_PROP && !this.o.acceptProposal(m.from)) return no(`proposal forwarded by member ${m.from}, which may not forward proposals to this member now`);
    return undefined;
  }

  service(): RaftTransportServer {
    return {
      send: (call: ServerReadableStream<MessageBatch, TransportAck>, cb: sendUnaryData<TransportAck>) => this.onSend(call, cb),
      sendSnapshot: (call: ServerReadableStream<SnapshotChunk, TransportAck>, cb: sendUnaryData<TransportAck>) => this.onSnapshot(call, cb),
    };
  }

  private onSend(call: ServerReadableStream<MessageBatch, TransportAck>, cb: sendUnaryData<TransportAck>): void {
    const peer = peerOf(call);
    let n = 0n;
    let done = false;
    const refuse = (r: Refusal, m?: Message): void => {
      // end the stream: the sender sees the refusal and backs off
      done = true;
      this.refused++;
      this.o.logger.warn({ from: m?.from.toString(), type: m ? MessageType[m.type] : undefined, why: r.why }, 'raft message refused');
      cb({ code: r.code, details: r.told });
    };
    call.on('data', (batch: MessageBatch) => {
      if (done) return;
      this.batches++;
      // every batch: a member removed or demoted while its stream is open is cut off at once
      const who = this.authorize(peer);
      if ('why' in who) return refuse(who);
      for (const m of batch.messages) {
        if (this.stopping) return;
        const r = this.refusal(m, who.member);
        if (r) return refuse(r, m);
        n++;
        this.received++;
        this.o.handler(m);
      }
    });
    call.on('end', () => {
      if (!done) cb(null, { received: n, error: '' });
      done = true;
    });
    call.on('error', () => {
      done = true;
    });
  }

  private onSnapshot(call: ServerReadableStream<SnapshotChunk, TransportAck>, cb: sendUnaryData<TransportAck>): void {
    const peer = peerOf(call);
    let header: Message | undefined;
    const parts: Buffer[] = [];
    let size = 0;
    let done = false;
    const refuse = (r: Refusal): void => {
      done = true;
      this.refused++;
      this.o.logger.warn({ why: r.why }, 'raft snapshot refused');
      cb({ code: r.code, details: r.told });
    };
    const invalid = (why: string): void => refuse({ code: status.INVALID_ARGUMENT, why, told: `raft snapshot: ${why}` });
    call.on('data', (c: SnapshotChunk) => {
      if (done) return;
      if (!header) {
        if (!c.header) return invalid('snapshot stream does not start with a header');
        const who = this.authorize(peer);
        if ('why' in who) return refuse(who);
        const r = this.refusal(c.header, who.member);
        if (r) return refuse(r);
        if (c.header.type !== MessageType.MSG_SNAP) return refuse({ code: status.PERMISSION_DENIED, why: `snapshot stream carries a ${MessageType[c.header.type]}`, told: REFUSED });
        header = c.header;
      }
      if (c.offset !== BigInt(size)) return invalid(`snapshot chunk at offset ${c.offset}, expected ${size}`);
      parts.push(c.data);
      size += c.data.length;
      if (c.last) {
        done = true;
        const snap = header.snapshot;
        const m: Message = { ...header, snapshot: snap ? { metadata: snap.metadata, data: Buffer.concat(parts, size) } : undefined };
        this.received++;
        this.o.handler(m);
        cb(null, { received: 1n, error: '' });
      }
    });
    call.on('end', () => {
      if (!done) invalid('snapshot stream ended before its last chunk');
    });
    call.on('error', () => {
      done = true;
    });
  }
}

function peerOf(call: { getAuthContext(): { sslPeerCertificate?: { raw?: Buffer } } | null }): RaftPeer {
  const raw = call.getAuthContext()?.sslPeerCertificate?.raw;
  return raw && raw.length > 0 ? { certificate: raw } : {};
}
