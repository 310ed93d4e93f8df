// Decides what one query gets: an answer from the records (only names of networks the asker
// is on), or "forward" to the asker's upstreams. Pure: no sockets, so every case is cheap to test.
import * as packet from 'dns-packet';
import type { DnsTask, ServiceRecords } from './records.js';

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

export type Decision =
  | { kind: 'reply'; response: packet.Packet }
  | { kind: 'forward'; asker: DnsTask };

/**
 * @param listenerNetwork the network whose gateway the query reached: searched first, then the
 *   asker's other networks (a container on two networks sees the names of both).
 */
export function decide(records: ServiceRecords, query: packet.Packet, source: string, listenerNetwork: string, ttl: number): Decision {
  const q = query.questions?.[0];
  if (query.type === 'response' || !q || (query.questions?.length ?? 0) !== 1) return { kind: 'reply', response: reply(query, RCODE.FORMERR) };
  const asker = records.taskAt(source);
  // Only containers with an address on one of this host's networks are served.
  if (!asker) return { kind: 'reply', response: reply(query, RCODE.REFUSED) };
  const order = [listenerNetwork, ...asker.networks.map((n) => n.networkId).filter((id) => id !== listenerNetwork)];
  const mine = new Set(asker.networks.map((n) => n.networkId));

  if (q.type === 'PTR') {
    const addr = ptrAddress(q.name);
    if (addr !== undefined)
      for (const net of order) {
        if (!mine.has(net)) continue;
        const name = records.reverseName(net, addr);
        if (name) return { kind: 'reply', response: reply(query, RCODE.NOERROR, [{ type: 'PTR', name: q.name, ttl, data: name }]) };
      }
    return { kind: 'forward', asker };
  }

  for (const net of order) {
    if (!mine.has(net)) continue;
    const r = records.resolve(net, q.name);
    if (r.kind === 'none') continue;
    if (q.type !== 'A' && (q.type as string) !== 'ANY') return { kind: 'reply', response: reply(query, RCODE.NOERROR) }; // ours, but IPv4 only: NODATA
    const answers: packet.Answer[] = shuffle(r.addresses).map((a) => ({ type: 'A', name: q.name, ttl, data: a }));
    return { kind: 'reply', response: reply(query, RCODE.NOERROR, answers) };
  }
  return { kind: 'forward', asker };
}

export function reply(query: packet.Packet, rcode: number, answers: packet.Answer[] = []): packet.Packet {
  const rd = (query.flags ?? 0) & packet.RECURSION_DESIRED;
  const aa = rcode === RCODE.NOERROR ? packet.AUTHORITATIVE_ANSWER : 0;
  return {
    type: 'response',
    id: query.id ?? 0,
    flags: rd | aa | packet.RECURSION_AVAILABLE | rcode,
    questions: query.questions ?? [],
    answers,
  };
}

/** The IPv4 address of a w.x.y.z.in-addr.arpa name, or undefined. */
function ptrAddress(name: string): string | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\.in-addr\.arpa\.?$/i.exec(name);
  return m ? `${m[4]}.${m[3]}.${m[2]}.${m[1]}` : undefined;
}

/** Clients take the first address: shuffle so dnsrr spreads them. */
function shuffle(a: string[]): string[] {
  const out = [...a];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
