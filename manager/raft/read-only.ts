// ReadIndex bookkeeping for readOnly:'safe': each request records the commit index at the
// time it arrived and is answered once a quorum has acknowledged a heartbeat carrying its
// context (proving this member was still the leader at that moment).
import type { Message } from '../../proto/gen/raft.js';

export interface ReadIndexStatus {
  req: Message;
  index: bigint;
  acks: Set<bigint>;
}

export class ReadOnlyTracker {
  private readonly pending = new Map<string, ReadIndexStatus>();
  private queue: string[] = [];

  static key(ctx: Uint8Array): string {
    return Buffer.from(ctx.buffer, ctx.byteOffset, ctx.byteLength).toString('latin1');
  }

  addRequest(index: bigint, m: Message): void {
    const k = ReadOnlyTracker.key(m.context);
    if (this.pending.has(k)) return;
    this.pending.set(k, { req: m, index, acks: new Set() });
    this.queue.push(k);
  }

  /** Records an ack for ctx; returns the acks so far (undefined if unknown). */
  recvAck(id: bigint, ctx: Uint8Array): Set<bigint> | undefined {
    const rs = this.pending.get(ReadOnlyTracker.key(ctx));
    if (!rs) return undefined;
    rs.acks.add(id);
    return rs.acks;
  }

  /** Dequeues every request up to and including ctx's: a quorum that acked ctx acked the earlier ones too. */
  advance(ctx: Uint8Array): ReadIndexStatus[] {
    const k = ReadOnlyTracker.key(ctx);
    const at = this.queue.indexOf(k);
    if (at < 0) return [];
    const done = this.queue.slice(0, at + 1);
    this.queue = this.queue.slice(at + 1);
    const out: ReadIndexStatus[] = [];
    for (const d of done) {
      out.push(this.pending.get(d)!);
      this.pending.delete(d);
    }
    return out;
  }

  lastPendingContext(): Buffer | undefined {
    const k = this.queue[this.queue.length - 1];
    return k === undefined ? undefined : Buffer.from(k, 'latin1');
  }

  get size(): number { return this.queue.length; }

  reset(): void {
    this.pending.clear();
    this.queue = [];
  }
}
