// What the allocator decides for one object inside a write transaction: a network's subnet and
// VNI, a service's virtual IPs, a task's attachments. In-memory allocations are recorded in
// `undo` so that a transaction that fails to commit gives them back.
import type { Network, NetworkAttachment, Service, Task, VirtualIP } from '../../proto/gen/types.js';
import type { ReadonlyDeep, ReadTx } from '../store/index.js';
import { attachmentTargets } from './attachments.js';
import { resolveDriver } from './drivers.js';
import { CidrError, formatCidr, formatIPv4, macForAddress, overlaps, type Cidr } from './cidr.js';
import type { HostRoute } from './host-routes.js';
import { ipamOf, type Holding, type NetworkTable } from './network-table.js';
import { nextFreeSubnet, poolSubnets, type DefaultPool } from './subnet-pool.js';
import { parseAddressing, type NetworkAddressing } from './user-subnet.js';

type RO<T> = ReadonlyDeep<T>;

export interface NetworkProblem {
  problem: string;
}

export function resolveTarget(tx: ReadTx, target: string): RO<Network> | undefined {
  return tx.networks.get(target) ?? tx.networks.find('name', target)[0];
}

const nameOf = (n: RO<Network>): string => n.spec?.annotations?.name || n.id;

/** vxlan, gre or routed (the control API refused anything else; older records keep their name). */
function dataPathOf(n: RO<Network>): string {
  const r = resolveDriver(n.spec?.driverConfig?.name ?? '', n.spec?.driverConfig?.options ?? {});
  return 'driver' in r ? r.driver : n.spec?.driverConfig?.name || 'vxlan';
}

/** A subnet (the user's, or the next free one of the default pool), a gateway and a VNI. */
export function allocateNetwork(
  tx: ReadTx,
  net: RO<Network>,
  table: NetworkTable,
  pool: DefaultPool,
  routes: readonly HostRoute[],
): { network: RO<Network>; addressing: NetworkAddressing } | NetworkProblem {
  const name = nameOf(net);
  const configs = net.spec?.ipam?.configs ?? [];
  if (configs.length > 1) return { problem: `network ${name} asks for ${configs.length} subnets; shoal gives a network one` };
  let addressing: NetworkAddressing;
  const user = configs[0]?.subnet ? configs[0] : undefined;
  if (user) {
    try {
      addressing = parseAddressing(name, user);
    } catch (err) {
      if (err instanceof CidrError) return { problem: err.message };
      throw err;
    }
    const other = table.subnets(net.id).find((t) => overlaps(t.subnet, addressing.subnet));
    if (other) return { problem: `network ${name}: subnet ${formatCidr(addressing.subnet)} overlaps network ${other.network} (${formatCidr(other.subnet)})` };
  } else {
    // Keep clear of allocated networks, of subnets users asked for that are not allocated yet,
    // and of the manager host's own routes (the lab's underlay sits inside 10.0.0.0/8).
    const taken: Cidr[] = [...table.subnets(net.id).map((t) => t.subnet), ...routes.map((r) => r.cidr)];
    for (const n of tx.networks.all()) {
      const c = n.id !== net.id && !table.get(n.id)?.pool ? n.spec?.ipam?.configs[0] : undefined;
      if (!c?.subnet) continue;
      try {
        taken.push(parseAddressing(nameOf(n), c).subnet);
      } catch {
        // a malformed request of another network reserves nothing
      }
    }
    const subnet = nextFreeSubnet(pool, taken);
    if (!subnet) {
      const pools = pool.pools.map(formatCidr).join(', ');
      return {
        problem: `network ${name} has no subnet: the default address pool ${pools} has no free /${pool.maskLength} left (${poolSubnets(pool)} in all); remove unused networks or give this one --subnet`,
      };
    }
    addressing = { subnet, range: subnet, gateway: subnet.base + 1 };
  }
  const vni = table.freeVni();
  if (vni === undefined) return { problem: `network ${name} has no VNI: all 2^24 are in use` };
  const driver = net.spec?.driverConfig;
  return {
    addressing,
    network: {
      ...net,
      vni,
      driverState: { name: dataPathOf(net), options: { ...(driver?.options ?? {}), vni: String(vni) } },
      ipam: ipamOf(addressing, !!user?.range),
    },
  };
}

