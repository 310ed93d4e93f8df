// The allocator's picture of every network: its subnet's address pool, its VNI, and who holds
// which address. Rebuilt from the store by a new leader; changed only through claim/allocate/
// release so that one address never has two holders.
import type { IPAMOptions, Network } from '../../proto/gen/types.js';
import type { ReadonlyDeep } from '../store/index.js';
import { AddressPool } from './address-pool.js';
import { CidrError, formatCidr, formatIPv4, parseIPv4, type Cidr } from './cidr.js';
import { parseAddressing, type NetworkAddressing } from './user-subnet.js';

type RO<T> = ReadonlyDeep<T>;

/** VXLAN ids below 4096 are left to VLAN-mapped setups, as Swarm does; 24 bits in all. */
export const VNI_MIN = 4096;
export const VNI_MAX = 2 ** 24 - 1;

export interface NetworkEntry {
  readonly id: string;
  name: string;
  pool?: AddressPool;
  vni: number;
}

/** An address held by an owner (a task id, or `vip:<service id>`). */
export interface Holding {
  readonly networkId: string;
  readonly ip: number;
}

export function isAllocated(n: RO<Network>): boolean {
  return n.vni !== 0 && !!n.ipam?.configs[0]?.subnet;
}

/** The addressing the allocator wrote into a network (its ipam), or undefined if unreadable. */
export function allocatedAddressing(n: RO<Network>): NetworkAddressing | undefined {
  const c = n.ipam?.configs[0];
  if (!c?.subnet) return undefined;
  try {
    return parseAddressing(n.spec?.annotations?.name ?? n.id, c);
  } catch (err) {
    if (err instanceof CidrError) return undefined;
    throw err;
  }
}

export function ipamOf(a: NetworkAddressing, userRange: boolean): IPAMOptions {
  return {
    driver: { name: 'default', options: {} },
    configs: [{ subnet: formatCidr(a.subnet), range: userRange ? formatCidr(a.range) : '', gateway: formatIPv4(a.gateway), reserved: {} }],
  };
}

export class NetworkTable {
  private readonly nets = new Map<string, NetworkEntry>();
  private readonly vnis = new Map<number, string>();
  private readonly held = new Map<string, Holding[]>();
  /** Addresses found held twice when reading the store (should never happen; logged). */
  readonly conflicts: string[] = [];

  clear(): void {
    this.nets.clear();
    this.vnis.clear();
    this.held.clear();
    this.conflicts.length = 0;
  }

  get(id: string): NetworkEntry | undefined {
    return this.nets.get(id);
  }

  entries(): IterableIterator<NetworkEntry> {
    return this.nets.values();
  }

  /** Allocated subnets of every network but `except`. */
  subnets(except?: string): { network: string; subnet: Cidr }[] {
    const out: { network: string; subnet: Cidr }[] = [];
    for (const e of this.nets.values()) if (e.id !== except && e.pool) out.push({ network: e.name, subnet: e.pool.subnet });
    return out;
  }

  /** Records a network as stored (allocated or not). Returns false if it was already known so. */
  register(n: RO<Network>): void {
    let e = this.nets.get(n.id);
    if (!e) {
      e = { id: n.id, name: n.spec?.annotations?.name ?? n.id, vni: 0 };
      this.nets.set(n.id, e);
    }
    e.name = n.spec?.annotations?.name ?? n.id;
    if (!isAllocated(n) || e.pool) return;
    const a = allocatedAddressing(n);
    if (!a) return;
    this.install(e, a, n.vni);
  }

  /** Gives an entry its pool and VNI (from the store, or freshly allocated). */
  install(e: NetworkEntry, a: NetworkAddressing, vni: number): void {
    e.pool = new AddressPool(a.subnet, a.range, a.gateway);
    e.vni = vni;
    this.vnis.set(vni, e.id);
  }

  /** Takes back a fresh allocation that was not committed. */
  uninstall(e: NetworkEntry): void {
    if (this.vnis.get(e.vni) === e.id) this.vnis.delete(e.vni);
    e.pool = undefined;
    e.vni = 0;
  }

  unregister(id: string): void {
    const e = this.nets.get(id);
    if (!e) return;
    this.uninstall(e);
    this.nets.delete(id);
  }

  /** The lowest VNI no network has. */
  freeVni(): number | undefined {
    for (let v = VNI_MIN; v <= VNI_MAX; v++) if (!this.vnis.has(v)) return v;
    return undefined;
  }

  holdings(owner: string): readonly Holding[] {
    return this.held.get(owner) ?? [];
  }

  /** Records an address read from the store ("10.0.1.5/24"). */
  claim(owner: string, networkId: string, addr: string): void {
    const pool = this.nets.get(networkId)?.pool;
    const ip = parseIPv4(addr.split('/')[0] ?? '');
    if (!pool || ip === undefined) return;
    const r = pool.claim(ip, owner);
    if (!r.ok) {
      this.conflicts.push(`${formatIPv4(ip)} on network ${networkId} is held by ${r.holder} and ${owner}`);
      return;
    }
    const list = this.held.get(owner) ?? [];
    if (!list.some((h) => h.networkId === networkId && h.ip === ip)) list.push({ networkId, ip });
    this.held.set(owner, list);
  }

  /** A new address for owner on the network; undefined when the network is full. */
  allocate(owner: string, networkId: string): number | undefined {
    const pool = this.nets.get(networkId)?.pool;
    const ip = pool?.allocate(owner);
    if (ip === undefined) return undefined;
    const list = this.held.get(owner) ?? [];
    list.push({ networkId, ip });
    this.held.set(owner, list);
    return ip;
  }

  /** Frees what owner holds (on one network, or all). Returns how many addresses came back. */
  release(owner: string, networkId?: string): number {
    const list = this.held.get(owner);
    if (!list) return 0;
    let freed = 0;
    const keep: Holding[] = [];
    for (const h of list) {
      if (networkId !== undefined && h.networkId !== networkId) keep.push(h);
      else if (this.nets.get(h.networkId)?.pool?.release(h.ip, owner)) freed++;
    }
    if (keep.length > 0) this.held.set(owner, keep);
    else this.held.delete(owner);
    return freed;
  }

  /** Frees one address (undoing an allocation whose write failed). */
  releaseOne(owner: string, h: Holding): void {
    this.nets.get(h.networkId)?.pool?.release(h.ip, owner);
    const list = (this.held.get(owner) ?? []).filter((x) => !(x.networkId === h.networkId && x.ip === h.ip));
    if (list.length > 0) this.held.set(owner, list);
    else this.held.delete(owner);
  }
}
