// A subnet a user asked for (`network create --subnet --gateway --ip-range`, a stack's
// ipam.config): its shape, and what it must not overlap. Both the control API (to refuse at
// create time) and the allocator (to build the network's pool) read it from here.
import type { IPAMConfig } from '../../proto/gen/types.js';
import type { ReadonlyDeep } from '../store/index.js';
import { CidrError, containsAddr, containsCidr, formatCidr, formatIPv4, last, overlaps, parseCidr, parseIPv4, type Cidr } from './cidr.js';
import type { HostRoute } from './host-routes.js';
import { MAX_PREFIX, MIN_PREFIX, type DefaultPool } from './subnet-pool.js';

export interface NetworkAddressing {
  readonly subnet: Cidr;
  readonly range: Cidr;
  readonly gateway: number;
}

/** The gateway when none is given: the subnet's first address, as Docker. */
export function defaultGateway(subnet: Cidr): number {
  return subnet.base + 1;
}

/** Parses and checks one IPAM config; throws CidrError naming the network and the input. */
export function parseAddressing(network: string, c: ReadonlyDeep<IPAMConfig>): NetworkAddressing {
  const at = `network "${network}":`;
  const wrap = <T>(f: () => T): T => {
    try {
      return f();
    } catch (err) {
      throw err instanceof CidrError ? new CidrError(`${at} ${err.message}`) : err;
    }
  };
  const subnet = wrap(() => parseCidr(c.subnet, 'subnet'));
  if (subnet.prefix < MIN_PREFIX || subnet.prefix > MAX_PREFIX) {
    throw new CidrError(`${at} subnet ${formatCidr(subnet)} is ${subnet.prefix < MIN_PREFIX ? 'larger than a /8' : 'too small (a /30 leaves one address)'}: give a prefix length from ${MIN_PREFIX} to ${MAX_PREFIX}`);
  }
  const range = c.range ? wrap(() => parseCidr(c.range, 'ip range')) : subnet;
  if (!containsCidr(subnet, range)) throw new CidrError(`${at} ip range ${formatCidr(range)} is not inside subnet ${formatCidr(subnet)}`);
  let gateway = defaultGateway(subnet);
  if (c.gateway) {
    const g = parseIPv4(c.gateway);
    if (g === undefined) throw new CidrError(`${at} gateway "${c.gateway}" is not an IPv4 address; write e.g. ${formatIPv4(defaultGateway(subnet))}`);
    if (!containsAddr(subnet, g)) throw new CidrError(`${at} gateway ${c.gateway} is not inside subnet ${formatCidr(subnet)}`);
    if (g === subnet.base || g === last(subnet)) throw new CidrError(`${at} gateway ${c.gateway} is the ${g === subnet.base ? 'network' : 'broadcast'} address of ${formatCidr(subnet)}; give a host address`);
    gateway = g;
  }
  return { subnet, range, gateway };
}

export interface TakenSubnet {
  readonly network: string;
  readonly subnet: Cidr;
}

/**
 * Why a user's subnet cannot be used, naming both sides; undefined when it is free. Routes with
 * exactly a shoal network's subnet are that network's own bridge, reported as the network.
 */
export function subnetConflict(network: string, subnet: Cidr, taken: readonly TakenSubnet[], pool: DefaultPool, routes: readonly HostRoute[]): string | undefined {
  const s = formatCidr(subnet);
  for (const t of taken) {
    if (overlaps(t.subnet, subnet)) return `network "${network}": subnet ${s} overlaps network "${t.network}" (${formatCidr(t.subnet)}): choose a subnet no other network uses`;
  }
  for (const p of pool.pools) {
    if (overlaps(p, subnet)) {
      return `network "${network}": subnet ${s} overlaps the default address pool ${formatCidr(p)} (networks without --subnet get theirs from it): choose a subnet outside it`;
    }
  }
  for (const r of routes) {
    if (overlaps(r.cidr, subnet)) {
      return `network "${network}": subnet ${s} overlaps the route to ${formatCidr(r.cidr)} (dev ${r.dev}) on the manager's host: tasks could not reach that network; choose another subnet`;
    }
  }
  return undefined;
}
