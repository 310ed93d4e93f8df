// The server's answers without sockets (DnsServer.handle): truncation over UDP, refusals,
// malformed queries, no upstream, and a service name reused after its removal.
import * as packet from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { DnsServer } from '../../overlay-net/dns/index.js';

const NET = 'n1';

function query(name: string, type: 'A' | 'AAAA' = 'A', edns?: number): Buffer {
  const additionals: packet.Answer[] = edns
    ? [{ type: 'OPT', name: '.', udpPayloadSize: edns, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }]
    : [];
  return packet.encode({ type: 'query', id: 42, flags: packet.RECURSION_DESIRED, questions: [{ type, name }], additionals });
}

function server(): DnsServer {
  const s = new DnsServer({ upstreams: [] });
  s.upsertTask({ id: 'client', name: 'client.1.x', healthy: true, networks: [{ networkId: NET, address: '10.0.1.200/24' }] });
  s.upsertService({ id: 'big', name: 'big', endpointMode: 'dnsrr', networks: [{ networkId: NET }] });
  for (let i = 0; i < 100; i++)
    s.upsertTask({ id: `b${i}`, name: `big.${i}.x`, serviceId: 'big', healthy: true, networks: [{ networkId: NET, address: `10.0.1.${i + 2}` }] });
  return s;
}

async function ask(s: DnsServer, msg: Buffer, source = '10.0.1.200', transport: 'udp' | 'tcp' = 'udp') {
  const out = await s.handle(msg, source, NET, transport);
  return out && packet.decode(out);
}

/** The response code (dns-packet decodes it; its types do not declare it). */
const rcode = (p: packet.DecodedPacket | undefined) => (p as (packet.DecodedPacket & { rcode: string }) | undefined)?.rcode;

describe('DnsServer.handle', () => {
  it('truncates a UDP answer past 512 bytes (or the EDNS size) and gives it whole over TCP', async () => {
    const s = server();
    const udp = await ask(s, query('big'));
    expect(udp!.flag_tc).toBe(true);
    expect(udp!.answers).toEqual([]);
    expect(udp!.id).toBe(42);
    const edns = await ask(s, query('big', 'A', 4096));
    expect(edns!.flag_tc).toBe(false);
    expect(edns!.answers).toHaveLength(100);
    const tcp = await ask(s, query('tasks.big'), '10.0.1.200', 'tcp');
    expect(tcp!.flag_tc).toBe(false);
    expect(tcp!.flag_aa).toBe(true);
    expect(new Set(tcp!.answers!.map((a) => (a as packet.StringAnswer).data)).size).toBe(100);
    expect(tcp!.answers!.every((a) => (a as packet.StringAnswer).ttl === 5)).toBe(true);
  });

  it('refuses strangers, ignores garbage, SERVFAILs what it cannot forward', async () => {
    const s = server();
    expect(rcode(await ask(s, query('big'), '10.0.9.9'))).toBe('REFUSED');
    expect(await s.handle(Buffer.from([1, 2, 3]), '10.0.1.200', NET, 'udp')).toBeUndefined();
    expect(rcode(await ask(s, query('example.org')))).toBe('SERVFAIL');
    expect(rcode(await ask(s, query('big', 'AAAA')))).toBe('NOERROR');
  });

  it('forgets a removed service at once and takes its name for a new one', async () => {
    const s = server();
    s.removeService('big');
    expect(rcode(await ask(s, query('big')))).toBe('SERVFAIL'); // not ours any more: forwarded, no upstream
    // Its tasks still answer by their own names until they are removed too.
    expect((await ask(s, query('big.3.x')))!.answers!.map((a) => (a as packet.StringAnswer).data)).toEqual(['10.0.1.5']);
    s.upsertService({ id: 'big2', name: 'BIG', endpointMode: 'vip', networks: [{ networkId: NET, vip: '10.0.1.250/24' }] });
    expect((await ask(s, query('big')))!.answers!.map((a) => (a as packet.StringAnswer).data)).toEqual(['10.0.1.250']);
  });
});
