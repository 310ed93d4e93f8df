// Virtual IPs in nftables on a lab of 3 hosts joined by a vxlan network: a service's tasks on
// every host answer with their host's name, clients on two hosts connect to the VIP, and the
// answers must come from every backend; a removed backend gets no new connection and its
// tracked flows are gone. After every test nothing of it is left.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { VipTable, VIP_LABEL, type VipService } from '../../overlay-net/vip/index.js';
import { containerNamespacesLeft, must, residue, run, upLab, type TestLab } from './lab.js';
import { meshPeers, network, spread, type Endpoint } from './fixtures.js';

const LAB = 'ovvip';
let t: TestLab;
const tables: VipTable[] = [];

beforeAll(async () => {
  t = await upLab(LAB, 3, '10.243.0.0/24');
}, 120_000);

afterEach(async () => {
  for (const v of tables.splice(0)) await v.close();
  await t.reset();
  for (const h of t.hosts) {
    expect(await residue(h), `residue on ${h.name}`).toEqual([]);
    const vips = await must(['nsenter', `--net=${h.netnsPath}`, 'ip', '-brief', 'address', 'show', 'label', VIP_LABEL]);
    expect(vips.trim(), `VIP addresses left on ${h.name}`).toBe('');
  }
  expect(await containerNamespacesLeft(t.name)).toEqual([]);
});

afterAll(async () => {
  await t?.down();
});

const PORT = 8080;

// 40 UDP datagrams to VIP:8125, each from its own source port (40 flows), as a statsd client's.
const UDP_SEND = `const d=require('dgram');const vip=process.argv[1];let left=40;
for(let p=40001;p<=40040;p++){const s=d.createSocket('udp4');s.bind(p,()=>s.send('x',8125,vip,()=>{s.close();if(--left===0)process.exit(0)}))}`;

/** A TCP server in each backend that answers every connection with its host's name. */
function serve(eps: Endpoint[]): void {
  for (const ep of eps) ep.c.spawn(['busybox', 'nc', '-ll', '-p', String(PORT), '-e', 'echo', `answer-${ep.host}`]);
}

/** `n` connections from `client` to addr:PORT; the answers, one per connection ('' when none). */
async function connect(client: Endpoint, addr: string, n: number): Promise<string[]> {
  const r = await client.c.exec(['sh', '-c', `for i in $(seq ${n}); do busybox nc -w 2 ${addr} ${PORT} </dev/null || true; echo .; done`], 120_000);
  return r.stdout.split('.\n').slice(0, n).map((s) => s.trim());
}

async function conntrackTo(host: string, vip: string, backend: string): Promise<string> {
  const r = await run(['nsenter', `--net=${t.lab.host(host).netnsPath}`, 'conntrack', '-L', '-d', vip, '-r', backend]);
  return r.stdout.trim();
}

