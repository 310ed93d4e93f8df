// Attachments as the runtime makes them: a container's namespace known only by a process
// (/proc/PID/ns/net), a task on two networks (eth0 and eth1, one default route), and a
// container that dies before it is detached.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { containerNamespacesLeft, must, residue, run, upLab, waitUntil, type Container, type TestLab } from './lab.js';
import { addressIn, expectNoPing, expectPing, mac, meshPeers, network, spread, tcpSend } from './fixtures.js';

const LAB = 'ovat';
let t: TestLab;
const procs: ChildProcess[] = [];

beforeAll(async () => {
  t = await upLab(LAB, 2, '10.243.0.0/24');
}, 120_000);

afterEach(async () => {
  for (const p of procs.splice(0)) p.kill('SIGKILL');
  await t.reset();
  for (const h of t.hosts) expect(await residue(h), `residue on ${h.name}`).toEqual([]);
  expect(await containerNamespacesLeft(t.name)).toEqual([]);
});

afterAll(async () => {
  await t?.down();
});

/** A "container" whose network namespace exists only as long as its process: unshare -n sleep. */
async function processContainer(): Promise<{ pid: number; path: string; proc: ChildProcess; c: Container }> {
  const proc = spawn('unshare', ['--net', 'sleep', '600'], { stdio: 'ignore' });
  procs.push(proc);
  const pid = proc.pid!;
  // unshare execs sleep in the same process once the namespace is made.
  await waitUntil('the process to have its own netns', async () => {
    const self = await run(['readlink', '/proc/self/ns/net']);
    const its = await run(['readlink', `/proc/${pid}/ns/net`]);
    return its.code === 0 && its.stdout !== self.stdout && (await run(['cat', `/proc/${pid}/comm`])).stdout.trim() === 'sleep';
  });
  const path = `/proc/${pid}/ns/net`;
  const c: Container = {
    name: `pid ${pid}`,
    path,
    host: 'h1',
    exec: (argv) => run(['nsenter', `--net=${path}`, ...argv]),
    spawn: (argv) => {
      const p = spawn('nsenter', [`--net=${path}`, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
      procs.push(p);
      return p;
    },
  };
  return { pid, path, proc, c };
}

it('joins a namespace known only by its process, and detaches cleanly after the process died', async () => {
  const net = network('p1', 'vxlan', '10.244.1.0/24');
  const [remote] = await spread(t, net, ['h2']);
  const o = await t.open('h1');
  await o.ensureNetwork(net);
  const pc = await processContainer();
  const address = addressIn(net.subnet, 'h1', 0);
  const info = await o.attach(net.id, { taskId: 'proc-task', netnsPath: pc.path, address, mac: mac() });
  expect(info.mtu).toBe(1450);
  await meshPeers(t, net, ['h1', 'h2']);
  const ep = { host: 'h1', c: pc.c, ip: address.split('/')[0]! };
  await expectPing(ep, remote!.ip);
  expect(await tcpSend(remote!.c, pc.c, remote!.ip, 7400)).not.toBe('');
  // The container dies: its namespace and the veth pair go with it; detach still cleans up.
  pc.proc.kill('SIGKILL');
  await waitUntil('the veth to vanish with the namespace', async () => {
    const links = await must(['nsenter', `--net=${t.lab.host('h1').netnsPath}`, 'ip', '-o', 'link', 'show']);
    return !links.includes(info.hostLink);
  });
  await o.detach(net.id, 'proc-task');
  const routes = await must(['nsenter', `--net=${t.lab.host('h1').netnsPath}`, 'ip', 'route', 'show', 'proto', '83']);
  expect(routes).not.toContain(ep.ip);
  await o.detach(net.id, 'proc-task'); // again: a no-op
});

it('gives a task on two networks eth0 and eth1 with one default route, reaching both and nothing across', async () => {
  const front = network('f1', 'vxlan', '10.244.2.0/24');
  const back = network('b1', 'routed', '10.244.3.0/24', { internal: true });
  const [frontRemote] = await spread(t, front, ['h2']);
  const [backRemote] = await spread(t, back, ['h2'], 1);
  const o = await t.open('h1');
  await o.ensureNetwork(front);
  await o.ensureNetwork(back);
  const c = await t.container('h1');
  await o.attach(front.id, { taskId: 'both', netnsPath: c.path, address: addressIn(front.subnet, 'h1', 0), mac: mac() });
  await o.attach(back.id, { taskId: 'both', netnsPath: c.path, address: addressIn(back.subnet, 'h1', 0), mac: mac(), ifName: 'eth1', defaultRoute: false });
  await meshPeers(t, front, ['h1', 'h2']);
  await meshPeers(t, back, ['h1', 'h2']);
  const inside = await must(['nsenter', `--net=${c.path}`, 'ip', '-j', 'link', 'show']);
  const byName = new Map((JSON.parse(inside) as { ifname: string; mtu: number }[]).map((l) => [l.ifname, l.mtu]));
  expect(byName.get('eth0')).toBe(1450);
  expect(byName.get('eth1')).toBe(1500);
  const routes = await must(['nsenter', `--net=${c.path}`, 'ip', 'route', 'show', 'default']);
  expect(routes.trim().split('\n')).toEqual([`default via ${front.gateway} dev eth0 `.trimEnd()]);
  const ep = { host: 'h1', c, ip: addressIn(front.subnet, 'h1', 0).split('/')[0]! };
  await expectPing(ep, frontRemote!.ip);
  await expectPing(ep, backRemote!.ip);
  // The remote endpoints of one network cannot reach each other's network through it.
  await expectNoPing(frontRemote!, backRemote!.ip);
});

it('lets a local task win over a stale peer route for its address, and the peer route take over when it goes', async () => {
  const net = network('s1', 'vxlan', '10.244.4.0/24');
  const [remote] = await spread(t, net, ['h2']);
  const [mine] = await spread(t, net, ['h1'], 0);
  const [other] = await spread(t, net, ['h1'], 1);
  // h1's list still says h2 has `mine`'s address (it lived there before it was reused here).
  await t.overlay.get('h1')!.setPeers(net.id, [{ hostId: 'h2', underlayAddress: t.lab.host('h2').addr, prefixes: [remote!.ip, mine!.ip] }]);
  await t.overlay.get('h2')!.setPeers(net.id, [{ hostId: 'h1', underlayAddress: t.lab.host('h1').addr, prefixes: [mine!.ip, other!.ip] }]);
  await expectPing(other!, mine!.ip); // local: the bridge, not the tunnel to h2 (which has no such task)
  await expectPing(other!, remote!.ip);
  await t.overlay.get('h1')!.detach(net.id, `${net.id}-h1-0`);
  const routes = await must(['nsenter', `--net=${t.lab.host('h1').netnsPath}`, 'ip', 'route', 'show', `${mine!.ip}/32`]);
  expect(routes).toMatch(new RegExp(`via ${t.lab.host('h2').addr.replace(/\./g, '\\.')} dev shovx`));
});
