// Agent restart: a new OverlayHost over the same ledger adopts what running tasks need without
// interrupting them, removes what nothing needs (including objects only the name prefix or the
// route protocol reveals), and rebuilds from the kernel when the ledger itself was lost.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { adopt, removeAll, type AttachmentSpec } from '../../overlay-net/index.js';
import { containerNamespacesLeft, must, residue, upLab, waitUntil, type TestLab } from './lab.js';
import { addressIn, expectNoPing, expectPing, mac, meshPeers, network, type Endpoint } from './fixtures.js';

const LAB = 'ovad';
let t: TestLab;

beforeAll(async () => {
  t = await upLab(LAB, 2, '10.251.0.0/24');
}, 120_000);

afterEach(async () => {
  await t.reset();
  for (const h of t.hosts) expect(await residue(h), `residue on ${h.name}`).toEqual([]);
  expect(await containerNamespacesLeft(t.name)).toEqual([]);
});

afterAll(async () => {
  await t?.down();
});

const SUBNET = '10.252.1.0/24';

async function twoHosts(driver: string) {
  const net = network(`${driver}1`, driver, SUBNET);
  const atts: { host: string; spec: AttachmentSpec; ep: Endpoint }[] = [];
  for (const host of ['h1', 'h2']) {
    const o = await t.open(host);
    await o.ensureNetwork(net);
    const c = await t.container(host);
    const spec = { taskId: `task-${host}`, netnsPath: c.path, address: addressIn(SUBNET, host, 0), mac: mac() };
    await o.attach(net.id, spec);
    atts.push({ host, spec, ep: { host, c, ip: spec.address.split('/')[0]! } });
  }
  await meshPeers(t, net, ['h1', 'h2']);
  return { net, atts };
}

async function ifindex(host: string, link: string): Promise<number> {
  const out = await must(['nsenter', `--net=${t.lab.host(host).netnsPath}`, 'ip', '-j', 'link', 'show', link]);
  return (JSON.parse(out) as { ifindex: number }[])[0]!.ifindex;
}

it('keeps a running task connected across a restart and adopts its objects untouched', async () => {
  const { net, atts } = await twoHosts('vxlan');
  const to = atts[1]!.spec.address.split('/')[0]!;
  const ping = t.lab.spawn('h1', ['nsenter', `--net=${atts[0]!.spec.netnsPath}`, 'ping', '-n', '-i', '0.2', to], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let replies = 0;
  ping.stdout!.setEncoding('utf8').on('data', (d: string) => (replies += d.split('bytes from').length - 1));
  try {
    await waitUntil('first replies', async () => replies >= 3);
    const bridge = t.overlay.get('h1')!.networks()[0]!.bridge;
    const before = await ifindex('h1', bridge);
    // The "restarted agent": a fresh instance over the same ledger, told what its tasks need.
    const o = await t.open('h1');
    const report = await adopt(o, { networks: [net], attachments: [{ networkId: net.id, spec: atts[0]!.spec }] });
    expect(report.removed).toEqual([]);
    expect(report.created).toEqual([]);
    expect(report.kept).toEqual([`network ${net.id}`, `attachment ${net.id}/task-h1`]);
    expect(await ifindex('h1', bridge)).toBe(before);
    const seen = replies;
    await waitUntil('replies after adopt', async () => replies >= seen + 5);
    // Peers survive too: the new instance diffs against the ledger's peers, so a repeat is a no-op.
    await meshPeers(t, net, ['h1', 'h2']);
  } finally {
    ping.kill('SIGKILL');
  }
});

it('removes what no task needs, and shoal objects it never recorded', async () => {
  const { net } = await twoHosts('routed');
  const h1 = t.lab.host('h1');
  const ns = ['nsenter', `--net=${h1.netnsPath}`];
  // Left by some earlier crash: a link with the prefix and a route with shoal's protocol.
  await must([...ns, 'ip', 'link', 'add', 'shovb0000000000', 'type', 'bridge']);
  await must([...ns, 'ip', 'route', 'add', '10.253.0.0/24', 'via', t.lab.host('h2').addr, 'dev', 'eth0', 'proto', '83']);
  const o = await t.open('h1');
  const report = await adopt(o, { networks: [net], attachments: [] });
  expect(report.removed).toEqual(
    expect.arrayContaining([`attachment ${net.id}/task-h1`, 'link shovb0000000000', `route 10.253.0.0/24 via ${t.lab.host('h2').addr} dev eth0 proto 83`]),
  );
  const links = await must([...ns, 'ip', '-o', 'link', 'show']);
  expect(links).not.toMatch(/shovv|shovb0000000000/);
  // The network itself and its peer route stay: h2's task is still reachable from h2's side.
  const routes = await must([...ns, 'ip', 'route', 'show', 'proto', '83']);
  expect(routes).toContain(`10.252.1.64/26 via ${t.lab.host('h2').addr} dev eth0`);
  expect(routes).toContain('unreachable 10.252.1.0/24');
  // Everything goes with an empty desired state.
  await removeAll(o);
  expect(await residue(h1)).toEqual([]);
});

it('rebuilds from the kernel when the ledger is lost', async () => {
  const { net, atts } = await twoHosts('vxlan');
  const c1 = atts[0]!;
  rmSync(join(t.base, 'overlay', 'h1', 'overlay-net.json'));
  const o = await t.open('h1');
  const report = await adopt(o, { networks: [net], attachments: [{ networkId: net.id, spec: c1.spec }] });
  // Nothing vouched for the objects found: they were removed and made again.
  expect(report.created).toEqual([`network ${net.id}`, `attachment ${net.id}/task-h1`]);
  // Peers are not in the (new) ledger until the control plane sends them again.
  await expectNoPing(c1.ep, atts[1]!.ep.ip);
  await meshPeers(t, net, ['h1', 'h2']);
  await expectPing(c1.ep, atts[1]!.ep.ip);
});