describe('VIP (nftables)', () => {
  it('spreads connections over backends on every host, from clients on two hosts; a removed backend gets none', async () => {
    const net = network('vipa', 'vxlan', '10.244.1.0/24');
    const HOSTS = ['h1', 'h2', 'h3'];
    const backends = await spread(t, net, HOSTS);
    const clients = await spread(t, net, ['h1', 'h2'], 1);
    await meshPeers(t, net, HOSTS);
    serve(backends);
    const VIP = '10.244.1.2';
    const svc: VipService = { networkId: net.id, serviceId: 'web', vip: `${VIP}/24`, backends: backends.map((b) => b.ip) };
    // Every host with a client of the network programs the service (as every agent would).
    for (const h of ['h1', 'h2']) tables.push(await VipTable.open({ hostNetns: t.lab.host(h).netnsPath }, [svc]));
    const [v1, v2] = tables;

    const want = HOSTS.map((h) => `answer-${h}`);
    for (const client of clients) {
      // The servers may still be starting: wait for one answer first.
      for (let i = 0; i < 50 && !(await connect(client, VIP, 1))[0]; i++) await new Promise((r) => setTimeout(r, 200));
      const got = await connect(client, VIP, 30);
      expect(got.filter((g) => !want.includes(g)), `from ${client.host}: ${got.join(',')}`).toEqual([]);
      expect(new Set(got), `from ${client.host}`).toEqual(new Set(want));
    }
    // A backend reaching its own service through the VIP, sometimes landing on itself. The VIP
    // table masquerades that case; the overlay's attach puts the task's bridge port in hairpin
    // mode (br_netfilter bridges a DNAT to the same bridge, which must send it back out that port).
    expect(new Set(await connect(backends[0]!, VIP, 30))).toEqual(new Set(want));
    const h3 = backends[2]!.ip;
    expect(await conntrackTo('h1', VIP, h3)).not.toBe('');

    // h3's task fails: every host drops it from the service.
    const change = await v1!.set({ ...svc, backends: [backends[0]!.ip, backends[1]!.ip] });
    expect(change).toEqual({ added: [], removed: [h3] });
    await v2!.set({ ...svc, backends: [backends[0]!.ip, backends[1]!.ip] });
    expect(await conntrackTo('h1', VIP, h3)).toBe('');
    for (const client of clients) {
      const got = await connect(client, VIP, 20);
      expect(new Set(got), `from ${client.host} after removal`).toEqual(new Set(['answer-h1', 'answer-h2']));
    }
    // Back in: answers from it again.
    await v1!.set(svc);
    const again = await connect(clients[0]!, VIP, 30);
    expect(new Set(again)).toEqual(new Set(want));
    expect(v1!.list()).toEqual([{ networkId: net.id, serviceId: 'web', vip: VIP, backends: backends.map((b) => b.ip) }]);
  });

  it('deletes the tracked UDP flows of a removed backend, and only its own', async () => {
    const net = network('vipa', 'vxlan', '10.244.1.0/24');
    const [b1, b2, client] = await spread(t, net, ['h2', 'h3', 'h1']);
    await meshPeers(t, net, ['h1', 'h2', 'h3']);
    const VIP = '10.244.1.5';
    const v = await VipTable.open({ hostNetns: t.lab.host('h1').netnsPath }, [{ networkId: net.id, serviceId: 'stats', vip: VIP, backends: [b1!.ip, b2!.ip] }]);
    tables.push(v);
    // Datagrams from many source ports (a statsd client's flows), nobody listening: flows stay tracked.
    const sent = await client!.c.exec([process.execPath, '-e', UDP_SEND, VIP], 60_000);
    expect(sent.code, sent.stderr).toBe(0);
    const flows = async (backend: string) => {
      const r = await run(['nsenter', `--net=${t.lab.host('h1').netnsPath}`, 'conntrack', '-L', '-p', 'udp', '-d', VIP, '-r', backend]);
      return r.stdout.trim().split('\n').filter(Boolean).length;
    };
    expect(await flows(b1!.ip)).toBeGreaterThan(0);
    expect(await flows(b2!.ip)).toBeGreaterThan(0);
    const before = await flows(b1!.ip);
    await v.set({ networkId: net.id, serviceId: 'stats', vip: VIP, backends: [b1!.ip] });
    expect(await flows(b2!.ip)).toBe(0);
    expect(await flows(b1!.ip)).toBe(before);
  });

  it('refuses at once when a service has no backend, isolates other networks, and survives a restart of its owner', async () => {
    const net = network('vipa', 'vxlan', '10.244.1.0/24');
    const other = network('vipb', 'vxlan', '10.244.2.0/24', { vni: 7002 });
    const [backend, client] = await spread(t, net, ['h2', 'h1']);
    const [stranger] = await spread(t, other, ['h1']);
    await meshPeers(t, net, ['h1', 'h2']);
    serve([backend!]);
    const VIP = '10.244.1.3';
    const opts = { hostNetns: t.lab.host('h1').netnsPath };
    const empty: VipService = { networkId: net.id, serviceId: 'api', vip: VIP, backends: [] };
    const v = await VipTable.open(opts, [empty, { networkId: net.id, serviceId: 'gone', vip: '10.244.1.4', backends: [backend!.ip] }]);
    tables.push(v);
    // No backend: a TCP reset, not a hang (nc fails fast, well before its 2 s timeout matters).
    const refused = await client!.c.exec(['busybox', 'nc', '-w', '2', VIP, String(PORT)]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/refused/i);

    await v.set({ ...empty, backends: [backend!.ip] });
    for (let i = 0; i < 50 && !(await connect(client!, VIP, 1))[0]; i++) await new Promise((r) => setTimeout(r, 200));
    expect(await connect(client!, VIP, 3)).toEqual(['answer-h2', 'answer-h2', 'answer-h2']);
    // A task of another network reaches the host's DNAT but not the backend: the overlay's isolation holds.
    expect(await connect({ ...stranger!, host: 'h1' }, VIP, 1)).toEqual(['']);

    // The agent restarts: the table is made again from the desired state in one transaction;
    // 'gone' is no longer desired, so its VIP leaves the link.
    const v2 = await VipTable.open(opts, [{ ...empty, backends: [backend!.ip] }]);
    tables.splice(tables.indexOf(v), 1, v2);
    expect(await connect(client!, VIP, 2)).toEqual(['answer-h2', 'answer-h2']);
    const addrs = await must(['nsenter', `--net=${opts.hostNetns}`, 'ip', 'address', 'show', 'label', VIP_LABEL]);
    expect(addrs).toContain(`${VIP}/32`);
    expect(addrs).not.toContain('10.244.1.4');
    await v2.remove(net.id, 'api');
    expect(await must(['nsenter', `--net=${opts.hostNetns}`, 'nft', 'list', 'map', 'ip', 'shoal_vip', 'vips'])).not.toContain(VIP);
  });
});
