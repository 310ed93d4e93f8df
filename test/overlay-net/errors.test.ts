// Bad input and missing kernel features: one typed error each, refused before or rolled back
// after the kernel was touched, and nothing left behind.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  InvalidNetworkInputError,
  KernelFeatureError,
  OverlayHost,
  PeerNotAdjacentError,
  UnderlayMtuError,
  UnknownDriverError,
  UnknownObjectError,
  type NetworkSpec,
} from '../../overlay-net/index.js';
import { spawnRunner, type CommandRunner } from '../../overlay-net/kernel.js';
import { containerNamespacesLeft, must, residue, upLab, type TestLab } from './lab.js';
import { addressIn, block, expectPing, mac, meshPeers, network, spread } from './fixtures.js';

const LAB = 'overr';
let t: TestLab;

beforeAll(async () => {
  t = await upLab(LAB, 2, '10.241.0.0/24');
}, 120_000);

afterEach(async () => {
  await t.reset();
  await t.lab.exec('h1', ['ip', 'link', 'set', 'eth0', 'mtu', '1500']);
  for (const h of t.hosts) expect(await residue(h), `residue on ${h.name}`).toEqual([]);
  expect(await containerNamespacesLeft(t.name)).toEqual([]);
});

afterAll(async () => {
  await t?.down();
});

async function clean(host = 'h1'): Promise<void> {
  expect(await residue(t.lab.host(host))).toEqual([]);
}

function ledgerNetworks(host: string): string[] {
  const data = JSON.parse(readFileSync(join(t.base, 'overlay', host, 'overlay-net.json'), 'utf8')) as { networks: object };
  return Object.keys(data.networks);
}

const SUBNET = '10.242.1.0/24';

describe('network input', () => {
  it('refuses an unknown driver naming the choices', async () => {
    const o = await t.open('h1');
    const err = await o.ensureNetwork(network('n1', 'gretap', SUBNET)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnknownDriverError);
    expect((err as Error).message).toMatch(/n1_net.*"gretap".*vxlan, routed/);
    await clean();
  });

  it.each<[string, Partial<NetworkSpec>, RegExp]>([
    ['a prefix past /32', { subnet: '10.242.1.0/33' }, /subnet "10.242.1.0\/33" is not an IPv4 network/],
    ['host bits set', { subnet: '10.242.1.5/24' }, /no host bits/],
    ['not an address', { subnet: 'ten.0.0.0/24' }, /not an IPv4 network/],
    ['a gateway outside', { gateway: '10.9.9.1' }, /gateway 10.9.9.1 is not a usable address/],
    ['the network address as gateway', { gateway: '10.242.1.0' }, /gateway 10.242.1.0 is not a usable/],
    ['a VNI out of range', { vni: 1 << 24 }, /VNI 16777216 is out of range/],
  ])('refuses %s', async (_what, change, message) => {
    const o = await t.open('h1');
    const err = await o.ensureNetwork({ ...network('n1', 'vxlan', SUBNET), ...change }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidNetworkInputError);
    expect((err as Error).message).toMatch(message);
    expect(o.networks()).toEqual([]);
    await clean();
  });

  it('takes the smallest subnet the allocator hands out (/30: gateway and one task), not a /31', async () => {
    const o = await t.open('h1');
    await expect(o.ensureNetwork(network('n0', 'routed', '10.242.9.0/31'))).rejects.toThrow(/between \/8 and \/30/);
    await o.ensureNetwork({ ...network('n1', 'routed', '10.242.9.0/30'), gateway: '10.242.9.1' });
    const c = await t.container('h1');
    await o.attach('n1', { taskId: 'only', netnsPath: c.path, address: '10.242.9.2/30', mac: mac() });
    await expect(o.attach('n1', { taskId: 'none', netnsPath: c.path, address: '10.242.9.3/30', mac: mac() })).rejects.toThrow(/not a usable address/);
  });

  it('refuses a subnet overlapping another network on the host, naming both', async () => {
    const o = await t.open('h1');
    await o.ensureNetwork(network('n1', 'vxlan', SUBNET));
    const err = await o.ensureNetwork(network('n2', 'routed', '10.242.0.0/16')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidNetworkInputError);
    expect((err as Error).message).toMatch(/n2_net: subnet 10.242.0.0\/16 overlaps network n1_net \(10.242.1.0\/24\)/);
    expect(o.networks().map((n) => n.id)).toEqual(['n1']);
  });

  it('says "unknown network" for peers or attachments of a network the host has not set up', async () => {
    const o = await t.open('h1');
    await expect(o.setPeers('nope', [])).rejects.toBeInstanceOf(UnknownObjectError);
    await expect(o.attach('nope', { taskId: 't', netnsPath: '/run/netns/x', address: '10.0.0.2/24', mac: mac() })).rejects.toBeInstanceOf(UnknownObjectError);
  });
});

