// The embedded DNS server of a host: one UDP and one TCP listener on the gateway address of
// each network present on the host (the address every task of that network reaches on its
// own host). It runs inside the agent, in the host's network namespace.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import * as packet from 'dns-packet';
import type { Logger } from 'pino';
import { InvalidNetworkInputError } from '../errors.js';
import { decide, RCODE, reply } from './answer.js';
import { parseUpstream, resolversOf, type Upstream } from './files.js';
import { ServiceRecords, type DnsService, type DnsTask } from './records.js';

export const DEFAULT_DNS_TTL = 5;

export interface DnsServerOptions {
  /** The host's resolvers ("ip" or "ip:port"); read from /etc/resolv.conf when left out. */
  upstreams?: readonly string[];
  /** TTL of the answers from the records, in seconds (5 by default). */
  ttl?: number;
  /** Port of the listeners (53; tests may use another). */
  port?: number;
  /** How long one upstream has to answer a forwarded query before the next is tried. */
  forwardTimeoutMs?: number;
  logger?: Logger;
}

interface Listener {
  gateway: string;
  udp: UdpSocket;
  tcp: Server;
  conns: Set<Socket>;
}

export class DnsServer {
  /** Services and tasks of the cluster; change them with the methods below. */
  readonly records = new ServiceRecords();
  private readonly listeners = new Map<string, Listener>();
  private readonly upstreams: Upstream[];
  private readonly ttl: number;
  private readonly port: number;
  private readonly forwardTimeoutMs: number;

  constructor(private readonly opts: DnsServerOptions = {}) {
    this.upstreams = opts.upstreams ? opts.upstreams.map(parseUpstream) : resolversOf(readResolvConf());
    this.ttl = opts.ttl ?? DEFAULT_DNS_TTL;
    if (!Number.isInteger(this.ttl) || this.ttl < 0) throw new InvalidNetworkInputError(`DNS TTL ${this.ttl} is not a whole number of seconds`);
    this.port = opts.port ?? 53;
    this.forwardTimeoutMs = opts.forwardTimeoutMs ?? 2000;
  }