/** The service's networks as the allocator can serve them: allocated ones, in spec order. */
function serviceNetworks(tx: ReadTx, s: RO<Service>, table: NetworkTable): { ids: string[]; waiting: boolean } {
  const ids: string[] = [];
  let waiting = false;
  for (const a of attachmentTargets({ spec: s.spec?.task, networks: [] } as unknown as RO<Task>, s)) {
    const net = resolveTarget(tx, a.target);
    if (!net || net.pendingDelete) continue;
    if (!table.get(net.id)?.pool) waiting = true;
    else if (!ids.includes(net.id)) ids.push(net.id);
  }
  return { ids, waiting };
}

/**
 * One virtual IP per network for a VIP-mode service (none for DNS round robin). Releases of VIPs
 * the service left are put in `after` (done once committed, so a failed write loses nothing).
 */
export function vipsFor(
  tx: ReadTx,
  s: RO<Service>,
  vipMode: boolean,
  table: NetworkTable,
  owner: string,
  undo: (() => void)[],
  after: (() => void)[],
): { virtualIps: VirtualIP[]; changed: boolean; waiting: boolean } {
  const { ids, waiting } = vipMode ? serviceNetworks(tx, s, table) : { ids: [], waiting: false };
  const current = s.endpoint?.virtualIps ?? [];
  const out: VirtualIP[] = [];
  let changed = false;
  let full = false;
  for (const v of current) {
    if (ids.includes(v.networkId)) out.push({ networkId: v.networkId, addr: v.addr });
    else {
      changed = true;
      after.push(() => table.release(owner, v.networkId));
    }
  }
  for (const id of ids) {
    if (out.some((v) => v.networkId === id)) continue;
    const ip = table.allocate(owner, id);
    if (ip === undefined) {
      full = true;
      continue;
    }
    const h: Holding = { networkId: id, ip };
    undo.push(() => table.releaseOne(owner, h));
    out.push({ networkId: id, addr: `${formatIPv4(ip)}/${table.get(id)!.pool!.subnet.prefix}` });
    changed = true;
  }
  out.sort((a, b) => ids.indexOf(a.networkId) - ids.indexOf(b.networkId));
  return { virtualIps: out, changed, waiting: waiting || full };
}

/** Why a network cannot take the task yet, for its status (the text users see in service ps). */
export function noFreeAddress(name: string, table: NetworkTable, networkId: string): string {
  const pool = table.get(networkId)!.pool!;
  return `network ${name} has no free address (/${pool.subnet.prefix}: ${pool.inUse} in use)`;
}

/** The task's attachments, keeping addresses it has; or why it must wait. */
export function attachmentsFor(
  tx: ReadTx,
  t: RO<Task>,
  service: RO<Service> | undefined,
  table: NetworkTable,
  netProblems: ReadonlyMap<string, string>,
): { networks: NetworkAttachment[]; fresh: Holding[] } | NetworkProblem {
  const networks: NetworkAttachment[] = [];
  const fresh: Holding[] = [];
  const fail = (problem: string): NetworkProblem => {
    for (const h of fresh) table.releaseOne(t.id, h);
    return { problem };
  };
  for (const { target, aliases } of attachmentTargets(t, service)) {
    const net = resolveTarget(tx, target);
    if (!net) return fail(`network ${target} not found`);
    const name = nameOf(net);
    if (net.pendingDelete) return fail(`network ${name} is being removed`);
    const entry = table.get(net.id);
    const pool = entry?.pool;
    if (!entry || !pool) return fail(netProblems.get(net.id) ?? `network ${name} has no subnet yet`);
    const had = t.networks.find((a) => a.networkId === net.id && a.addresses.length > 0);
    if (had) {
      networks.push(had as NetworkAttachment);
      continue;
    }
    const ip = table.allocate(t.id, net.id);
    if (ip === undefined) return fail(noFreeAddress(name, table, net.id));
    fresh.push({ networkId: net.id, ip });
    networks.push({
      networkId: net.id,
      addresses: [`${formatIPv4(ip)}/${pool.subnet.prefix}`],
      aliases: [...aliases],
      networkName: name,
      driver: { name: dataPathOf(net), options: { ...(net.spec?.driverConfig?.options ?? {}) } },
      vni: entry.vni,
      subnet: formatCidr(pool.subnet),
      gateway: formatIPv4(pool.gateway),
      macAddress: macForAddress(ip),
      internal: net.spec?.internal ?? false,
    });
  }
  return { networks, fresh };
}
