// gRPC transport between Raft members: one server, one PeerSender per known peer.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { type Message, RaftTransportService } from '../../../proto/gen/raft.js';
import { GRPC_CHANNEL_OPTIONS, resolveOptions, type ResolvedOptions, type TransportOptions } from './options.js';
import { PeerSender } from './peer.js';
import { Inbound } from './server.js';

export class GrpcRaftTransport {
  private readonly o: ResolvedOptions;
  private readonly peers = new Map<bigint, PeerSender>();
  private readonly inbound: Inbound;
  private server: Server | undefined;
  private stopped = false;

  constructor(options: TransportOptions) {
    // TLS without a mapping from certificates to members would let any certificate of the
    // cluster's CA speak for any member: refuse to be built that way
    if (options.serverCredentials && !options.authorize) throw new TypeError('GrpcRaftTransport: serverCredentials need authorize (which member each client certificate is)');
    this.o = resolveOptions(options);
    this.inbound = new Inbound(this.o, (id) => this.peers.has(id));
  }

  /** Starts serving; resolves with the bound address (host:port). */
  async start(): Promise<string> {
    const server = new Server(GRPC_CHANNEL_OPTIONS);
    server.addService(RaftTransportService, this.inbound.service());
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(this.o.listen, this.o.serverCredentials ?? ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.server = server;
    const host = this.o.listen.slice(0, this.o.listen.lastIndexOf(':'));
    return `${host}:${port}`;
  }

  /** Adds (or re-addresses) a peer; only known peers may send to us. */
  addPeer(id: bigint, addr: string): void {
    if (id === this.o.id || this.stopped) return;
    const cur = this.peers.get(id);
    if (cur?.addr === addr) return;
    cur?.close();
    this.peers.set(id, new PeerSender(id, addr, this.o));
  }

  removePeer(id: bigint): void {
    this.peers.get(id)?.close();
    this.peers.delete(id);
  }

  hasPeer(id: bigint): boolean {
    return this.peers.has(id);
  }

  peerAddresses(): Map<bigint, string> {
    return new Map([...this.peers].map(([id, p]) => [id, p.addr]));
  }

  /** Never blocks: a message to an unknown or overloaded peer is dropped and reported. */
  send(msgs: readonly Message[]): void {
    for (const m of msgs) {
      const p = this.peers.get(m.to);
      if (p) p.send(m);
      else this.o.onUnreachable(m.to);
    }
  }

  stats(): { received: bigint; batches: number; refused: number; dropped: number } {
    let dropped = 0;
    for (const p of this.peers.values()) dropped += p.dropped;
    return { received: this.inbound.received, batches: this.inbound.batches, refused: this.inbound.refused, dropped };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.inbound.stopping = true; // peers vanish below: their last messages are not strangers
    for (const p of this.peers.values()) p.close();
    this.peers.clear();
    const server = this.server;
    if (!server) return;
    // give in-flight calls a moment, then cut them: a stopping member must not hang
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 200);
      server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
