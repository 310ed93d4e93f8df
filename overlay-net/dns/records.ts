// What the embedded DNS server knows: services and tasks as the store holds them, indexed by
// network and name so that a query and a delta each cost O(answer) / O(names of one record),
// never a scan of the cluster. Updates are synchronous: the next query sees them.

/** A service on its networks, as the allocator stores it (Service.endpoint). */
export interface DnsService {
  id: string;
  name: string;
  /** 'vip' (the default): the name gives the service's VIP on the network; 'dnsrr': every healthy task's address. */
  endpointMode: 'vip' | 'dnsrr';
  networks: readonly {
    networkId: string;
    /** The service's virtual IP on the network (with or without prefix length); vip mode only. */
    vip?: string;
    /** Network aliases of the service (NetworkAttachmentConfig.aliases): they resolve as the name does. */
    aliases?: readonly string[];
  }[];
}

/** A task (or standalone container) with its addresses, anywhere in the cluster. */
export interface DnsTask {
  id: string;
  /** The task's name, e.g. web.1.x7f3k…; resolves to the task's own address. */
  name: string;
  /** The service it belongs to; none for a standalone container. */
  serviceId?: string;
  /** The container's hostname; resolves to the task's address (as a container name does). */
  hostname?: string;
  /** RUNNING and, where it has a health check, healthy: only such tasks are in service answers. */
  healthy: boolean;
  networks: readonly {
    networkId: string;
    /** Address on the network, with or without prefix length (10.0.1.7/24). */
    address: string;
    /** Aliases of this container on the network. */
    aliases?: readonly string[];
  }[];
  /**
   * Resolvers this task's other names go to (the service's `dns`, "ip" or "ip:port"), instead
   * of the host's. Only consulted for tasks of this host (the askers).
   */
  upstreams?: readonly string[];
}

export function bareAddress(a: string): string {
  return a.split('/')[0]!;
}

export function normalName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

interface NetworkIndex {
  /** name (service name or service alias) -> service ids */
  services: Map<string, Set<string>>;
  /** name (task name, hostname, task alias) -> task ids */
  tasks: Map<string, Set<string>>;
  /** service id -> ids of its tasks on this network (healthy or not) */
  members: Map<string, Set<string>>;
  /** address -> task id or `svc:<id>` (reverse lookups) */
  reverse: Map<string, string>;
}

/** What a name means on one network. */
export type Resolution =
  | { kind: 'addresses'; addresses: string[] }
  | { kind: 'none' };

export class ServiceRecords {
  private readonly services = new Map<string, DnsService>();
  private readonly tasks = new Map<string, DnsTask>();
  private readonly nets = new Map<string, NetworkIndex>();
  /** address of a task -> task id, over every network (the asker's identity). */
  private readonly byAddress = new Map<string, string>();

  private net(id: string): NetworkIndex {
    let n = this.nets.get(id);
    if (!n) {
      n = { services: new Map(), tasks: new Map(), members: new Map(), reverse: new Map() };
      this.nets.set(id, n);
    }
    return n;
  }

  /** Adds or replaces a service (a scale does not touch it; only its names and VIPs). */
  upsertService(s: DnsService): void {
    this.removeService(s.id);
    this.services.set(s.id, s);
    for (const sn of s.networks) {
      const n = this.net(sn.networkId);
      for (const name of [s.name, ...(sn.aliases ?? [])]) addTo(n.services, normalName(name), s.id);
      if (sn.vip) n.reverse.set(bareAddress(sn.vip), `svc:${s.id}`);
    }
  }

  removeService(id: string): void {
    const s = this.services.get(id);
    if (!s) return;
    this.services.delete(id);
    for (const sn of s.networks) {
      const n = this.net(sn.networkId);
      for (const name of [s.name, ...(sn.aliases ?? [])]) dropFrom(n.services, normalName(name), s.id);
      if (sn.vip && n.reverse.get(bareAddress(sn.vip)) === `svc:${s.id}`) n.reverse.delete(bareAddress(sn.vip));
    }
  }

