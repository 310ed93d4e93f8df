// The receiving side: steps batches into the core, reassembles chunked snapshots, and refuses
// messages from members it does not know or from another cluster.
import { status, type sendUnaryData, type ServerReadableStream } from '@grpc/grpc-js';
import type { Message, MessageBatch, RaftTransportServer, SnapshotChunk, TransportAck } from '../../../proto/gen/raft.js';
import type { ResolvedOptions } from './options.js';

export class Inbound {
  refused = 0;
  received = 0n;
  batches = 0;

  constructor(
    private readonly o: ResolvedOptions,
    private readonly isKnown: (id: bigint) => boolean,
  ) {}

  /** Why `m` must not reach the core, or undefined if it may. */
  stopping = false;

  refusal(m: Message): string | undefined {
    if (m.clusterId !== this.o.clusterId) return `message from cluster ${JSON.stringify(m.clusterId)}, this is ${JSON.stringify(this.o.clusterId)}`;
    if (m.to !== this.o.id) return `message for member ${m.to} delivered to member ${this.o.id}`;
    if (!this.isKnown(m.from)) return `message from unknown member ${m.from}`;
    return undefined;
  }

  service(): RaftTransportServer {
    return {
      send: (call: ServerReadableStream<MessageBatch, TransportAck>, cb: sendUnaryData<TransportAck>) => this.onSend(call, cb),
      sendSnapshot: (call: ServerReadableStream<SnapshotChunk, TransportAck>, cb: sendUnaryData<TransportAck>) => this.onSnapshot(call, cb),
    };
  }

  private onSend(call: ServerReadableStream<MessageBatch, TransportAck>, cb: sendUnaryData<TransportAck>): void {
    let n = 0n;
    let done = false;
    call.on('data', (batch: MessageBatch) => {
      if (done) return;
      this.batches++;
      for (const m of batch.messages) {
        if (this.stopping) return;
        const why = this.refusal(m);
        if (why) {
          // end the stream: the sender sees the reason and backs off
          done = true;
          this.refused++;
          this.o.logger.warn({ from: m.from.toString(), why }, 'raft message refused');
          cb({ code: status.PERMISSION_DENIED, details: why });
          return;
        }
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
    let header: Message | undefined;
    const parts: Buffer[] = [];
    let size = 0;
    let done = false;
    const refuse = (code: status, why: string): void => {
      done = true;
      this.refused++;
      this.o.logger.warn({ why }, 'raft snapshot refused');
      cb({ code, details: why });
    };
    call.on('data', (c: SnapshotChunk) => {
      if (done) return;
      if (!header) {
        if (!c.header) return refuse(status.INVALID_ARGUMENT, 'snapshot stream does not start with a header');
        const why = this.refusal(c.header);
        if (why) return refuse(status.PERMISSION_DENIED, why);
        header = c.header;
      }
      if (c.offset !== BigInt(size)) return refuse(status.INVALID_ARGUMENT, `snapshot chunk at offset ${c.offset}, expected ${size}`);
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
      if (!done) refuse(status.INVALID_ARGUMENT, 'snapshot stream ended before its last chunk');
    });
    call.on('error', () => {
      done = true;
    });
  }
}