describe('kernel and underlay', () => {
  it('finds at start that the kernel has no VXLAN, says so, and makes nothing', async () => {
    // The kernel's own answer for a link kind it has no module for: ask for one that no kernel
    // has (without vxlan's arguments, which ip itself would refuse for another kind).
    const noVxlan: CommandRunner = (argv, input) =>
      spawnRunner(
        argv.join(' ').includes('type vxlan') ? ['unshare', '--net', 'ip', 'link', 'add', 'shovprobe', 'type', 'shoalnovxlan'] : argv,
        input?.replace(/^link add (\S+) .* type vxlan .*$/gm, 'link add $1 type shoalnovxlan'),
      );
    const h = t.lab.host('h1');
    const o = await OverlayHost.open({ underlayAddress: h.addr, stateDir: join(t.base, 'overlay', 'h1'), hostNetns: h.netnsPath, runner: noVxlan });
    t.overlay.set('h1', o);
    expect(o.drivers).not.toContain('vxlan');
    expect(o.drivers).toContain('routed');
    const err = await o.ensureNetwork(network('n1', 'vxlan', SUBNET)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KernelFeatureError);
    expect((err as Error).message).toMatch(/n1_net: this kernel cannot make VXLAN devices.*modprobe vxlan.*routed driver/);
    await clean();
    expect(o.networks()).toEqual([]);
    // The same host still makes routed networks.
    await o.ensureNetwork(network('n2', 'routed', SUBNET));
  });

  it('rolls back a VXLAN device the kernel refuses mid-batch (module gone after start)', async () => {
    const h = t.lab.host('h1');
    const o = await OverlayHost.open({ underlayAddress: h.addr, stateDir: join(t.base, 'overlay', 'h1'), hostNetns: h.netnsPath });
    expect(o.drivers).toEqual(expect.arrayContaining(['vxlan', 'routed']));
    // Same host, a second instance whose kernel "loses" vxlan after the start-up probe.
    const lost: CommandRunner = (argv, input) => spawnRunner(argv, input?.replace(/^link add (\S+) .* type vxlan .*$/gm, 'link add $1 type shoalnovxlan'));
    const o2 = await OverlayHost.open({ underlayAddress: h.addr, stateDir: join(t.base, 'overlay', 'h1'), hostNetns: h.netnsPath, runner: lost });
    t.overlay.set('h1', o2);
    const err = await o2.ensureNetwork(network('n1', 'vxlan', SUBNET)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KernelFeatureError);
    expect((err as Error).message).toMatch(/cannot make VXLAN devices \(Error: Unknown device type/);
    // The bridge made by the same batch before the failing line was removed again.
    await clean();
    expect(o2.networks()).toEqual([]);
    expect(ledgerNetworks('h1')).toEqual([]);
  });

  it('refuses a VXLAN network when the underlay MTU leaves less than 1280, not a routed one', async () => {
    await t.lab.exec('h1', ['ip', 'link', 'set', 'eth0', 'mtu', '1320']);
    const o = await t.open('h1');
    const err = await o.ensureNetwork(network('n1', 'vxlan', SUBNET)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnderlayMtuError);
    expect((err as Error).message).toMatch(/eth0 has MTU 1320, which leaves 1270 .* at least 1280/);
    await clean();
    const info = await o.ensureNetwork(network('n2', 'routed', SUBNET));
    expect(info.mtu).toBe(1320); // detected, not configured
  });

  it('refuses a routed peer off the L2 segment, and programs none of the call', async () => {
    const net = network('r1', 'routed', SUBNET);
    await spread(t, net, ['h1']);
    const o = t.overlay.get('h1')!;
    const err = await o
      .setPeers(net.id, [
        { hostId: 'h2', underlayAddress: t.lab.host('h2').addr, prefixes: [block(SUBNET, 'h2')] },
        { hostId: 'far', underlayAddress: '192.0.2.10', prefixes: [block(SUBNET, 'h3')] },
      ])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PeerNotAdjacentError);
    expect((err as Error).message).toMatch(/peer far at 192.0.2.10 is not on this host's L2 segment \(eth0: 10.241.0.0\/24\).*vxlan/);
    const routes = await must(['nsenter', `--net=${t.lab.host('h1').netnsPath}`, 'ip', 'route', 'show', 'proto', '83']);
    expect(routes).not.toContain('via');
  });

  it('refuses a peer prefix outside the network', async () => {
    const net = network('v1', 'vxlan', SUBNET);
    await spread(t, net, ['h1']);
    const err = await t.overlay
      .get('h1')!
      .setPeers(net.id, [{ hostId: 'h2', underlayAddress: t.lab.host('h2').addr, prefixes: ['10.9.0.0/26'] }])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidNetworkInputError);
    expect((err as Error).message).toMatch(/10.9.0.0\/26 is outside the network's subnet 10.242.1.0\/24/);
  });

  it('withdraws a whole peer change when the kernel refuses part of it', async () => {
    const net = network('v1', 'vxlan', SUBNET);
    const h = t.lab.host('h1');
    // A kernel that refuses the route of one block: without onlink, its next hop is not on
    // the VXLAN device's (empty) subnet, and the kernel says so.
    const refuse: CommandRunner = (argv, input) =>
      spawnRunner(argv, input?.replace(new RegExp(`^(route replace ${block(SUBNET, 'h3')} .*) onlink`, 'm'), '$1'));
    const o = await OverlayHost.open({ underlayAddress: h.addr, stateDir: join(t.base, 'overlay', 'h1'), hostNetns: h.netnsPath, runner: refuse });
    t.overlay.set('h1', o);
    await o.ensureNetwork(net);
    const peers = [
      { hostId: 'h2', underlayAddress: t.lab.host('h2').addr, prefixes: [block(SUBNET, 'h2')] },
      { hostId: 'h3', underlayAddress: '10.241.0.50', prefixes: [block(SUBNET, 'h3')] },
    ];
    await expect(o.setPeers(net.id, peers)).rejects.toThrow(/route replace/);
    const ns = ['nsenter', `--net=${h.netnsPath}`];
    expect(await must([...ns, 'ip', 'route', 'show', 'proto', '83'])).not.toContain('via');
    expect((await must([...ns, 'ip', 'neigh', 'show', 'nud', 'permanent'])).trim()).toBe('');
    expect(await must([...ns, 'bridge', 'fdb', 'show'])).not.toMatch(/dst 10.241.0/);
    // The next full list programs everything again.
    await o.setPeers(net.id, peers.slice(0, 1));
    expect(await must([...ns, 'ip', 'route', 'show', 'proto', '83'])).toContain(block(SUBNET, 'h2'));
  });

  it('refuses two peers claiming the same addresses, naming both', async () => {
    const net = network('v1', 'vxlan', SUBNET);
    await spread(t, net, ['h1']);
    const err = await t.overlay
      .get('h1')!
      .setPeers(net.id, [
        { hostId: 'h2', underlayAddress: t.lab.host('h2').addr, prefixes: [block(SUBNET, 'h2')] },
        { hostId: 'h3', underlayAddress: '10.241.0.50', prefixes: ['10.242.1.70'] },
      ])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidNetworkInputError);
    expect((err as Error).message).toMatch(/10.242.1.70\/32 of peer h3 overlaps 10.242.1.64\/26 of peer h2/);
    const routes = await must(['nsenter', `--net=${t.lab.host('h1').netnsPath}`, 'ip', 'route', 'show', 'proto', '83']);
    expect(routes).not.toContain('via');
  });

  it('uses the data path port it is given', async () => {
    const net = network('v1', 'vxlan', SUBNET);
    for (const h of ['h1', 'h2']) await t.open(h, { dataPathPort: 4790 });
    const [c1, c2] = await spread(t, net, ['h1', 'h2']);
    await meshPeers(t, net, ['h1', 'h2']);
    const details = await must(['nsenter', `--net=${t.lab.host('h1').netnsPath}`, 'ip', '-d', 'link', 'show', t.overlay.get('h1')!.networks()[0]!.tunnel!]);
    expect(details).toMatch(/dstport 4790/);
    await expectPing(c1!, c2!.ip);
  });
});

