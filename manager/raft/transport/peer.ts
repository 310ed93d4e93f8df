// One peer's outgoing side: a bounded queue drained into a long-lived client stream, one
// MessageBatch per write with everything queued since the last one; reconnect with backoff.
import { credentials, type ClientWritableStream } from '@grpc/grpc-js';
import { type Message, MessageType, RaftTransportClient, type MessageBatch, type SnapshotChunk } from '../../../proto/gen/raft.js';
import { GRPC_CHANNEL_OPTIONS, type ResolvedOptions } from './options.js';

type State = 'idle' | 'connecting' | 'open' | 'backoff' | 'closed';

export class PeerSender {
  private queue: Message[] = [];
  private queuedBytes = 0;
  private stream: ClientWritableStream<MessageBatch> | undefined;
  private state: State = 'idle';
  private client: RaftTransportClient;
  private backoffMs: number;
  private timer: NodeJS.Timeout | undefined;
  private scheduled = false;
  private draining = false;
  dropped = 0;

  constructor(
    readonly id: bigint,
    readonly addr: string,
    private readonly o: ResolvedOptions,
  ) {
    this.client = new RaftTransportClient(addr, o.channelCredentials ?? credentials.createInsecure(), GRPC_CHANNEL_OPTIONS);
    this.backoffMs = o.backoff.initialMs;
  }

  /** Queues a message; never blocks. A full queue drops it and reports the peer unreachable. */
  send(m: Message): void {
    if (this.state === 'closed') return;
    if (m.type === MessageType.MSG_SNAP) return this.sendSnapshot(m);
    const size = approxSize(m);
    // one oversized message still goes alone: refusing it forever would stall that follower
    if (this.queue.length >= this.o.maxQueue || (this.queue.length > 0 && this.queuedBytes + size > this.o.maxQueueBytes)) {
      this.dropped++;
      this.o.onUnreachable(this.id);
      return;
    }
    this.queue.push(m);
    this.queuedBytes += size;
    if (this.state === 'idle') this.connect();
    else if (this.state === 'open' && !this.scheduled && !this.draining) {
      // everything sent in this turn of the event loop goes out as one batch
      this.scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  close(): void {
    this.state = 'closed';
    clearTimeout(this.timer);
    this.stream?.end();
    this.stream = undefined;
    this.queue = [];
    this.queuedBytes = 0;
    this.client.close();
  }

  private connect(): void {
    this.state = 'connecting';
    this.client.waitForReady(Date.now() + this.o.connectTimeoutMs, (err) => {
      if (this.state !== 'connecting') return;
      if (err) return this.fail(`connect: ${err.message}`);
      this.backoffMs = this.o.backoff.initialMs;
      const stream = this.client.send((e) => {
        if (this.stream !== stream || this.state === 'closed') return;
        this.stream = undefined;
        this.fail(e ? `stream: ${e.message}` : 'stream ended by the peer');
      });
      stream.on('error', () => {}); // reported through the callback above
      this.stream = stream;
      this.state = 'open';
      this.o.logger.debug({ peer: this.id.toString(), addr: this.addr }, 'raft peer stream open');
      this.flush();
    });
  }

  private fail(why: string): void {
    if (this.state === 'closed') return;
    // queued messages are stale by the time we reconnect; Raft resends what still matters
    const lost = this.queue.length;
    this.queue = [];
    this.queuedBytes = 0;
    this.draining = false;
    this.o.logger.debug({ peer: this.id.toString(), addr: this.addr, why, lost }, 'raft peer unreachable');
    this.o.onUnreachable(this.id);
    this.state = 'backoff';
    const delay = this.backoffMs * (0.5 + Math.random()); // jitter spreads out reconnect storms
    this.backoffMs = Math.min(this.backoffMs * 2, this.o.backoff.maxMs);
    this.timer = setTimeout(() => {
      if (this.state !== 'backoff') return;
      this.state = 'idle';
      if (this.queue.length) this.connect();
    }, delay);
  }

  private flush(): void {
    this.scheduled = false;
    const stream = this.stream;
    if (!stream || this.state !== 'open' || this.draining || !this.queue.length) return;
    const msgs = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    let batch: Message[] = [];
    let bytes = 0;
    let ok = true;
    for (const m of msgs) {
      const size = approxSize(m);
      if (batch.length && bytes + size > this.o.maxBatchBytes) {
        ok = stream.write({ messages: batch });
        batch = [];
        bytes = 0;
      }
      batch.push({ ...m, clusterId: this.o.clusterId });
      bytes += size;
    }
    if (batch.length) ok = stream.write({ messages: batch });
    if (!ok) {
      // the socket is full: keep queueing (bounded) until it drains
      this.draining = true;
      stream.once('drain', () => {
        this.draining = false;
        this.flush();
      });
    }
  }

  private sendSnapshot(m: Message): void {
    const snap = m.snapshot;
    const data = snap?.data ?? Buffer.alloc(0);
    const header: Message = { ...m, clusterId: this.o.clusterId, snapshot: snap ? { metadata: snap.metadata, data: Buffer.alloc(0) } : undefined };
    const call = this.client.sendSnapshot((err, ack) => {
      const ok = !err && !ack?.error;
      if (!ok) this.o.logger.warn({ peer: this.id.toString(), err: err?.message ?? ack?.error }, 'raft snapshot send failed');
      this.o.onSnapshotStatus(this.id, ok);
    });
    call.on('error', () => {});
    const chunk = this.o.snapshotChunkBytes;
    let offset = 0;
    const writeNext = (): void => {
      while (offset < data.length || offset === 0) {
        const end = Math.min(offset + chunk, data.length);
        const c: SnapshotChunk = { header: offset === 0 ? header : undefined, data: data.subarray(offset, end), offset: BigInt(offset), last: end === data.length };
        offset = end === 0 ? 1 : end; // an empty snapshot is one chunk
        const more = call.write(c);
        if (c.last) return void call.end();
        if (!more) return void call.once('drain', writeNext);
      }
    };
    writeNext();
  }
}

function approxSize(m: Message): number {
  let n = 64;
  for (const e of m.entries) n += e.data.length + 24;
  return n;
}
