// Published ports of one host (`table ip shoal_ingress`): a connection to a port the cluster
// publishes, addressed to this host, is DNATed to a task of this host (client address kept) or
// to another host that runs one, on the same published port (masqueraded: the peer's task must
// answer through this host). A connection that comes from a peer host only goes to local tasks,
// so it never bounces. Changes are one small `nft -f` each; the state is kept in memory.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { parseIPv4 } from '../addr.js';
import { InvalidNetworkInputError } from '../errors.js';
import { Kernel, type CommandRunner } from '../kernel.js';
import { INGRESS_CT_MARK } from '../names.js';

export const INGRESS_TABLE = 'shoal_ingress';
// The mark bit of published-port flows; the overlay's firewall (firewall.ts) accepts it into a bridge.
export { INGRESS_CT_MARK };
const MASQ_MARK = '0x00400000';
const T = `ip ${INGRESS_TABLE}`;

export interface PublishedPort {
  protocol: 'tcp' | 'udp';
  publishedPort: number;
  targetPort: number;
  /** Addresses of this host's healthy tasks of the service (host mode: the only backends). */
  localTasks: readonly string[];
  /** Underlay addresses of other hosts that run a healthy task of it (ingress mode; empty in host mode). */
  remoteHosts: readonly string[];
}

export interface IngressTableOptions {
  hostNetns?: string;
  runner?: CommandRunner;
  logger?: Logger;
}

const keyOf = (p: { protocol: string; publishedPort: number }) => `${p.protocol}/${p.publishedPort}`;
const hash10 = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 10);

function base(peers: readonly string[]): string {
  const elems = peers.length ? ` elements = { ${peers.join(', ')} };` : '';
  return (
    `table ${T} {}\ndelete table ${T}\ntable ${T} {\n` +
    `  set peers { type ipv4_addr;${elems} }\n` +
    `  map ports { type inet_proto . inet_service : verdict; }\n` +
    `  map ports_local { type inet_proto . inet_service : verdict; }\n` +
    `  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n` +
    `    fib daddr type local ip saddr @peers meta l4proto . th dport vmap @ports_local\n` +
    `    fib daddr type local meta l4proto . th dport vmap @ports\n  }\n` +
    `  chain output {\n    type nat hook output priority -100; policy accept;\n` +
    `    fib daddr type local meta l4proto . th dport vmap @ports\n  }\n` +
    `  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n` +
    `    meta mark & ${MASQ_MARK} == ${MASQ_MARK} masquerade\n  }\n}\n`
  );
}

/** The chains of one published port: all = local tasks + peer hosts, local = local tasks only. */
function portLines(p: PublishedPort): { chains: string[]; lines: string[] } {
  const id = hash10(keyOf(p));
  const all = `pa_${id}`;
  const local = `pl_${id}`;
  const targets: { chain: string; rule: string }[] = [];
  for (const a of new Set(p.localTasks))
    targets.push({ chain: `pt_${hash10(`${keyOf(p)}\0${a}`)}`, rule: `ct mark set ct mark or ${INGRESS_CT_MARK} meta l4proto ${p.protocol} dnat to ${a}:${p.targetPort}` });
  const localCount = targets.length;
  for (const h of new Set(p.remoteHosts))
    targets.push({ chain: `ph_${hash10(`${keyOf(p)}\0${h}`)}`, rule: `meta mark set meta mark or ${MASQ_MARK} meta l4proto ${p.protocol} dnat to ${h}:${p.publishedPort}` });
  const lines: string[] = [];
  for (const t of targets) lines.push(`add chain ${T} ${t.chain}`, `add rule ${T} ${t.chain} ${t.rule}`);
  const dispatch = (chain: string, list: typeof targets) => {
    lines.push(`add chain ${T} ${chain}`);
    if (list.length) lines.push(`add rule ${T} ${chain} numgen random mod ${list.length} vmap { ${list.map((t, i) => `${i} : goto ${t.chain}`).join(', ')} }`);
  };
  dispatch(all, targets);
  dispatch(local, targets.slice(0, localCount));
  lines.push(`add element ${T} ports { ${p.protocol} . ${p.publishedPort} : goto ${all} }`);
  lines.push(`add element ${T} ports_local { ${p.protocol} . ${p.publishedPort} : goto ${local} }`);
  return { chains: [all, local, ...targets.map((t) => t.chain)], lines };
}