describe('attachment input', () => {
  it.each<[string, { address?: string; mac?: string; netnsPath?: string }, RegExp]>([
    ['an address outside the subnet', { address: '10.9.0.5/24' }, /address 10.9.0.5\/24 is not a usable address of 10.242.1.0\/24/],
    ['the gateway', { address: '10.242.1.1/24' }, /or is its gateway/],
    ['another prefix length', { address: '10.242.1.5/25' }, /must carry the network's prefix length \/24/],
    ['a multicast MAC', { mac: '01:00:5e:00:00:01' }, /MAC "01:00:5e:00:00:01" is not a unicast MAC/],
    ['a namespace that does not exist', { netnsPath: '/run/netns/shoal-overr-missing' }, /network namespace \/run\/netns\/shoal-overr-missing does not exist/],
  ])('refuses %s', async (_what, change, message) => {
    const net = network('v1', 'vxlan', SUBNET);
    const o = await t.open('h1');
    await o.ensureNetwork(net);
    const c = await t.container('h1');
    const err = await o
      .attach(net.id, { taskId: 'task1', netnsPath: c.path, address: addressIn(SUBNET, 'h1', 0), mac: mac(), ...change })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidNetworkInputError);
    expect((err as Error).message).toMatch(message);
    const links = await must(['nsenter', `--net=${c.path}`, 'ip', '-o', 'link', 'show']);
    expect(links.trim().split('\n')).toHaveLength(1); // lo only
  });

  it('removes the veth again when the container side fails', async () => {
    const net = network('v1', 'vxlan', SUBNET);
    const h = t.lab.host('h1');
    const c = await t.container('h1');
    // The container already has an eth0: renaming the new veth to it fails inside the container.
    await must(['nsenter', `--net=${c.path}`, 'ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0p']);
    const o = await OverlayHost.open({ underlayAddress: h.addr, stateDir: join(t.base, 'overlay', 'h1'), hostNetns: h.netnsPath });
    t.overlay.set('h1', o);
    await o.ensureNetwork(net);
    await expect(o.attach(net.id, { taskId: 'task1', netnsPath: c.path, address: addressIn(SUBNET, 'h1', 0), mac: mac() })).rejects.toThrow(/File exists/);
    const hostLinks = await must(['nsenter', `--net=${h.netnsPath}`, 'ip', '-o', 'link', 'show']);
    expect(hostLinks).not.toMatch(/shovv/);
    const inside = await must(['nsenter', `--net=${c.path}`, 'ip', '-o', 'link', 'show']);
    expect(inside).not.toMatch(/shovc/);
    const routes = await must(['nsenter', `--net=${h.netnsPath}`, 'ip', 'route', 'show', 'proto', '83']);
    expect(routes).not.toMatch(/10.242.1.10/);
  });
});
