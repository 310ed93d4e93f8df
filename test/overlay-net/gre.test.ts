// The gre driver over the userspace data path (shoal-gre: TAP + raw GRE socket) on a lab of 3
// hosts: ping, TCP and full-size DF packets between containers on every pair; two GRE networks
// (two keys) isolated from each other; a peer withdrawn and restored; shoal-gre killed with
// SIGKILL and restarted by its supervisor with traffic resuming; adopt (with and without the
// ledger); failures (no binary, one that dies, bad key, small MTU). After every test: no links,
// routes, neighbours, nft tables, namespaces or shoal-gre processes are left.
import { createHash, randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GRE_OVERHEAD } from '../../overlay-net/index.js';
import { containerNamespacesLeft, must, residue, upLab, waitUntil, type TestLab } from './lab.js';
import { block, expectNoPing, expectPing, linkMtu, meshPeers, network, spread, tcpSend, type Endpoint } from './fixtures.js';
import { greProcesses, pingsSoon } from './gre-fixtures.js';

// The kernel here has no gretap; where it has, this still tests the userspace path.
process.env.SHOAL_GRE_DATAPATH = 'userspace';

const LAB = 'ovgre';
const HOSTS = ['h1', 'h2', 'h3'];
const SUBNET_A = '10.237.1.0/24';
const SUBNET_B = '10.237.2.0/24';
let t: TestLab;

beforeAll(async () => {
  t = await upLab(LAB, 3, '10.236.0.0/24');
}, 120_000);

afterEach(async () => {
  await t.reset();
  for (const h of t.hosts) expect(await residue(h), `residue on ${h.name}`).toEqual([]);
  expect(await containerNamespacesLeft(LAB)).toEqual([]);
  expect(greProcesses(t.base)).toEqual([]);
});

afterAll(async () => {
  await t?.down();
});

