// Published ports on a lab of 3 hosts: a service's only task runs on h2; h1 (no task) and h2
// publish port 8080; h3 plays the outside client. The overlay's firewall accepts published-port
// flows into its bridges by shoal_ingress's conntrack mark (overlay-net/firewall.ts).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { IngressTable } from '../../overlay-net/ingress/index.js';
import { containerNamespacesLeft, must, residue, upLab, type TestLab } from './lab.js';
import { meshPeers, network, spread } from './fixtures.js';

const LAB = 'ovpub';
let t: TestLab;
const tables: IngressTable[] = [];

beforeAll(async () => {
  t = await upLab(LAB, 3, '10.247.0.0/24');
}, 120_000);

afterEach(async () => {
  for (const x of tables.splice(0)) await x.close();
  await t.reset();
  for (const h of t.hosts) expect(await residue(h), `residue on ${h.name}`).toEqual([]);
  expect(await containerNamespacesLeft(t.name)).toEqual([]);
});

afterAll(async () => {
  await t?.down();
});

// UDP: a server that answers each datagram with `udp-hello`, and a client that prints the answer.
const UDP_SERVER = `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send('udp-hello',r.port,r.address));s.bind(125)`;
const UDP_CLIENT = `const s=require('dgram').createSocket('udp4');const [a,p]=process.argv.slice(1);
s.on('message',m=>{console.log(String(m));process.exit(0)});s.send('x',Number(p),a);setTimeout(()=>process.exit(0),1500)`;

async function askUdp(from: string, addr: string, port: number): Promise<string> {
  const r = await t.lab.exec(from, [process.execPath, '-e', UDP_CLIENT, addr, String(port)]);
  return r.stdout.trim();
}

async function ask(from: string, addr: string, port: number): Promise<string> {
  const r = await t.lab.exec(from, ['busybox', 'nc', '-w', '2', addr, String(port)]);
  return r.stdout.trim();
}

describe('published ports', () => {
  it('answers on a host with no task (through the peer that has one) and on the task\'s host (client address kept)', async () => {
    const net = network('puba', 'vxlan', '10.248.1.0/24');
    const [task] = await spread(t, net, ['h2']);
    await meshPeers(t, net, ['h2']);
    await t.open('h1'); // an agent runs there too (it forwards: ip_forward on)
    task!.c.spawn(['busybox', 'nc', '-ll', '-p', '80', '-e', 'echo', 'hello-from-task']);
    const h1 = t.lab.host('h1').addr;
    const h2 = t.lab.host('h2').addr;
    const h3 = t.lab.host('h3').addr;

    const port = { protocol: 'tcp' as const, publishedPort: 8080, targetPort: 80 };
    tables.push(await IngressTable.open({ hostNetns: t.lab.host('h1').netnsPath }, [h2], [{ ...port, localTasks: [], remoteHosts: [h2] }]));
    tables.push(await IngressTable.open({ hostNetns: t.lab.host('h2').netnsPath }, [h1], [{ ...port, localTasks: [task!.ip], remoteHosts: [] }]));

    let direct = '';
    for (let i = 0; i < 50 && direct === ''; i++) direct = await ask('h3', h2, 8080);
    expect(direct).toBe('hello-from-task');
    // On the task's host the task sees the client itself: the flow's reply goes to h3.
    const flows = await must(['nsenter', `--net=${t.lab.host('h2').netnsPath}`, 'conntrack', '-L', '-p', 'tcp', '--dport', '8080', '-s', h3]);
    expect(flows).toContain(`src=${task!.ip} dst=${h3}`);
    // Through h1, which has no task: forwarded to h2 (masqueraded), which sends it to its task only.
    expect(await ask('h3', h1, 8080)).toBe('hello-from-task');
    // Another port is not published: refused or dropped, never answered.
    expect(await ask('h3', h1, 8081)).toBe('');

    // UDP, both ways in.
    task!.c.spawn([process.execPath, '-e', UDP_SERVER]);
    const udp = { protocol: 'udp' as const, publishedPort: 9125, targetPort: 125 };
    await tables[0]!.set({ ...udp, localTasks: [], remoteHosts: [h2] });
    await tables[1]!.set({ ...udp, localTasks: [task!.ip], remoteHosts: [] });
    let u = '';
    for (let i = 0; i < 20 && u === ''; i++) u = await askUdp('h3', h2, 9125);
    expect(u).toBe('udp-hello');
    expect(await askUdp('h3', h1, 9125)).toBe('udp-hello');

    // The task goes: h2 has no backend, h1 forgets h2; nothing answers any more.
    await tables[1]!.set({ ...port, localTasks: [], remoteHosts: [] });
    await tables[0]!.set({ ...port, localTasks: [], remoteHosts: [] });
    expect(await ask('h3', h2, 8080)).toBe('');
    await tables[0]!.unpublish('tcp', 8080);
    expect(await must(['nsenter', `--net=${t.lab.host('h1').netnsPath}`, 'nft', 'list', 'map', 'ip', 'shoal_ingress', 'ports'])).not.toContain('8080');
  });
});
