// What `network create` and `network rm` check about addresses and users: a requested subnet is
// well formed and overlaps no other network, no route of this (the leader's) host and not the
// default pool; a network still named by a service is not removed, and one whose last tasks are
// still stopping is marked for deletion (the allocator deletes it once they are gone).
import { TaskState, type Network, type NetworkSpec } from '../../proto/gen/types.js';
import {
  allocatedAddressing,
  attachmentTargets,
  CidrError,
  defaultPoolOf,
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