describe('gre (userspace data path)', () => {
  it('carries ping, TCP and full-size DF packets between containers on 3 hosts', async () => {
    const net = network('grea', 'gre', SUBNET_A, { vni: 7001 });
    const eps = await spread(t, net, HOSTS);
    await meshPeers(t, net, HOSTS);
    const mtu = 1500 - GRE_OVERHEAD;
    expect(mtu).toBe(1458);
    const info = t.overlay.get('h1')!.networks()[0]!;
    expect(info).toMatchObject({ driver: 'gre', dataPath: 'userspace', mtu });
    for (const ep of eps) expect(await linkMtu(ep.c)).toBe(mtu);
    for (const [i, from] of eps.entries()) {
      const to = eps[(i + 1) % eps.length]!;
      await expectPing(from, to.ip);
      await expectPing(from, to.ip, ['-M', 'do', '-s', String(mtu - 28)]);
      // One byte more cannot leave with DF set: the MTU the container sees is the real one.
      const r = await from.c.exec(['ping', '-n', '-c', '1', '-W', '1', '-M', 'do', '-s', String(mtu - 27), to.ip]);
      expect(r.code).not.toBe(0);
      expect(await tcpSend(to.c, from.c, to.ip, 7400 + i)).not.toBe('');
    }
    // A bulk TCP transfer arrives intact: the sender's TSO frames are cut into segments by
    // shoal-gre, the receiver's joined again into GSO frames (checksums done in userspace).
    const [a, b] = eps;
    const data = randomBytes(4 << 20);
    const file = join(t.base, 'bulk.bin');
    writeFileSync(file, data);
    const got = await bulkTcp(a!, b!, 7450, file, data.length);
    expect(got.length).toBe(data.length);
    expect(sha256(got)).toBe(sha256(data));
    // The traffic went through shoal-gre: one process per host, counting frames both ways.
    const stats = await t.overlay.get('h1')!.greDaemon!.stats();
    expect(stats.nets).toBe(1);
    expect(stats.peers).toBe(2);
    expect(stats.rx).toBeGreaterThan(0);
    expect(stats.tx).toBeGreaterThan(0);
    expect(stats.segs).toBeGreaterThan(0);
    const bStats = await t.overlay.get('h2')!.greDaemon!.stats();
    expect(bStats.gro).toBeGreaterThan(0);
    expect(greProcesses(t.base)).toHaveLength(3);
    // State per remote host: one neighbour and one route per peer on the TAP.
    const h1 = t.lab.host('h1');
    const routes = await must(['nsenter', `--net=${h1.netnsPath}`, 'ip', 'route', 'show', 'proto', '83']);
    expect(routes).toContain(block(SUBNET_A, 'h2'));
    expect(routes).toContain(block(SUBNET_A, 'h3'));
    const neigh = await must(['nsenter', `--net=${h1.netnsPath}`, 'ip', 'neigh', 'show', 'nud', 'permanent']);
    expect(neigh.trim().split('\n')).toHaveLength(2);
  });

  it('isolates two GRE networks (two keys) on one host and across hosts', async () => {
    const a = network('grea', 'gre', SUBNET_A, { vni: 7001 });
    const b = network('greb', 'gre', SUBNET_B, { vni: 7002 });
    const [a1, a2] = await spread(t, a, ['h1', 'h2']);
    const [b1, b2] = await spread(t, b, ['h1', 'h2']);
    for (const n of [a, b]) await meshPeers(t, n, ['h1', 'h2']);
    await expectPing(a1!, a2!.ip);
    await expectPing(b1!, b2!.ip);
    await expectNoPing(a1!, b1!.ip);
    await expectNoPing(a1!, b2!.ip);
    await expectNoPing(b2!, a1!.ip);
    expect(await tcpSend(b2!.c, a1!.c, b2!.ip, 7500)).toBe('');
    // A state shoal-gre cannot take (a TAP that does not exist) is refused whole: both
    // networks and their peers keep running as before.
    const d1 = t.overlay.get('h1')!.greDaemon!;
    await expect(
      d1.sync({ networks: [{ key: 7001, tap: 'shovtnosuchtap0' }, { key: 7002, tap: t.overlay.get('h1')!.networks().find((n) => n.id === b.id)!.tunnel! }], peers: [] }),
    ).rejects.toThrow(/shovtnosuchtap0 does not exist/);
    expect(await d1.stats()).toMatchObject({ nets: 2, peers: 2 });
    await expectPing(a1!, a2!.ip);
    await expectPing(b1!, b2!.ip);
    // Peers are per key: h2 forgets h1 on network b only, so b stops and a keeps working.
    await t.overlay.get('h2')!.setPeers(b.id, []);
    await expectNoPing(b1!, b2!.ip);
    await expectPing(a1!, a2!.ip);
    const stats = await t.overlay.get('h1')!.greDaemon!.stats();
    expect(stats.nets).toBe(2);
  });

  it('withdraws a removed peer and takes it back', async () => {
    const net = network('grea', 'gre', SUBNET_A, { vni: 7001 });
    const [c1, c2, c3] = await spread(t, net, HOSTS);
    await meshPeers(t, net, HOSTS);
    await expectPing(c1!, c3!.ip);
    await t.overlay.get('h1')!.removePeerHost('h3');
    const h1 = t.lab.host('h1');
    const routes = await must(['nsenter', `--net=${h1.netnsPath}`, 'ip', 'route', 'show', 'proto', '83']);
    expect(routes).not.toContain(block(SUBNET_A, 'h3'));
    expect(await must(['nsenter', `--net=${h1.netnsPath}`, 'ip', 'neigh', 'show', 'nud', 'permanent'])).not.toContain(t.lab.host('h3').addr);
    expect((await t.overlay.get('h1')!.greDaemon!.stats()).peers).toBe(1);
    await expectNoPing(c1!, c3!.ip);
    // h3 still knows h1, but h1's shoal-gre no longer accepts its frames.
    await expectNoPing(c3!, c1!.ip);
    await expectPing(c1!, c2!.ip);
    await meshPeers(t, net, HOSTS);
    await expectPing(c1!, c3!.ip);
    await expectPing(c3!, c1!.ip);
  });

  it('restarts shoal-gre killed with SIGKILL, and traffic resumes', async () => {
    const net = network('grea', 'gre', SUBNET_A, { vni: 7001 });
    const [c1, c2] = await spread(t, net, ['h1', 'h2']);
    await meshPeers(t, net, ['h1', 'h2']);
    await expectPing(c1!, c2!.ip);
    const d = t.overlay.get('h2')!.greDaemon!;
    const before = d.pid()!;
    expect(before).toBeGreaterThan(1);
    const starts = d.starts;
    // A ping running across the kill: it must get answers after the restart.
    const flow = c1!.c.spawn(['ping', '-n', '-i', '0.2', c2!.ip]);
    let out = '';
    flow.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
    await waitUntil('replies before the kill', async () => /icmp_seq=\d+/.test(out));
    process.kill(before, 'SIGKILL');
    await waitUntil('shoal-gre restarted', async () => d.starts > starts && d.pid() !== undefined && d.pid() !== before);
    const mark = out.length;
    await waitUntil('replies after the restart', async () => /icmp_seq=\d+/.test(out.slice(mark)), 20_000);
    flow.kill('SIGINT');
    expect(await pingsSoon(c1!, c2!.ip)).toBe(true);
    expect(greProcesses(t.base)).toHaveLength(2);
    expect((await d.stats()).peers).toBe(1);
  });

  it('adopts a running shoal-gre on restart and stops it when the last GRE network goes', async () => {
    const net = network('grea', 'gre', SUBNET_A, { vni: 7001 });
    const [c1, c2] = await spread(t, net, ['h1', 'h2']);
    await meshPeers(t, net, ['h1', 'h2']);
    const pid = t.overlay.get('h1')!.greDaemon!.pid();
    // A restarted agent: a new OverlayHost over the same state adopts the process, no restart.
    const o = await t.open('h1');
    const { adopt } = await import('../../overlay-net/index.js');
    const ledger = o.ledger.data;
    await adopt(o, { networks: [net], attachments: Object.values(ledger.attachments).map((a) => ({ networkId: a.networkId, spec: a.spec })) });
    expect(o.greDaemon!.pid()).toBe(pid);
    await t.overlay.get('h1')!.setPeers(net.id, [{ hostId: 'h2', underlayAddress: t.lab.host('h2').addr, prefixes: [block(SUBNET_A, 'h2')] }]);
    await expectPing(c1!, c2!.ip);
    await o.removeNetwork(net.id);
    expect(o.greDaemon!.pid()).toBeUndefined();
    expect(greProcesses(t.base).filter((p) => p.includes('/h1/'))).toEqual([]);
  });

  it('rebuilds after the ledger is lost: the TAP made again under its name is attached again', async () => {
    const net = network('grea', 'gre', SUBNET_A, { vni: 7001 });
    const [c1, c2] = await spread(t, net, ['h1', 'h2']);
    await meshPeers(t, net, ['h1', 'h2']);
    await expectPing(c1!, c2!.ip);
    const old = t.overlay.get('h1')!;
    const atts = Object.values(old.ledger.data.attachments).map((a) => ({ networkId: a.networkId, spec: a.spec }));
    const pid = old.greDaemon!.pid();
    rmSync(old.ledger.file);
    const o = await t.open('h1');
    const { adopt } = await import('../../overlay-net/index.js');
    const report = await adopt(o, { networks: [net], attachments: atts });
    expect(report.created).toContain(`network ${net.id}`);
    // The same process serves the new TAP (same name, same key) through a new descriptor.
    expect(o.greDaemon!.pid()).toBe(pid);
    await o.setPeers(net.id, [{ hostId: 'h2', underlayAddress: t.lab.host('h2').addr, prefixes: [block(SUBNET_A, 'h2')] }]);
    expect(await pingsSoon(c1!, c2!.ip)).toBe(true);
  });

  it('leaves nothing when shoal-gre is missing or dies at start, or the input is bad, and works again after', async () => {
    const net = network('grea', 'gre', SUBNET_A, { vni: 7001 });
    const o = await t.open('h1');
    const saved = process.env.SHOAL_GRE_BIN;
    try {
      process.env.SHOAL_GRE_BIN = join(t.base, 'no-such-shoal-gre');
      await expect(o.ensureNetwork(net)).rejects.toThrow(/no-such-shoal-gre|not built|ENOENT|exited at start/);
      expect(await residue(t.lab.host('h1'))).toEqual([]);
      process.env.SHOAL_GRE_BIN = '/bin/false';
      await expect(o.ensureNetwork(net)).rejects.toThrow(/shoal-gre exited at start/);
      expect(await residue(t.lab.host('h1'))).toEqual([]);
      expect(o.networks()).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env.SHOAL_GRE_BIN;
      else process.env.SHOAL_GRE_BIN = saved;
    }
    expect(greProcesses(t.base)).toEqual([]);
    // Bad input: a key out of range; an underlay too small for GRE's 42 bytes.
    await expect(o.ensureNetwork({ ...net, vni: 0 })).rejects.toThrow(/GRE key 0 is out of range/);
    const h1 = t.lab.host('h1');
    const dev = o.underlay.device;
    await must(['nsenter', `--net=${h1.netnsPath}`, 'ip', 'link', 'set', dev, 'mtu', '1300']);
    try {
      const small = await t.open('h1');
      await expect(small.ensureNetwork(net)).rejects.toThrow(/MTU 1300.*GRE's 42 bytes/);
    } finally {
      await must(['nsenter', `--net=${h1.netnsPath}`, 'ip', 'link', 'set', dev, 'mtu', String(o.underlay.mtu)]);
    }
    expect(await residue(h1)).toEqual([]);
    expect(greProcesses(t.base)).toEqual([]);
    await t.open('h1');
    const [c1, c2] = await spread(t, net, ['h1', 'h2']);
    await meshPeers(t, net, ['h1', 'h2']);
    await expectPing(c1!, c2!.ip);
  });
});

/** Sends `file` over TCP from a to b; returns what b's listener received. */
async function bulkTcp(a: Endpoint, b: Endpoint, port: number, file: string, size: number): Promise<Buffer> {
  const server = b.c.spawn(['busybox', 'nc', '-l', '-p', String(port)]);
  const chunks: Buffer[] = [];
  let got = 0;
  server.stdout!.on('data', (d: Buffer) => {
    chunks.push(d);
    got += d.length;
  });
  const exited = new Promise<void>((r) => server.on('exit', () => r()));
  try {
    const end = Date.now() + 20_000;
    while (Date.now() < end && got === 0) {
      const r = await a.c.exec(['sh', '-c', `busybox nc -w 2 ${b.ip} ${port} < ${file}`], 30_000);
      if (r.code === 0 && got > 0) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    await waitUntil(`${size} bytes at ${b.ip}`, async () => got >= size, 10_000).catch(() => undefined);
    return Buffer.concat(chunks);
  } finally {
    server.kill('SIGKILL');
    await exited;
  }
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}