  /** Adds or replaces a task (an endpoint came, moved, became healthy or unhealthy). */
  upsertTask(t: DnsTask): void {
    this.removeTask(t.id);
    this.tasks.set(t.id, t);
    for (const tn of t.networks) {
      const n = this.net(tn.networkId);
      const addr = bareAddress(tn.address);
      for (const name of taskNames(t, tn.aliases)) addTo(n.tasks, name, t.id);
      if (t.serviceId) addTo(n.members, t.serviceId, t.id);
      n.reverse.set(addr, t.id);
      this.byAddress.set(addr, t.id);
    }
  }

  removeTask(id: string): void {
    const t = this.tasks.get(id);
    if (!t) return;
    this.tasks.delete(id);
    for (const tn of t.networks) {
      const n = this.net(tn.networkId);
      const addr = bareAddress(tn.address);
      for (const name of taskNames(t, tn.aliases)) dropFrom(n.tasks, name, t.id);
      if (t.serviceId) dropFrom(n.members, t.serviceId, t.id);
      if (n.reverse.get(addr) === t.id) n.reverse.delete(addr);
      if (this.byAddress.get(addr) === t.id) this.byAddress.delete(addr);
    }
  }

  /** The task that owns an address (who is asking), or undefined. */
  taskAt(address: string): DnsTask | undefined {
    const id = this.byAddress.get(address);
    return id === undefined ? undefined : this.tasks.get(id);
  }

  /**
   * A name on one network: a service (its VIP, or its healthy tasks for dnsrr), `tasks.NAME`
   * (healthy tasks of service NAME), then a task name, hostname or task alias.
   */
  resolve(networkId: string, rawName: string): Resolution {
    const n = this.nets.get(networkId);
    if (!n) return { kind: 'none' };
    const name = normalName(rawName);
    const svcIds = n.services.get(name);
    if (svcIds && svcIds.size > 0) {
      const out = new Set<string>();
      for (const id of svcIds) {
        const s = this.services.get(id)!;
        if (s.endpointMode === 'dnsrr') for (const a of this.healthyAddresses(n, networkId, id)) out.add(a);
        else {
          const vip = s.networks.find((x) => x.networkId === networkId)?.vip;
          if (vip) out.add(bareAddress(vip));
        }
      }
      return { kind: 'addresses', addresses: [...out] };
    }
    if (name.startsWith('tasks.')) {
      const ids = n.services.get(name.slice('tasks.'.length));
      if (ids && ids.size > 0) {
        const out: string[] = [];
        for (const id of ids) out.push(...this.healthyAddresses(n, networkId, id));
        return { kind: 'addresses', addresses: out };
      }
    }
    const taskIds = n.tasks.get(name);
    if (taskIds && taskIds.size > 0) {
      const out: string[] = [];
      for (const id of taskIds) {
        const a = this.tasks.get(id)!.networks.find((x) => x.networkId === networkId);
        if (a) out.push(bareAddress(a.address));
      }
      return { kind: 'addresses', addresses: out };
    }
    return { kind: 'none' };
  }

  /** The name behind an address of a network (PTR): a task's name or a service's (its VIP). */
  reverseName(networkId: string, address: string): string | undefined {
    const owner = this.nets.get(networkId)?.reverse.get(address);
    if (owner === undefined) return undefined;
    if (owner.startsWith('svc:')) return this.services.get(owner.slice(4))?.name;
    return this.tasks.get(owner)?.name;
  }

  private healthyAddresses(n: NetworkIndex, networkId: string, serviceId: string): string[] {
    const out: string[] = [];
    for (const id of n.members.get(serviceId) ?? []) {
      const t = this.tasks.get(id)!;
      if (!t.healthy) continue;
      const a = t.networks.find((x) => x.networkId === networkId);
      if (a) out.push(bareAddress(a.address));
    }
    return out;
  }
}

function taskNames(t: DnsTask, aliases: readonly string[] | undefined): Set<string> {
  const names = new Set([normalName(t.name)]);
  if (t.hostname) names.add(normalName(t.hostname));
  for (const a of aliases ?? []) names.add(normalName(a));
  return names;
}

function addTo(m: Map<string, Set<string>>, key: string, value: string): void {
  let s = m.get(key);
  if (!s) m.set(key, (s = new Set()));
  s.add(value);
}

function dropFrom(m: Map<string, Set<string>>, key: string, value: string): void {
  const s = m.get(key);
  if (!s) return;
  s.delete(value);
  if (s.size === 0) m.delete(key);
}