  /** Starts answering on a network's gateway address (the network must exist on this host). Idempotent. */
  async addNetwork(network: { id: string; gateway: string }): Promise<void> {
    const had = this.listeners.get(network.id);
    if (had?.gateway === network.gateway) return;
    if (had) await this.removeNetwork(network.id);
    const udp = createSocket({ type: 'udp4' });
    const tcp = createServer();
    const l: Listener = { gateway: network.gateway, udp, tcp, conns: new Set() };
    udp.on('message', (msg, rinfo) => void this.onUdp(l, network.id, msg, rinfo.address, rinfo.port));
    udp.on('error', (err) => this.opts.logger?.warn({ err, network: network.id }, 'dns udp socket error'));
    tcp.on('connection', (s) => this.onTcp(l, network.id, s));
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(this.port, network.gateway, () => resolve());
      });
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(this.port, network.gateway, () => resolve());
      });
    } catch (err) {
      udp.close();
      tcp.close();
      throw new InvalidNetworkInputError(`cannot listen for DNS on ${network.gateway}:${this.port} (network ${network.id}): ${(err as Error).message}`, { cause: err });
    }
    this.listeners.set(network.id, l);
  }

  async removeNetwork(id: string): Promise<void> {
    const l = this.listeners.get(id);
    if (!l) return;
    this.listeners.delete(id);
    for (const c of l.conns) c.destroy();
    await Promise.all([new Promise<void>((r) => l.udp.close(() => r())), new Promise<void>((r) => l.tcp.close(() => r()))]);
  }

  async close(): Promise<void> {
    for (const id of [...this.listeners.keys()]) await this.removeNetwork(id);
  }

  upsertService(s: DnsService): void {
    this.records.upsertService(s);
  }
  removeService(id: string): void {
    this.records.removeService(id);
  }
  upsertTask(t: DnsTask): void {
    this.records.upsertTask(t);
  }
  removeTask(id: string): void {
    this.records.removeTask(id);
  }

  /** The answer to one query as wire bytes, forwarding when the records do not know the name. */
  async handle(msg: Buffer, source: string, networkId: string, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    let query: packet.Packet;
    try {
      query = packet.decode(msg);
    } catch {
      return undefined; // not DNS: no answer, as a resolver would
    }
    const d = decide(this.records, query, source, networkId, this.ttl);
    if (d.kind === 'reply') {
      const out = packet.encode(d.response);
      // Too big for the asker's UDP buffer: say so (TC) and let it come back over TCP.
      return transport === 'udp' && out.length > udpLimit(query) ? truncated(out) : out;
    }
    const ups = d.asker.upstreams && d.asker.upstreams.length > 0 ? d.asker.upstreams.map(parseUpstream) : this.upstreams;
    for (const up of ups) {
      const r = await (transport === 'udp' ? forwardUdp(msg, up, this.forwardTimeoutMs) : forwardTcp(msg, up, this.forwardTimeoutMs)).catch(() => undefined);
      if (r) return r;
    }
    return packet.encode(reply(query, RCODE.SERVFAIL));
  }

  private async onUdp(l: Listener, networkId: string, msg: Buffer, address: string, port: number): Promise<void> {
    const out = await this.handle(msg, address, networkId, 'udp');
    if (!out) return;
    if (this.listeners.get(networkId) === l) l.udp.send(out, port, address);
  }

  private onTcp(l: Listener, networkId: string, s: Socket): void {
    l.conns.add(s);
    s.on('close', () => l.conns.delete(s));
    s.on('error', () => s.destroy());
    s.setTimeout(10_000, () => s.destroy());
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        void this.handle(Buffer.from(msg), s.remoteAddress?.replace(/^::ffff:/, '') ?? '', networkId, 'tcp').then((out) => {
          if (out && !s.destroyed) s.write(frame(out));
        });
      }
    });
  }
}

function readResolvConf(): string {
  try {
    return readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    return '';
  }
}

function frame(msg: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(msg.length);
  return Buffer.concat([len, msg]);
}

/** The asker's UDP payload limit: its EDNS size, else 512 bytes. */
function udpLimit(query: packet.Packet): number {
  const opt = query.additionals?.find((a) => a.type === 'OPT');
  return opt && opt.type === 'OPT' ? Math.min(Math.max(opt.udpPayloadSize, 512), 4096) : 512;
}

function truncated(response: Buffer): Buffer {
  const p = packet.decode(response);
  return packet.encode({ ...p, flags: (p.flags ?? 0) | packet.TRUNCATED_RESPONSE, answers: [], authorities: [], additionals: [] });
}

function forwardUdp(msg: Buffer, up: Upstream, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // A socket per forwarded query: its own source port, so replies cannot be confused.
    const s = createSocket('udp4');
    const id = msg.readUInt16BE(0);
    const timer = setTimeout(() => done(new Error('timeout')), timeoutMs);
    const done = (err: Error | null, r?: Buffer) => {
      clearTimeout(timer);
      s.close();
      if (err) reject(err);
      else resolve(r!);
    };
    s.on('error', (e) => done(e));
    s.on('message', (r, rinfo) => {
      if (rinfo.address === up.address && r.length >= 2 && r.readUInt16BE(0) === id) done(null, r);
    });
    s.send(msg, up.port, up.address);
  });
}

function forwardTcp(msg: Buffer, up: Upstream, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ host: up.address, port: up.port });
    let buf = Buffer.alloc(0);
    s.setTimeout(timeoutMs, () => s.destroy(new Error('timeout')));
    s.on('connect', () => s.write(frame(msg)));
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        resolve(Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        s.destroy();
      }
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error('closed before an answer')));
  });
}
