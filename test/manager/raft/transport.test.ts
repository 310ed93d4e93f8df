import { afterEach, describe, expect, it } from 'vitest';
import { GrpcRaftTransport, type TransportOptions } from '../../../manager/raft/transport/index.js';
import { type Message, MessageType } from '../../../proto/gen/raft.js';

const msg = (from: bigint, to: bigint, index: bigint, extra: Partial<Message> = {}): Message => ({
  type: MessageType.MSG_APP, to, from, term: 1n, logTerm: 1n, index, entries: [], commit: 0n, snapshot: undefined,
  reject: false, rejectHint: 0n, context: Buffer.alloc(0), clusterId: '', ...extra,
});

const open: GrpcRaftTransport[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.stop()));
});

function make(id: bigint, o: Partial<TransportOptions> = {}) {
  const got: Message[] = [];
  const unreachable: bigint[] = [];
  const snaps: [bigint, boolean][] = [];
  const t = new GrpcRaftTransport({
    id, clusterId: 'shoalri-t', listen: '127.0.0.1:0', handler: (m) => got.push(m),
    onUnreachable: (p) => unreachable.push(p), onSnapshotStatus: (p, ok) => snaps.push([p, ok]), ...o,
  });
  open.push(t);
  return { t, got, unreachable, snaps };
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('GrpcRaftTransport', () => {
  it('delivers messages in order, batching what was queued together', async () => {
    const a = make(1n);
    const b = make(2n);
    const addrB = await b.t.start();
    const addrA = await a.t.start();
    a.t.addPeer(2n, addrB);
    b.t.addPeer(1n, addrA);
    const n = 2000;
    a.t.send(Array.from({ length: n }, (_, i) => msg(1n, 2n, BigInt(i + 1), { entries: [{ term: 1n, index: BigInt(i + 1), type: 0, data: Buffer.alloc(100, 1) }] })));
    await until(() => b.got.length === n, 'all messages');
    expect(b.got.map((m) => m.index)).toEqual(Array.from({ length: n }, (_, i) => BigInt(i + 1)));
    expect(b.got[0]!.clusterId).toBe('shoalri-t');
    expect(b.got[5]!.entries[0]!.data.length).toBe(100);
    expect(b.t.stats().batches).toBeLessThan(10);
    // and back the other way on the same pair
    b.t.send([msg(2n, 1n, 7n, { type: MessageType.MSG_APP_RESP })]);
    await until(() => a.got.length === 1, 'reply');
  });

  it('refuses messages from unknown members, from another cluster, and for another member', async () => {
    const b = make(2n);
    const addrB = await b.t.start();
    b.t.addPeer(1n, '127.0.0.1:1'); // 1 is known, 3 is not
    const stranger = make(3n);
    stranger.t.addPeer(2n, addrB);
    stranger.t.send([msg(3n, 2n, 1n)]);
    const other = make(1n, { clusterId: 'another' });
    other.t.addPeer(2n, addrB);
    other.t.send([msg(1n, 2n, 1n)]);
    const misrouted = make(1n);
    misrouted.t.addPeer(5n, addrB); // thinks member 5 lives at B's address
    misrouted.t.send([msg(1n, 5n, 1n)]);
    await until(() => b.t.stats().refused >= 3, 'refusals');
    await until(() => stranger.unreachable.length > 0 && other.unreachable.length > 0, 'senders see the refusal');
    expect(b.got).toEqual([]);
  });

  it('streams a snapshot in chunks and reports its delivery', async () => {
    const a = make(1n, { snapshotChunkBytes: 256 << 10 });
    const b = make(2n);
    const addrB = await b.t.start();
    b.t.addPeer(1n, '127.0.0.1:1');
    a.t.addPeer(2n, addrB);
    const data = Buffer.alloc(3 << 20 | 12345);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    a.t.send([msg(1n, 2n, 0n, { type: MessageType.MSG_SNAP, snapshot: { metadata: { index: 99n, term: 4n, clusterId: 'shoalri-t', confState: undefined }, data } })]);
    await until(() => a.snaps.length === 1, 'snapshot status');
    expect(a.snaps[0]).toEqual([2n, true]);
    expect(b.got.length).toBe(1);
    expect(b.got[0]!.snapshot!.metadata!.index).toBe(99n);
    expect(b.got[0]!.snapshot!.data.equals(data)).toBe(true);
  });

  it('reports an unreachable peer, bounds its queue, and reconnects when it returns', async () => {
    const port = await (async () => {
      const probe = make(9n);
      const addr = await probe.t.start();
      await probe.t.stop();
      return addr;
    })();
    const a = make(1n, { maxQueue: 100 });
    a.t.addPeer(2n, port);
    a.t.send(Array.from({ length: 500 }, (_, i) => msg(1n, 2n, BigInt(i))));
    expect(a.t.stats().dropped).toBe(400); // send() returned without blocking, excess dropped
    const big = make(1n, { maxQueueBytes: 1 << 20 });
    big.t.addPeer(2n, port);
    big.t.send(Array.from({ length: 10 }, (_, i) => msg(1n, 2n, BigInt(i), { entries: [{ term: 1n, index: BigInt(i), type: 0, data: Buffer.alloc(300 << 10) }] })));
    expect(big.t.stats().dropped).toBe(7); // 3 x 300 KiB fit in 1 MiB
    await big.t.stop(); // else its own queued messages may reach the peer below too
    await until(() => a.unreachable.length > 400, 'unreachable reports');
    // the peer comes up on that address: later messages get through
    const b = make(2n, { listen: port });
    await b.t.start();
    b.t.addPeer(1n, '127.0.0.1:1');
    await until(() => {
      a.t.send([msg(1n, 2n, 1000n)]);
      return b.got.length > 0;
    }, 'delivery after reconnect');
    expect(b.got.every((m) => m.index === 1000n)).toBe(true);
  });
});
