// VipTable: the services' virtual IPs of one host. Connections from any task of the host (and
// from the host itself) to a VIP are DNATed, on the client's host, to one of the service's
// healthy tasks wherever it runs; the overlay then carries them as task-to-task traffic.
// The programmed state is kept in memory: a change sends only its difference, in one atomic
// `nft -f`, and never lists the table.
import type { Logger } from 'pino';
import { parseIPv4 } from '../addr.js';
import { InvalidNetworkInputError } from '../errors.js';
import { Kernel, type CommandRunner } from '../kernel.js';
import {
  addServiceLines,
  backendChain,
  baseTable,
  changeBackendsLines,
  deleteTable,
  removeServiceLines,
  serviceChain,
  type ServiceRules,
} from './rules.js';

/**
 * Label of the VIPs' addresses on the host's loopback: a VIP is a local address of every host
 * (so the network's bridge answers ARP for it) and is DNATed before routing. Loopback rather
 * than a dummy link: this kernel has no dummy module, and lo needs nothing made or removed.
 */
export const VIP_LABEL = 'lo:shoalvip';
const VIP_DEV = 'lo';

/** One service on one network, as the store holds it (Service.endpoint.virtual_ips + its tasks). */
export interface VipService {
  networkId: string;
  serviceId: string;
  /** The service's virtual IP on the network, with or without prefix length. */
  vip: string;
  /** Addresses (on that network) of the service's healthy tasks, on every host. */
  backends: readonly string[];
}

export interface VipTableOptions {
  /** The host's network namespace, when the caller does not run in it (lab, tests). */
  hostNetns?: string;
  runner?: CommandRunner;
  logger?: Logger;
}

export interface BackendChange {
  added: string[];
  removed: string[];
}

const key = (networkId: string, serviceId: string) => `${networkId}\0${serviceId}`;
const bare = (a: string) => a.split('/')[0]!;

