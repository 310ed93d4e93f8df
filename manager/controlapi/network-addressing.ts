// What `network create` and `network rm` check about addresses and users: a requested subnet is
// well formed and overlaps no other network, no route of this (the leader's) host and not the
// default pool; a network still named by a service is not removed, and one whose last tasks are
// still stopping is marked for deletion (the allocator deletes it once they are gone).
import { EndpointSpec_ResolutionMode, TaskState, type Network, type NetworkSpec, type ServiceSpec } from '../../proto/gen/types.js';
import {
  AddressPool,
  allocatedAddressing,
  attachmentTargets,
  CidrError,
  defaultPoolOf,
  defaultGateway,
  parseAddressing,
  procHostRoutes,
  resolveDriver,
  subnetConflict,
  type HostRoute,
  type TakenSubnet,
} from '../allocator/index.js';
import type { ReadonlyDeep, ReadTx } from '../store/index.js';
import { invalidArgument } from './errors.js';

type RO<T> = ReadonlyDeep<T>;

/** The subnet every network has or has asked for. */
function takenSubnets(tx: ReadTx): TakenSubnet[] {
  const out: TakenSubnet[] = [];
  for (const n of tx.networks.all()) {
    const name = n.spec?.annotations?.name ?? n.id;
    const allocated = allocatedAddressing(n);
    if (allocated) {
      out.push({ network: name, subnet: allocated.subnet });
      continue;
    }
    const asked = n.spec?.ipam?.configs[0];
    if (!asked?.subnet) continue;
    try {
      out.push({ network: name, subnet: parseAddressing(name, asked).subnet });
    } catch {
      // an unusable request reserves nothing
    }
  }
  return out;
}

/** An unknown driver or encap option is refused here, not found by an agent later. */
export function checkNetworkDriver(name: string, spec: RO<NetworkSpec>): void {
  const r = resolveDriver(spec.driverConfig?.name ?? '', spec.driverConfig?.options ?? {});
  if ('problem' in r) throw invalidArgument(`network "${name}": ${r.problem}`);
}

/** Throws INVALID_ARGUMENT naming the network, its subnet and what it collides with. */
export function checkNetworkAddressing(tx: ReadTx, name: string, spec: RO<NetworkSpec>, routes: readonly HostRoute[] = procHostRoutes()): void {
  const configs = spec.ipam?.configs ?? [];
  if (configs.length > 1) throw invalidArgument(`network "${name}": ${configs.length} subnets asked for; a network has one (give one --subnet, or one ipam.config entry)`);
  const c = configs[0];
  if (!c?.subnet) return;
  let subnet;
  try {
    subnet = parseAddressing(name, c).subnet;
  } catch (err) {
    if (err instanceof CidrError) throw invalidArgument(err.message);
    throw err;
  }
  let pool;
  try {
    pool = defaultPoolOf(tx.clusters.all()[0]);
  } catch {
    pool = defaultPoolOf(undefined);
  }
  const why = subnetConflict(name, subnet, takenSubnets(tx), pool, routes);
  if (why) throw invalidArgument(why);
}

/** Services whose spec names the network (by id or name). */
export function servicesNaming(tx: ReadTx, net: RO<Network>): string[] {
  const name = (net.spec?.annotations?.name ?? '').toLowerCase();
  const out: string[] = [];
  for (const s of tx.services.all()) {
    const targets = attachmentTargets({ spec: s.spec?.task, networks: [] } as never, s).map((a) => a.target);
    if (targets.some((t) => t === net.id || t.toLowerCase() === name)) out.push(s.spec?.annotations?.name ?? s.id);
  }
  return out.sort();
}

/** Tasks that may still use an address on the network (not yet stopped). */
export function tasksOnNetwork(tx: ReadTx, net: RO<Network>): number {
  let n = 0;
  for (const t of tx.tasks.all()) {
    if ((t.status?.state ?? TaskState.NEW) > TaskState.RUNNING) continue;
    if (t.networks.some((a) => a.networkId === net.id)) n++;
  }
  return n;
}

/** The addresses a network can give tasks and VIPs, and its prefix length (for messages). */
function networkRoom(tx: ReadTx, net: RO<Network>): { room: number; prefix: number } | undefined {
  let a = allocatedAddressing(net);
  if (!a && net.spec?.ipam?.configs[0]?.subnet) {
    try {
      a = parseAddressing(net.spec.annotations?.name ?? net.id, net.spec.ipam.configs[0]);
    } catch {
      return undefined;
    }
  }
  if (!a) {
    let mask;
    try {
      mask = defaultPoolOf(tx.clusters.all()[0]).maskLength;
    } catch {
      return undefined;
    }
    const subnet = { base: 0, prefix: mask };
    a = { subnet, range: subnet, gateway: defaultGateway(subnet) };
  }
  return { room: new AddressPool(a.subnet, a.range, a.gateway).capacity, prefix: a.subnet.prefix };
}

/**
 * A replicated service asking for more tasks than one of its networks can ever address is
 * refused at once (the alternative is tasks pending for good). Other services' use of the
 * network changes over time: a task that finds it full waits, saying so.
 */
export function checkNetworkRoom(tx: ReadTx, spec: RO<ServiceSpec>, net: RO<Network>, target: string): void {
  if (spec.mode?.$case !== 'replicated') return;
  const replicas = spec.mode.value.replicas;
  const r = networkRoom(tx, net);
  if (!r) return;
  const vip = (spec.endpoint?.mode ?? EndpointSpec_ResolutionMode.VIP) === EndpointSpec_ResolutionMode.VIP;
  const room = r.room - (vip ? 1 : 0);
  if (replicas <= room) return;
  const svc = spec.annotations?.name ?? '';
  throw invalidArgument(
    `service "${svc}" asks for ${replicas} replicas but network "${target}" (/${r.prefix}) has addresses for ${room} tasks${vip ? " beside the service's virtual IP" : ''}: give the network a larger subnet, or fewer replicas`,
  );
}
