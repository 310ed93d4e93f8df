// The embedded DNS server on a lab of 4 hosts (h4 plays the outside world's resolvers): it runs
// in h1's namespace as the agent would, and containers of h1 ask it over their overlay networks.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DnsTask } from '../../overlay-net/dns/index.js';
import { containerNamespacesLeft, must, residue, upLab, type TestLab } from './lab.js';
import { addressIn, mac, meshPeers, network, spread } from './fixtures.js';
import { lookup, lookupTcp, startDns, startUpstream, type RemoteDns } from './dns-fixtures.js';

const LAB = 'ovdns';
let t: TestLab;
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  t = await upLab(LAB, 4, '10.241.0.0/24');
}, 120_000);

afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
  // No DNS listener left in the host (the server closed its sockets and exited).
  const h1 = t.lab.host('h1');
  expect(await must(['nsenter', `--net=${h1.netnsPath}`, 'ss', '-Hlnut', 'sport', '=', ':53'])).toBe('');
  await t.reset();
  for (const h of t.hosts) expect(await residue(h), `residue on ${h.name}`).toEqual([]);
  expect(await containerNamespacesLeft(t.name)).toEqual([]);
});

afterAll(async () => {
  await t?.down();
});

const ip = (a: string) => a.split('/')[0]!;