export class VipTable {
  private readonly services = new Map<string, ServiceRules>();
  private readonly byVip = new Map<string, string>();
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly kernel: Kernel,
    private readonly log: Logger | undefined,
  ) {}

  /**
   * Makes the table and the VIP link hold exactly `desired` (agent start): one transaction
   * replaces whatever a previous run left. Established connections keep their NAT (conntrack).
   */
  static async open(opts: VipTableOptions = {}, desired: readonly VipService[] = []): Promise<VipTable> {
    const t = new VipTable(new Kernel(opts.hostNetns, opts.runner), opts.logger);
    for (const s of desired) t.remember(checked(s));
    // Bridged replies of a task to a client on its own bridge must pass the NAT (br_netfilter).
    await t.kernel.run(['sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=1']);
    const lines = [...t.services.values()].flatMap(addServiceLines);
    await t.kernel.nft(baseTable() + lines.join('\n') + (lines.length ? '\n' : ''));
    await t.syncLink();
    return t;
  }

  /** Removes the table and the VIP link (a host leaving the cluster, tests). */
  static async removeAll(opts: VipTableOptions = {}): Promise<void> {
    const kernel = new Kernel(opts.hostNetns, opts.runner);
    await kernel.nft(deleteTable());
    await kernel.ip([`address flush dev ${VIP_DEV} label ${VIP_LABEL}`]);
  }

  /** The services programmed, as given (for the agent's diffs and tests). */
  list(): VipService[] {
    return [...this.services.entries()].map(([k, s]) => {
      const [networkId, serviceId] = k.split('\0') as [string, string];
      return { networkId, serviceId, vip: s.vip, backends: [...s.backends.keys()] };
    });
  }

  /**
   * Adds a service or changes its backends (the full list of its healthy tasks' addresses).
   * Removed backends' connection-tracking entries are deleted, so their flows fail over at
   * once instead of hanging on a task that is gone.
   */
  set(service: VipService): Promise<BackendChange> {
    return this.serial(() => this.doSet(checked(service)));
  }

  remove(networkId: string, serviceId: string): Promise<void> {
    return this.serial(() => this.doRemove(networkId, serviceId));
  }

  /** Removes everything this table programmed. */
  close(): Promise<void> {
    return this.serial(async () => {
      this.services.clear();
      this.byVip.clear();
      await this.kernel.nft(deleteTable());
      await this.kernel.ip([`address flush dev ${VIP_DEV} label ${VIP_LABEL}`]);
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async doSet(s: VipService): Promise<BackendChange> {
    const k = key(s.networkId, s.serviceId);
    const vip = bare(s.vip);
    const owner = this.byVip.get(vip);
    if (owner !== undefined && owner !== k)
      throw new InvalidNetworkInputError(`VIP ${vip} of service ${s.serviceId} is already the VIP of service ${owner.split('\0')[1]}`);
    const had = this.services.get(k);
    if (had && had.vip !== vip) await this.doRemove(s.networkId, s.serviceId);
    const old = this.services.get(k);
    if (!old) {
      const rules = this.rulesOf(s);
      await this.kernel.nft(addServiceLines(rules).join('\n') + '\n');
      this.services.set(k, rules);
      this.byVip.set(vip, k);
      try {
        await this.kernel.ip([`address replace ${vip}/32 dev ${VIP_DEV} label ${VIP_LABEL}`]);
      } catch (err) {
        await this.doRemove(s.networkId, s.serviceId);
        throw err;
      }
      return { added: [...rules.backends.keys()], removed: [] };
    }
    const next = new Map<string, string>();
    for (const a of s.backends) next.set(bare(a), old.backends.get(bare(a)) ?? backendChain(s.networkId, s.serviceId, bare(a)));
    const added = new Map([...next].filter(([a]) => !old.backends.has(a)));
    const removed = new Map([...old.backends].filter(([a]) => !next.has(a)));
    if (added.size === 0 && removed.size === 0) return { added: [], removed: [] };
    await this.kernel.nft(changeBackendsLines(old.svc, next, added, removed).join('\n') + '\n');
    old.backends = next;
    for (const a of removed.keys()) await this.flushFlows(vip, a);
    return { added: [...added.keys()], removed: [...removed.keys()] };
  }

  private async doRemove(networkId: string, serviceId: string): Promise<void> {
    const k = key(networkId, serviceId);
    const s = this.services.get(k);
    if (!s) return;
    await this.kernel.nft(removeServiceLines(s).join('\n') + '\n');
    this.services.delete(k);
    this.byVip.delete(s.vip);
    await this.kernel.removeIp([`address del ${s.vip}/32 dev ${VIP_DEV}`]);
    await this.flushFlows(s.vip);
  }

  private rulesOf(s: VipService): ServiceRules {
    const backends = new Map<string, string>();
    for (const a of s.backends) backends.set(bare(a), backendChain(s.networkId, s.serviceId, bare(a)));
    return { vip: bare(s.vip), svc: serviceChain(s.networkId, s.serviceId), backends };
  }

  private remember(s: VipService): void {
    const k = key(s.networkId, s.serviceId);
    const vip = bare(s.vip);
    const owner = this.byVip.get(vip);
    if (owner !== undefined && owner !== k) throw new InvalidNetworkInputError(`VIP ${vip} is given to two services (${owner.split('\0')[1]}, ${s.serviceId})`);
    this.services.set(k, this.rulesOf(s));
    this.byVip.set(vip, k);
  }

  /** The loopback holds exactly the VIPs of the programmed services (start-up only). */
  private async syncLink(): Promise<void> {
    const out = await this.kernel.must(['ip', '-j', 'address', 'show', 'dev', VIP_DEV]);
    const links = JSON.parse(out) as { addr_info?: { family: string; local: string; label?: string }[] }[];
    const present = new Set<string>();
    for (const ai of links[0]?.addr_info ?? []) if (ai.family === 'inet' && ai.label === VIP_LABEL) present.add(ai.local);
    const want = new Set([...this.services.values()].map((s) => s.vip));
    const lines = [
      `link set ${VIP_DEV} up`,
      ...[...present].filter((a) => !want.has(a)).map((a) => `address del ${a}/32 dev ${VIP_DEV}`),
      ...[...want].filter((a) => !present.has(a)).map((a) => `address add ${a}/32 dev ${VIP_DEV} label ${VIP_LABEL}`),
    ];
    await this.kernel.ip(lines);
  }

  /** Deletes tracked flows to the VIP (NATed to `backend`, when given). "Nothing to delete" is fine. */
  private async flushFlows(vip: string, backend?: string): Promise<void> {
    const argv = ['conntrack', '-D', '-d', vip, ...(backend ? ['-r', backend] : [])];
    const r = await this.kernel.run(argv).catch((err: Error) => ({ code: -1, stdout: '', stderr: err.message }));
    if (r.code !== 0 && !/0 flow entries/.test(r.stderr))
      this.log?.warn({ vip, backend, stderr: r.stderr }, 'could not delete conntrack entries of a removed VIP backend');
  }
}

function checked(s: VipService): VipService {
  const vip = bare(s.vip);
  if (parseIPv4(vip) === null) throw new InvalidNetworkInputError(`VIP ${JSON.stringify(s.vip)} of service ${s.serviceId} is not an IPv4 address`);
  for (const b of s.backends)
    if (parseIPv4(bare(b)) === null) throw new InvalidNetworkInputError(`backend ${JSON.stringify(b)} of service ${s.serviceId} is not an IPv4 address`);
  if (s.backends.some((b) => bare(b) === vip)) throw new InvalidNetworkInputError(`service ${s.serviceId}: its VIP ${vip} is also one of its backends`);
  return s;
}
