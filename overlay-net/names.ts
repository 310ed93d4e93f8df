// Names of shoal's kernel objects. Interface names are limited to 15 bytes, so they are a
// fixed prefix plus a hash of the ids; the alias of each link carries the ids in full, so
// adopt() can tell whose a link is without a lookup table.
import { createHash } from 'node:crypto';

/** Every link the data path makes starts with this; nothing else on a host may. */
export const LINK_PREFIX = 'shov';
/** The nftables table (family inet) holding isolation and masquerade. */
export const NFT_TABLE = 'shoal_overlay';
/** Routing protocol number stamped on every route shoal adds outside its own links. */
export const ROUTE_PROTO = 83;
/**
 * Metric of routes to peers' prefixes. A local task's /32 (metric 0) wins over a peer's route
 * for the same address (a stale peer list after the address moved here), and the peer's
 * route takes over again when the local task goes.
 */
export const PEER_ROUTE_METRIC = 100;

function hash10(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 10);
}

export function bridgeName(networkId: string): string {
  return `${LINK_PREFIX}b${hash10('net', networkId)}`;
}

export function tunnelName(networkId: string): string {
  return `${LINK_PREFIX}x${hash10('net', networkId)}`;
}

/** Kernel gretap device of a GRE network (kernels with ip_gre). */
export function greTunnelName(networkId: string): string {
  return `${LINK_PREFIX}g${hash10('net', networkId)}`;
}

/** Persistent TAP of a GRE network whose packets the userspace data path (shoal-gre) carries. */
export function greTapName(networkId: string): string {
  return `${LINK_PREFIX}t${hash10('net', networkId)}`;
}

export function vethHostName(networkId: string, taskId: string): string {
  return `${LINK_PREFIX}v${hash10('att', networkId, taskId)}`;
}

/** Name of the container end while it is created; renamed to the task's ifName inside. */
export function vethPeerName(networkId: string, taskId: string): string {
  return `${LINK_PREFIX}c${hash10('att', networkId, taskId)}`;
}

export function networkAlias(networkId: string): string {
  return `shoal:net=${networkId}`;
}

export function attachmentAlias(networkId: string, taskId: string): string {
  return `shoal:net=${networkId}:task=${taskId}`;
}

/** Locally administered unicast MAC derived from the input, stable across restarts. */
export function derivedMac(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\0')).digest();
  const bytes = [0x0e, h[0]!, h[1]!, h[2]!, h[3]!, h[4]!];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * MAC of a host's VXLAN device on a network: derived from its underlay address, so a peer
 * can program its neighbour and FDB entries from the address alone (no extra field to gossip).
 */
export function vtepMac(underlayAddress: string): string {
  const o = underlayAddress.split('.').map(Number);
  return ['0e', '5c', ...o.map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/**
 * Conntrack mark bit of every published-port flow (overlay-net/ingress). The overlay's forward
 * chain accepts such flows into a bridge; its own rules name only traffic between tasks.
 */
export const INGRESS_CT_MARK = '0x00800000';
