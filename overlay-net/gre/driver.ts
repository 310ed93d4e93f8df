// gre: Ethernet over GRE (protocol 0x6558), the GRE key being the network's VNI. Like vxlan, one
// device per network and state per remote host: a permanent neighbour entry (the peer's
// underlay address -> a MAC derived from it) and one route per prefix the peer owns, onlink via
// that address. The device is either
//   kernel:    a gretap in NBMA mode (no remote): the kernel takes each packet's outer
//              destination from the route's next hop, i.e. the peer's underlay address;
//   userspace: a persistent TAP that shoal-gre (native/gre) serves; it reads the peer's address
//              from the frame's destination MAC, the neighbour entry having put it there.
// Which one is chosen once per host at open (detect.ts): the kernel's where it exists.
import { UnderlayMtuError } from '../errors.js';
import { greTapName, greTunnelName, networkAlias, ROUTE_PROTO, vtepMac } from '../names.js';
import { MIN_OVERLAY_MTU, prefixDelta, type OverlayDriver, type PeerState } from '../driver.js';
import type { CheckedNetwork } from '../validate.js';
import type { Underlay } from '../underlay.js';

/** Outer IPv4 (20) + GRE with a key (4 + 4) + inner Ethernet (14): 1500 leaves 1458. */
export const GRE_OVERHEAD = 42;

export type GreDataPath = 'kernel' | 'userspace';

export function greLink(dataPath: GreDataPath, networkId: string): string {
  return dataPath === 'kernel' ? greTunnelName(networkId) : greTapName(networkId);
}

/** Which data path made a GRE network, told by its device's name. */
export function greDataPathOf(link: string | undefined): GreDataPath | undefined {
  if (!link) return undefined;
  if (link.startsWith('shovg')) return 'kernel';
  if (link.startsWith('shovt')) return 'userspace';
  return undefined;
}

export function greDriver(dataPath: GreDataPath): OverlayDriver {
  const dev = (net: CheckedNetwork) => greLink(dataPath, net.spec.id);
  return {
    name: 'gre',

    mtu(net: CheckedNetwork, underlay: Underlay): number {
      const mtu = underlay.mtu - GRE_OVERHEAD;
      if (mtu < MIN_OVERLAY_MTU)
        throw new UnderlayMtuError(
          `network ${net.spec.name}: underlay ${underlay.device} has MTU ${underlay.mtu}, which leaves ${mtu} after ` +
            `GRE's ${GRE_OVERHEAD} bytes; the overlay needs at least ${MIN_OVERLAY_MTU}: raise the underlay's MTU ` +
            `to ${MIN_OVERLAY_MTU + GRE_OVERHEAD} or more, or use the routed driver`,
        );
      return mtu;
    },

    links(net) {
      return [dev(net)];
    },

    createLines(net, ctx, mtu) {
      const d = dev(net);
      const u = ctx.underlay;
      const make =
        dataPath === 'kernel'
          ? [`link add ${d} address ${vtepMac(u.address)} mtu ${mtu} type gretap local ${u.address} key ${net.spec.vni} ttl 64 dev ${u.device}`]
          : [`tuntap add dev ${d} mode tap vnet_hdr`, `link set ${d} address ${vtepMac(u.address)} mtu ${mtu}`];
      return [...make, `link set ${d} alias ${networkAlias(net.spec.id)}`, `link set ${d} up`];
    },

    peerInterface(net) {
      return dev(net);
    },

    checkPeer() {
      // Any peer the underlay routes to is reachable by GRE.
    },

    peerDelta(net, ctx, before: PeerState | undefined, after: PeerState | undefined) {
      const d = dev(net);
      if (before && after && before.underlayAddress !== after.underlayAddress) {
        const out = this.peerDelta(net, ctx, before, undefined);
        const into = this.peerDelta(net, ctx, undefined, after);
        return { add: into.add, remove: out.remove };
      }
      const add = { ip: [] as string[], bridge: [] as string[] };
      const remove = { ip: [] as string[], bridge: [] as string[] };
      const route = (p: string, ip: string) => `${p} via ${ip} dev ${d} onlink proto ${ROUTE_PROTO}`;
      if (after && !before) add.ip.push(`neigh replace ${after.underlayAddress} lladdr ${vtepMac(after.underlayAddress)} dev ${d} nud permanent`);
      const { added, removed } = prefixDelta(before, after);
      if (after) for (const p of added) add.ip.push(`route replace ${route(p, after.underlayAddress)}`);
      if (before) for (const p of removed) remove.ip.push(`route del ${route(p, before.underlayAddress)}`);
      if (before && !after) remove.ip.push(`neigh del ${before.underlayAddress} dev ${d}`);
      return { add, remove };
    },
  };
}
