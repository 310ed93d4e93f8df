// The input of the per-host data path. It mirrors what the manager's allocator stores, so the
// agent passes records through without translating them.

export type DriverName = 'vxlan' | 'routed' | 'gre';
export const DRIVER_NAMES: readonly DriverName[] = ['vxlan', 'routed', 'gre'];

/** One overlay network as the allocator stores it. */
export interface NetworkSpec {
  id: string;
  name: string;
  /** 'vxlan' (default in the manager), 'gre' or 'routed' (host-gw); anything else is refused. */
  driver: string;
  /** VXLAN network identifier, 1..16777215; the GRE key of a gre network (ignored by routed). */
  vni: number;
  /** IPv4 CIDR of the whole network, e.g. 10.0.1.0/24. */
  subnet: string;
  /** Gateway address inside the subnet; present on this host's bridge of the network. */
  gateway: string;
  /** No egress to the outside: no default route, no masquerade, forwarding refused. */
  internal: boolean;
  attachable: boolean;
}

/** One task's (or standalone container's) attachment on this host. */
export interface AttachmentSpec {
  taskId: string;
  /** Path of the container's network namespace, e.g. /proc/PID/ns/net or /run/netns/NAME. */
  netnsPath: string;
  /** Address with prefix length, e.g. 10.0.1.5/24; must lie in the network's subnet. */
  address: string;
  /** Unicast MAC the allocator assigned. */
  mac: string;
  /** Interface name inside the container; eth0 when left out. */
  ifName?: string;
  /** Install the default route via the network's gateway (ignored for internal networks). */
  defaultRoute?: boolean;
}

/** Another host that has tasks on a network, and the addresses it owns in it. */
export interface PeerSpec {
  hostId: string;
  /** The peer's address on the underlay (where its VXLAN endpoint listens, or its next hop). */
  underlayAddress: string;
  /**
   * What of the network's subnet the peer owns: its block (one CIDR, e.g. 10.0.1.64/26) or,
   * when the allocator hands out addresses one by one, its endpoints as /32s.
   */
  prefixes: string[];
}

/** What the data path made for a network on this host. */
export interface NetworkInfo {
  id: string;
  driver: DriverName;
  bridge: string;
  /** The VXLAN device, the gretap device or the TAP shoal-gre serves (not routed). */
  tunnel?: string;
  /** gre only: the kernel's gretap or the userspace data path (shoal-gre). */
  dataPath?: 'kernel' | 'userspace';
  /** MTU of the bridge, the veths and the containers' interfaces. */
  mtu: number;
}

export interface AttachmentInfo {
  taskId: string;
  networkId: string;
  /** Host end of the veth pair. */
  hostLink: string;
  ifName: string;
  address: string;
  mtu: number;
}
