// The one interface behind which each data-path driver sits. A driver says what kernel
// objects a network needs besides the common bridge, and how a peer host is programmed; the
// host (host.ts) records, batches and rolls back.
import type { CheckedNetwork } from './validate.js';
import type { Underlay } from './underlay.js';
import type { DriverName } from './types.js';

export interface DriverContext {
  underlay: Underlay;
  /** UDP port of VXLAN (Swarm's --data-path-port). */
  dataPathPort: number;
}

/** A peer as the kernel sees it: its underlay address and the canonical prefixes it owns. */
export interface PeerState {
  hostId: string;
  underlayAddress: string;
  prefixes: string[];
}

/** Lines for `ip -batch` and `bridge -batch`. */
export interface KernelLines {
  ip: string[];
  bridge: string[];
}

export interface OverlayDriver {
  readonly name: DriverName;
  /** MTU of the network's links for this underlay; throws UnderlayMtuError when too small. */
  mtu(net: CheckedNetwork, underlay: Underlay): number;
  /** Links the driver makes for a network (besides the bridge), recorded before creation. */
  links(net: CheckedNetwork): string[];
  /** `ip` lines that make those links, after the bridge exists. */
  createLines(net: CheckedNetwork, ctx: DriverContext, mtu: number): string[];
  /** The interface peers' traffic of this network comes in and goes out by. */
  peerInterface(net: CheckedNetwork, ctx: DriverContext): string;
  /** Refuses a peer this driver cannot reach (throws a typed error). */
  checkPeer(net: CheckedNetwork, peer: PeerState, ctx: DriverContext): void;
  /** Lines that take the kernel from `before` to `after` for one peer (either may be absent). */
  peerDelta(net: CheckedNetwork, ctx: DriverContext, before: PeerState | undefined, after: PeerState | undefined): {
    add: KernelLines;
    remove: KernelLines;
  };
}

/** The route lines for the prefixes that appear in `after` but not in `before`, and back. */
export function prefixDelta(before: PeerState | undefined, after: PeerState | undefined): { added: string[]; removed: string[] } {
  const b = new Set(before?.prefixes ?? []);
  const a = new Set(after?.prefixes ?? []);
  return { added: [...a].filter((p) => !b.has(p)), removed: [...b].filter((p) => !a.has(p)) };
}

/** Minimum overlay MTU: IPv6's minimum link MTU, so a network can carry IPv6 later. */
export const MIN_OVERLAY_MTU = 1280;
