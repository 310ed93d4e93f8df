// Cross-host traffic over both drivers on a lab of 4 hosts (h4 plays the outside world):
// ping and TCP between containers on 3 hosts, full-size packets with DF set, isolation
// between networks, egress with masquerade (none for internal networks), and a host's entries
// withdrawn and restored. After every test, nothing of the data path is left.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { containerNamespacesLeft, must, residue, upLab, type TestLab } from './lab.js';
import { addressIn, block, expectNoPing, expectPing, labHostListener, linkMtu, mac, meshPeers, network, spread, tcpSend } from './fixtures.js';

const LAB = 'ovdp';
let t: TestLab;

beforeAll(async () => {
  t = await upLab(LAB, 4, '10.231.0.0/24');
}, 120_000);

afterEach(async () => {
  await t.reset();
  for (const h of t.hosts) expect(await residue(h), `residue on ${h.name}`).toEqual([]);
  expect(await containerNamespacesLeft(t.name)).toEqual([]);
});

afterAll(async () => {
  await t?.down();
});

const HOSTS = ['h1', 'h2', 'h3'];

describe.each(['vxlan', 'routed'] as const)('%s', (driver) => {
  const subnetA = driver === 'vxlan' ? '10.232.1.0/24' : '10.233.1.0/24';
  const subnetB = driver === 'vxlan' ? '10.232.2.0/24' : '10.233.2.0/24';

  it('carries ping, TCP and full-size DF packets between containers on 3 hosts', async () => {
    const net = network(`${driver}a`, driver, subnetA);
    const eps = await spread(t, net, HOSTS);
    await meshPeers(t, net, HOSTS);
    const mtu = driver === 'vxlan' ? 1450 : 1500;
    for (const ep of eps) expect(await linkMtu(ep.c)).toBe(mtu);
    expect(t.overlay.get('h1')!.networks()[0]!.mtu).toBe(mtu);
    for (const [i, from] of eps.entries()) {
      const to = eps[(i + 1) % eps.length]!;
      await expectPing(from, to.ip);
      await expectPing(from, to.ip, ['-M', 'do', '-s', String(mtu - 28)]);
      // One byte more cannot leave with DF set: the MTU the container sees is the real one.
      const r = await from.c.exec(['ping', '-n', '-c', '1', '-W', '1', '-M', 'do', '-s', String(mtu - 27), to.ip]);
      expect(r.code).not.toBe(0);
      expect(await tcpSend(to.c, from.c, to.ip, 7000 + i)).not.toBe('');
    }
    // Two tasks of the network on one host: bridged, through the forward hook where
    // br_netfilter is on (as on this machine).
    const [neighbour] = await spread(t, net, ['h1'], 1);
    await expectPing(eps[0]!, neighbour!.ip);
    await expectPing(neighbour!, eps[0]!.ip, ['-M', 'do', '-s', String(mtu - 28)]);
    expect(await tcpSend(neighbour!.c, eps[0]!.c, neighbour!.ip, 7050)).not.toBe('');
    // Kernel state per remote host: 2 routes, and for vxlan 2 neighbour and 2 FDB entries.
    const h1 = t.lab.host('h1');
    const routes = await must(['nsenter', `--net=${h1.netnsPath}`, 'ip', 'route', 'show', 'proto', '83']);
    expect(routes).toContain(block(subnetA, 'h2'));
    expect(routes).toContain(block(subnetA, 'h3'));
    if (driver === 'vxlan') {
      const neigh = await must(['nsenter', `--net=${h1.netnsPath}`, 'ip', 'neigh', 'show', 'nud', 'permanent']);
      expect(neigh.trim().split('\n')).toHaveLength(2);
    }
  });

  it('isolates networks on one host and across hosts; internal has no egress, a normal one has', async () => {
    const subnetC = driver === 'vxlan' ? '10.232.3.0/24' : '10.233.3.0/24';
    const a = network(`${driver}a`, driver, subnetA);
    const c = network(`${driver}c`, driver, subnetC, { vni: 5003 });
    const b = network(`${driver}b`, driver, subnetB, { internal: true, vni: 5002 });
    const [a1, a2] = await spread(t, a, ['h1', 'h2']);
    const [c1, c2] = await spread(t, c, ['h1', 'h2']);
    const [b1, b2] = await spread(t, b, ['h1', 'h2']);
    for (const n of [a, b, c]) await meshPeers(t, n, ['h1', 'h2']);
    await expectPing(a1!, a2!.ip);
    await expectPing(c1!, c2!.ip);
    await expectPing(b1!, b2!.ip);
    // Both a and c have default routes via their gateways, so only the host's rules stop them.
    await expectNoPing(a1!, c1!.ip); // same host, other network
    await expectNoPing(c1!, a1!.ip);
    await expectNoPing(a1!, c2!.ip); // other host, other network
    await expectNoPing(c2!, a1!.ip);
    await expectNoPing(a2!, b2!.ip);
    expect(await tcpSend(c1!.c, a1!.c, c1!.ip, 7100)).toBe('');

    const outside = t.lab.host('h4').addr;
    // Normal network: out through its host, masqueraded (h4 has no route back to the subnet).
    expect(await tcpSend(labHostListener(t, 'h4'), a1!.c, outside, 7200)).not.toBe('');
    await expectPing(a2!, outside);
    // Internal: no default route at all, and a route added by hand inside is refused by the host.
    const noRoute = await b1!.c.exec(['ping', '-n', '-c', '1', '-W', '1', outside]);
    expect(noRoute.stderr + noRoute.stdout).toMatch(/unreachable/i);
    await must(['nsenter', `--net=${b1!.c.path}`, 'ip', 'route', 'add', 'default', 'via', b.gateway]);
    await expectNoPing(b1!, outside);
    await expectNoPing(b1!, a1!.ip);
    expect(await tcpSend(labHostListener(t, 'h4'), b1!.c, outside, 7300)).toBe('');
  });

  it('withdraws a removed host from its peers and takes it back', async () => {
    const net = network(`${driver}a`, driver, subnetA);
    const eps = await spread(t, net, HOSTS);
    await meshPeers(t, net, HOSTS);
    const [c1, , c3] = eps;
    await expectPing(c1!, c3!.ip);
    await t.overlay.get('h1')!.removePeerHost('h3');
    const h1 = t.lab.host('h1');
    const routes = await must(['nsenter', `--net=${h1.netnsPath}`, 'ip', 'route', 'show', 'proto', '83']);
    expect(routes).not.toContain(block(subnetA, 'h3'));
    expect(routes).toContain(block(subnetA, 'h2'));
    const h3addr = t.lab.host('h3').addr;
    expect(await must(['nsenter', `--net=${h1.netnsPath}`, 'ip', 'neigh', 'show', 'nud', 'permanent'])).not.toContain(h3addr);
    expect(await must(['nsenter', `--net=${h1.netnsPath}`, 'bridge', 'fdb', 'show'])).not.toContain(h3addr);
    await expectNoPing(c1!, c3!.ip);
    // Back: the full list again, only the difference reaches the kernel.
    await meshPeers(t, net, HOSTS);
    await expectPing(c1!, c3!.ip);
  });

  it('programs per-endpoint peers (one /32 each) as well as blocks, and adds one without touching the others', async () => {
    const net = network(`${driver}a`, driver, subnetA);
    const [c1, c2] = await spread(t, net, ['h1', 'h2']);
    const o2 = t.overlay.get('h2')!;
    const extra = await t.container('h2');
    const extraAddr = addressIn(subnetA, 'h2', 5);
    await o2.attach(net.id, { taskId: 'extra', netnsPath: extra.path, address: extraAddr, mac: mac() });
    const list = (ips: string[]) => ips.map((a) => a.split('/')[0]!);
    await t.overlay.get('h1')!.setPeers(net.id, [{ hostId: 'h2', underlayAddress: t.lab.host('h2').addr, prefixes: list([c2!.ip]) }]);
    await o2.setPeers(net.id, [{ hostId: 'h1', underlayAddress: t.lab.host('h1').addr, prefixes: [c1!.ip] }]);
    await expectPing(c1!, c2!.ip);
    await expectNoPing(c1!, extraAddr.split('/')[0]!); // not announced yet
    await t.overlay.get('h1')!.setPeers(net.id, [
      { hostId: 'h2', underlayAddress: t.lab.host('h2').addr, prefixes: list([c2!.ip, extraAddr]) },
    ]);
    await expectPing(c1!, extraAddr.split('/')[0]!);
  });
});