export class IngressTable {
  private readonly ports = new Map<string, { spec: PublishedPort; chains: string[] }>();
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly kernel: Kernel,
    private peers: string[],
  ) {}

  /** Replaces the table with `desired` in one transaction (agent start). `peers`: the other hosts' underlay addresses. */
  static async open(opts: IngressTableOptions, peers: readonly string[], desired: readonly PublishedPort[] = []): Promise<IngressTable> {
    const t = new IngressTable(new Kernel(opts.hostNetns, opts.runner), checkAddrs(peers, 'peer host'));
    const lines: string[] = [];
    for (const p of desired) {
      checkPort(p);
      if (t.ports.has(keyOf(p))) throw new InvalidNetworkInputError(`port ${keyOf(p)} is published twice`);
      const r = portLines(p);
      t.ports.set(keyOf(p), { spec: p, chains: r.chains });
      lines.push(...r.lines);
    }
    await t.kernel.nft(base(t.peers) + lines.map((l) => l + '\n').join(''));
    return t;
  }

  static async removeAll(opts: IngressTableOptions = {}): Promise<void> {
    await new Kernel(opts.hostNetns, opts.runner).nft(`table ${T} {}\ndelete table ${T}\n`);
  }

  /** Publishes a port or changes its backends: that port's chains are replaced, in one transaction. */
  set(p: PublishedPort): Promise<void> {
    return this.serial(async () => {
      checkPort(p);
      const old = this.ports.get(keyOf(p));
      const r = portLines(p);
      // Old chains go first (names are stable per backend), then the new ones; one transaction.
      const drop = old ? removeLines(old.spec, old.chains) : [];
      await this.kernel.nft([...drop, ...r.lines].map((l) => l + '\n').join(''));
      this.ports.set(keyOf(p), { spec: p, chains: r.chains });
    });
  }

  /** The other hosts of the cluster: what they send to a published port goes to local tasks only. */
  setPeers(peers: readonly string[]): Promise<void> {
    return this.serial(async () => {
      const next = checkAddrs(peers, 'peer host');
      const add = next.filter((a) => !this.peers.includes(a));
      const del = this.peers.filter((a) => !next.includes(a));
      const lines = [
        ...(del.length ? [`delete element ${T} peers { ${del.join(', ')} }`] : []),
        ...(add.length ? [`add element ${T} peers { ${add.join(', ')} }`] : []),
      ];
      if (lines.length) await this.kernel.nft(lines.join('\n') + '\n');
      this.peers = next;
    });
  }

  unpublish(protocol: 'tcp' | 'udp', publishedPort: number): Promise<void> {
    return this.serial(async () => {
      const old = this.ports.get(keyOf({ protocol, publishedPort }));
      if (!old) return;
      await this.kernel.nft(removeLines(old.spec, old.chains).map((l) => l + '\n').join(''));
      this.ports.delete(keyOf({ protocol, publishedPort }));
    });
  }

  close(): Promise<void> {
    return this.serial(async () => {
      this.ports.clear();
      await this.kernel.nft(`table ${T} {}\ndelete table ${T}\n`);
    });
  }

  private serial<R>(fn: () => Promise<R>): Promise<R> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function removeLines(p: PublishedPort, chains: readonly string[]): string[] {
  return [
    `delete element ${T} ports { ${p.protocol} . ${p.publishedPort} }`,
    `delete element ${T} ports_local { ${p.protocol} . ${p.publishedPort} }`,
    ...chains.map((c) => `flush chain ${T} ${c}`),
    ...chains.map((c) => `delete chain ${T} ${c}`),
  ];
}

function checkAddrs(list: readonly string[], what: string): string[] {
  for (const a of list) if (parseIPv4(a) === null) throw new InvalidNetworkInputError(`${what} address ${JSON.stringify(a)} is not IPv4`);
  return [...new Set(list)];
}

function checkPort(p: PublishedPort): void {
  for (const [n, v] of [['published', p.publishedPort], ['target', p.targetPort]] as const)
    if (!Number.isInteger(v) || v < 1 || v > 65535) throw new InvalidNetworkInputError(`${n} port ${v} is not a port number (1-65535)`);
  if (p.protocol !== 'tcp' && p.protocol !== 'udp') throw new InvalidNetworkInputError(`protocol ${String(p.protocol)} is not tcp or udp`);
  checkAddrs(p.localTasks, 'task');
  checkAddrs(p.remoteHosts, 'host');
}