describe('embedded DNS', () => {
  it('answers service, tasks., task names, aliases and dnsrr for the asker\'s networks only; forwards the rest', async () => {
    const A = network('dnsa', 'vxlan', '10.242.1.0/24');
    const B = network('dnsb', 'vxlan', '10.242.2.0/24', { vni: 6002 });
    const HOSTS = ['h1', 'h2', 'h3'];
    const [a1, a2, a3] = await spread(t, A, HOSTS);
    const [b1] = await spread(t, B, ['h1', 'h2']);
    await meshPeers(t, A, HOSTS);
    await meshPeers(t, B, ['h1', 'h2']);
    // A container of h1 on both networks.
    const both = await t.container('h1');
    const o1 = t.overlay.get('h1')!;
    const bothA = addressIn(A.subnet, 'h1', 7);
    const bothB = addressIn(B.subnet, 'h1', 7);
    await o1.attach(A.id, { taskId: 'both', netnsPath: both.path, address: bothA, mac: mac(), ifName: 'eth0' });
    await o1.attach(B.id, { taskId: 'both', netnsPath: both.path, address: bothB, mac: mac(), ifName: 'eth1', defaultRoute: false });

    const h4 = t.lab.host('h4').addr;
    const up1 = await startUpstream(t, 'h4', 53, '198.51.100.1');
    stops.push(up1.stop);
    const up2 = await startUpstream(t, 'h4', 5354, '198.51.100.2');
    stops.push(up2.stop);
    const dns = await startDns(t, 'h1', { upstreams: [h4], ttl: 5 });
    stops.push(dns.close);
    await dns.addNetwork({ id: A.id, gateway: A.gateway });
    await dns.addNetwork({ id: B.id, gateway: B.gateway });

    const VIP = '10.242.1.2';
    const SECRET_VIP = '10.242.2.2';
    await dns.upsertService({ id: 'svc-web', name: 'web', endpointMode: 'vip', networks: [{ networkId: A.id, vip: `${VIP}/24`, aliases: ['frontend'] }] });
    await dns.upsertService({ id: 'svc-db', name: 'db', endpointMode: 'dnsrr', networks: [{ networkId: A.id }] });
    await dns.upsertService({ id: 'svc-secret', name: 'secret', endpointMode: 'vip', networks: [{ networkId: B.id, vip: SECRET_VIP }] });
    const web1: DnsTask = { id: 't-web1', name: 'web.1.aaa', serviceId: 'svc-web', hostname: 'webhost1', healthy: true, networks: [{ networkId: A.id, address: `${a2!.ip}/24`, aliases: ['w1'] }] };
    const web2: DnsTask = { id: 't-web2', name: 'web.2.bbb', serviceId: 'svc-web', healthy: true, networks: [{ networkId: A.id, address: a3!.ip }] };
    const db1: DnsTask = { id: 't-db1', name: 'db.1.ccc', serviceId: 'svc-db', healthy: true, networks: [{ networkId: A.id, address: '10.242.1.150' }] };
    const db2: DnsTask = { id: 't-db2', name: 'db.2.ddd', serviceId: 'svc-db', healthy: true, networks: [{ networkId: A.id, address: '10.242.1.151' }] };
    // The askers: a1 on A only, b1 on B only (with its own upstream, the service's `dns`), both on both.
    const client: DnsTask = { id: 't-client', name: 'client.1.eee', healthy: true, networks: [{ networkId: A.id, address: a1!.ip }] };
    const bclient: DnsTask = { id: 't-bclient', name: 'bclient.1.fff', healthy: true, upstreams: [`${h4}:5354`], networks: [{ networkId: B.id, address: b1!.ip }] };
    const multi: DnsTask = { id: 't-both', name: 'both.1.ggg', healthy: true, networks: [{ networkId: A.id, address: bothA }, { networkId: B.id, address: bothB }] };
    for (const x of [web1, web2, db1, db2, client, bclient, multi]) await dns.upsertTask(x);

    const fromA = await lookup(a1!.c, A.gateway, ['web', 'WEB.', 'frontend', 'tasks.web', 'web.1.aaa', 'webhost1', 'w1', 'db', 'tasks.db', 'secret', 'example.org']);
    expect(fromA).toEqual({
      web: [VIP],
      'WEB.': [VIP],
      frontend: [VIP],
      'tasks.web': [a2!.ip, a3!.ip].sort(),
      'web.1.aaa': [a2!.ip],
      webhost1: [a2!.ip],
      w1: [a2!.ip],
      db: ['10.242.1.150', '10.242.1.151'],
      'tasks.db': ['10.242.1.150', '10.242.1.151'],
      // Not on a network a1 shares: not ours to answer, so the host's resolver's answer.
      secret: ['198.51.100.1'],
      'example.org': ['198.51.100.1'],
    });
    // b1 sees B's names only, and its other names go to its service's own resolver.
    expect(await lookup(b1!.c, B.gateway, ['secret', 'web', 'tasks.web'])).toEqual({
      secret: [SECRET_VIP],
      web: ['198.51.100.2'],
      'tasks.web': ['198.51.100.2'],
    });
    // A container on both networks sees both, whichever gateway it asks.
    expect(await lookup(both, B.gateway, ['secret', 'web'])).toEqual({ secret: [SECRET_VIP], web: [VIP] });
    // Our names have no IPv6 record (NODATA, not forwarded); reverse names are ours too.
    expect(await lookup(a1!.c, A.gateway, ['web'], 'AAAA')).toEqual({ web: 'ENODATA' });
    expect(await lookup(a1!.c, A.gateway, [a2!.ip, VIP], 'PTR')).toEqual({ [a2!.ip]: ['web.1.aaa'], [VIP]: ['web'] });
    // TCP as well as UDP.
    expect(await lookupTcp(a1!.c, A.gateway, 'tasks.web')).toEqual([a2!.ip, a3!.ip].sort());
  });

  it('takes deltas at once: unhealthy and removed tasks leave the answers, new ones join; unknown askers are refused', async () => {
    const A = network('dnsa', 'vxlan', '10.242.1.0/24');
    const [a1, a2, a3] = await spread(t, A, ['h1', 'h2', 'h3']);
    await meshPeers(t, A, ['h1', 'h2', 'h3']);
    const dns = await startDns(t, 'h1', { upstreams: [] });
    stops.push(dns.close);
    await dns.addNetwork({ id: A.id, gateway: A.gateway });
    await dns.upsertService({ id: 's', name: 'api', endpointMode: 'dnsrr', networks: [{ networkId: A.id }] });
    const task = (n: number, address: string, healthy = true): DnsTask => ({ id: `t${n}`, name: `api.${n}.x`, serviceId: 's', healthy, networks: [{ networkId: A.id, address }] });
    // a1 is attached but not in the records yet: not a container the server knows.
    expect(await lookup(a1!.c, A.gateway, ['api'])).toEqual({ api: 'EREFUSED' });
    await dns.upsertTask({ id: 'client', name: 'client', healthy: true, networks: [{ networkId: A.id, address: a1!.ip }] });
    await dns.upsertTask(task(1, a2!.ip));
    expect(await lookup(a1!.c, A.gateway, ['api', 'tasks.api'])).toEqual({ api: [a2!.ip], 'tasks.api': [a2!.ip] });
    await dns.upsertTask(task(2, a3!.ip));
    expect(await lookup(a1!.c, A.gateway, ['api'])).toEqual({ api: [a2!.ip, a3!.ip].sort() });
    await dns.upsertTask(task(1, a2!.ip, false)); // failed its health check
    expect(await lookup(a1!.c, A.gateway, ['api', 'tasks.api', 'api.1.x'])).toEqual({ api: [a3!.ip], 'tasks.api': [a3!.ip], 'api.1.x': [a2!.ip] });
    await dns.removeTask('t2');
    // The service still exists with no healthy task: NODATA, and no upstream was asked (there is none).
    expect(await lookup(a1!.c, A.gateway, ['api', 'api.2.x'])).toEqual({ api: 'ENODATA', 'api.2.x': 'ESERVFAIL' });
    await dns.removeService('s');
    expect(await lookup(a1!.c, A.gateway, ['api'])).toEqual({ api: 'ESERVFAIL' });
    // The network gone from the host: its listener is closed.
    await dns.removeNetwork(A.id);
    const h1 = t.lab.host('h1');
    expect(await must(['nsenter', `--net=${h1.netnsPath}`, 'ss', '-Hlnut', 'sport', '=', ':53'])).toBe('');
  });
});
