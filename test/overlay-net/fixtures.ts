// Networks, containers and probes shared by the overlay tests.
import { expect } from 'vitest';
import type { NetworkSpec, PeerSpec } from '../../overlay-net/index.js';
import { must, type Container, type TestLab } from './lab.js';

export function network(id: string, driver: string, subnet: string, extra: Partial<NetworkSpec> = {}): NetworkSpec {
  const base = subnet.split('/')[0]!.split('.').slice(0, 3).join('.');
  return { id, name: `${id}_net`, driver, vni: 4096 + id.length * 7 + subnet.length, subnet, gateway: `${base}.1`, internal: false, attachable: false, ...extra };
}

/** The /26 block host hN owns of a /24 (h1 .0/26, h2 .64/26, h3 .128/26, h4 .192/26). */
export function block(subnet: string, host: string): string {
  const base = subnet.split('/')[0]!.split('.').slice(0, 3).join('.');
  return `${base}.${(Number(host.slice(1)) - 1) * 64}/26`;
}

/** Address number n of host hN's block, with the /24 prefix. */
export function addressIn(subnet: string, host: string, n: number): string {
  const base = subnet.split('/')[0]!.split('.').slice(0, 3).join('.');
  return `${base}.${(Number(host.slice(1)) - 1) * 64 + 10 + n}/24`;
}

let macSeq = 0;
export function mac(): string {
  macSeq++;
  return `02:42:0a:${(process.pid & 0xff).toString(16).padStart(2, '0')}:${((macSeq >> 8) & 0xff).toString(16).padStart(2, '0')}:${(macSeq & 0xff).toString(16).padStart(2, '0')}`;
}

export interface Endpoint {
  host: string;
  c: Container;
  ip: string;
}

/** Sets up `net` on `hosts`, one container per host (n-th address of the host's block). */
export async function spread(t: TestLab, net: NetworkSpec, hosts: string[], n = 0): Promise<Endpoint[]> {
  const eps: Endpoint[] = [];
  for (const host of hosts) {
    const o = t.overlay.get(host) ?? (await t.open(host));
    await o.ensureNetwork(net);
    const c = await t.container(host);
    const address = addressIn(net.subnet, host, n);
    await o.attach(net.id, { taskId: `${net.id}-${host}-${n}`, netnsPath: c.path, address, mac: mac() });
    eps.push({ host, c, ip: address.split('/')[0]! });
  }
  return eps;
}

export function peersOf(t: TestLab, net: NetworkSpec, hosts: string[]): PeerSpec[] {
  return hosts.map((h) => ({ hostId: h, underlayAddress: t.lab.host(h).addr, prefixes: [block(net.subnet, h)] }));
}

/** Tells every host of `hosts` about the others (the host itself is skipped by the data path). */
export async function meshPeers(t: TestLab, net: NetworkSpec, hosts: string[]): Promise<void> {
  for (const h of hosts) await t.overlay.get(h)!.setPeers(net.id, peersOf(t, net, hosts));
}

export async function pings(from: Container, to: string, extra: string[] = []): Promise<boolean> {
  const r = await from.exec(['ping', '-n', '-c', '2', '-W', '2', ...extra, to]);
  return r.code === 0;
}

export async function expectPing(from: Endpoint, to: string, extra: string[] = []): Promise<void> {
  const r = await from.c.exec(['ping', '-n', '-c', '2', '-W', '3', ...extra, to]);
  expect(r.code, `ping ${extra.join(' ')} ${from.ip}@${from.host} -> ${to}: ${r.stdout}${r.stderr}`).toBe(0);
}

export async function expectNoPing(from: Endpoint, to: string): Promise<void> {
  const r = await from.c.exec(['ping', '-n', '-c', '1', '-W', '1', to]);
  expect(r.code, `ping ${from.ip}@${from.host} -> ${to} should fail: ${r.stdout}`).not.toBe(0);
}

/**
 * Opens a TCP listener in `server`'s namespace, connects from `client` and returns what the
 * listener received (empty string when the connection never got through).
 */
export async function tcpSend(
  listen: { spawn: Container['spawn'] },
  connect: { exec: Container['exec'] },
  addr: string,
  port: number,
): Promise<string> {
  const token = `shoal-${port}-${Math.random().toString(36).slice(2)}`;
  const server = listen.spawn(['busybox', 'nc', '-l', '-p', String(port)]);
  let got = '';
  server.stdout!.setEncoding('utf8').on('data', (d: string) => (got += d));
  const exited = new Promise<void>((r) => server.on('exit', () => r()));
  try {
    // The listener may not be bound yet: retry the connect until it lands or time runs out.
    const end = Date.now() + 6_000;
    while (Date.now() < end && !got.includes(token)) {
      await connect.exec(['sh', '-c', `echo ${token} | busybox nc -w 2 ${addr} ${port}`], 5_000);
      if (got.includes(token)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    return got.includes(token) ? token : '';
  } finally {
    server.kill('SIGKILL');
    await exited;
  }
}

/** Runs a listener in a lab host itself (the outside world for egress tests). */
export function labHostListener(t: TestLab, host: string): { spawn: Container['spawn'] } {
  return {
    spawn: (argv) => t.lab.spawn(host, argv, { stdio: ['pipe', 'pipe', 'pipe'] }),
  };
}

export async function linkMtu(c: Container, ifName = 'eth0'): Promise<number> {
  const out = await must(['nsenter', `--net=${c.path}`, 'ip', '-j', 'link', 'show', ifName]);
  return (JSON.parse(out) as { mtu: number }[])[0]!.mtu;
}
