// vxlan: one kernel VXLAN device per network, learning off. A remote host costs one FDB entry
// (its VTEP MAC -> its underlay address), one permanent neighbour entry (its underlay address ->
// its VTEP MAC, on the VXLAN device) and one route per prefix it owns (via that neighbour,
// onlink): state per remote host, not per remote container.
import { UnderlayMtuError } from '../errors.js';
import { networkAlias, PEER_ROUTE_METRIC, ROUTE_PROTO, tunnelName, vtepMac } from '../names.js';
import { MIN_OVERLAY_MTU, prefixDelta, type DriverContext, type OverlayDriver, type PeerState } from '../driver.js';
import type { CheckedNetwork } from '../validate.js';
import type { Underlay } from '../underlay.js';

/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const VXLAN_OVERHEAD = 50;

export const vxlanDriver: OverlayDriver = {
  name: 'vxlan',

  mtu(net: CheckedNetwork, underlay: Underlay): number {
    const mtu = underlay.mtu - VXLAN_OVERHEAD;
    if (mtu < MIN_OVERLAY_MTU)
      throw new UnderlayMtuError(
        `network ${net.spec.name}: underlay ${underlay.device} has MTU ${underlay.mtu}, which leaves ${mtu} after ` +
          `VXLAN's ${VXLAN_OVERHEAD} bytes; the overlay needs at least ${MIN_OVERLAY_MTU}: raise the underlay's MTU ` +
          `to ${MIN_OVERLAY_MTU + VXLAN_OVERHEAD} or more, or use the routed driver`,
      );
    return mtu;
  },

  links(net) {
    return [tunnelName(net.spec.id)];
  },

  createLines(net, ctx, mtu) {
    const dev = tunnelName(net.spec.id);
    const u = ctx.underlay;
    return [
      `link add ${dev} address ${vtepMac(u.address)} mtu ${mtu} type vxlan id ${net.spec.vni} local ${u.address} dev ${u.device} dstport ${ctx.dataPathPort} nolearning`,
      `link set ${dev} alias ${networkAlias(net.spec.id)}`,
      `link set ${dev} up`,
    ];
  },

  peerInterface(net) {
    return tunnelName(net.spec.id);
  },

  checkPeer() {
    // Any peer the underlay routes to is reachable by UDP.
  },

  peerDelta(net: CheckedNetwork, _ctx: DriverContext, before: PeerState | undefined, after: PeerState | undefined) {
    const dev = tunnelName(net.spec.id);
    const add = { ip: [] as string[], bridge: [] as string[] };
    const remove = { ip: [] as string[], bridge: [] as string[] };
    if (before && after && before.underlayAddress !== after.underlayAddress) {
      // The host moved: withdraw everything of the old address, program the new one whole.
      const out = this.peerDelta(net, _ctx, before, undefined);
      const into = this.peerDelta(net, _ctx, undefined, after);
      return { add: into.add, remove: out.remove };
    }
    const route = (p: string, ip: string) => `${p} via ${ip} dev ${dev} onlink proto ${ROUTE_PROTO} metric ${PEER_ROUTE_METRIC}`;
    if (after && !before) {
      const mac = vtepMac(after.underlayAddress);
      add.bridge.push(`fdb replace ${mac} dev ${dev} dst ${after.underlayAddress} self permanent`);
      add.ip.push(`neigh replace ${after.underlayAddress} lladdr ${mac} dev ${dev} nud permanent`);
    }
    const { added, removed } = prefixDelta(before, after);
    if (after) for (const p of added) add.ip.push(`route replace ${route(p, after.underlayAddress)}`);
    if (before) for (const p of removed) remove.ip.push(`route del ${route(p, before.underlayAddress)}`);
    if (before && !after) {
      const mac = vtepMac(before.underlayAddress);
      remove.ip.push(`neigh del ${before.underlayAddress} dev ${dev}`);
      remove.bridge.push(`fdb del ${mac} dev ${dev} dst ${before.underlayAddress} self`);
    }
    return { add, remove };
  },
};
