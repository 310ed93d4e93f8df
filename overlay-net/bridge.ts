// The per-network bridge every local attachment of a network joins, and the veth that joins
// a container to it. The bridge holds the network's gateway address (the same on every host,
// so a container's default route never leaves its host) and answers ARP for addresses that
// live on other hosts (proxy ARP), which is what lets one route per remote block replace one
// neighbour entry per remote container.
import { attachmentAlias, derivedMac, networkAlias, ROUTE_PROTO } from './names.js';
import type { CheckedNetwork } from './validate.js';

export function bridgeCreateLines(net: CheckedNetwork, bridge: string, mtu: number): string[] {
  return [
    `link add ${bridge} address ${derivedMac('bridge', net.spec.id)} mtu ${mtu} type bridge`,
    `link set ${bridge} alias ${networkAlias(net.spec.id)}`,
    // noprefixroute: the subnet's route is ours to choose (unreachable below, /32s per task).
    `addr add ${net.gateway}/${net.subnet.len} noprefixroute dev ${bridge}`,
    `link set ${bridge} up`,
    // The kernel delays proxy ARP answers by up to 0.8 s by default.
    `ntable change name arp_cache dev ${bridge} proxy_delay 0`,
    // Addresses of the network that are neither local nor a peer's go nowhere, never out the
    // default route; proxy ARP does not answer for them either.
    `route replace unreachable ${net.cidr} proto ${ROUTE_PROTO}`,
  ];
}

export function bridgeSysctls(bridge: string): Record<string, number> {
  return { [`net.ipv4.conf.${bridge}.proxy_arp`]: 1 };
}

export function bridgeRemoveLines(net: CheckedNetwork, links: readonly string[]): string[] {
  return [
    ...[...links].reverse().map((l) => `link del ${l}`),
    `route del unreachable ${net.cidr} proto ${ROUTE_PROTO}`,
  ];
}

export interface VethPlan {
  host: string[];
  container: string[];
  remove: string[];
}

export function vethLines(
  net: CheckedNetwork,
  o: { bridge: string; hostLink: string; peerLink: string; taskId: string; netnsPath: string; ip: string; len: number; mac: string; ifName: string; mtu: number; defaultRoute: boolean },
): VethPlan {
  const host = [
    `link add ${o.hostLink} mtu ${o.mtu} master ${o.bridge} type veth peer name ${o.peerLink} address ${o.mac} mtu ${o.mtu} netns ${o.netnsPath}`,
    `link set ${o.hostLink} alias ${attachmentAlias(net.spec.id, o.taskId)}`,
    // A task reaching its own service's VIP may be DNATed back to itself: the bridge must send
    // the frame out the port it came in on.
    `link set dev ${o.hostLink} type bridge_slave hairpin on`,
    `link set ${o.hostLink} up`,
    `route replace ${o.ip}/32 dev ${o.bridge} proto ${ROUTE_PROTO} scope link`,
  ];
  const container = [
    'link set lo up',
    `link set ${o.peerLink} name ${o.ifName}`,
    `addr add ${o.ip}/${o.len} dev ${o.ifName}`,
    `link set ${o.ifName} up`,
  ];
  if (o.defaultRoute && !net.spec.internal) container.push(`route add default via ${net.gateway} dev ${o.ifName}`);
  // Deleting the host end deletes the container end with it.
  const remove = [`link del ${o.hostLink}`, `route del ${o.ip}/32 dev ${o.bridge} proto ${ROUTE_PROTO}`];
  return { host, container, remove };
}
