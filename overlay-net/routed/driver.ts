// routed (host-gw): no encapsulation. Each prefix a peer owns is routed through the underlay
// to the peer's own address, which is therefore required to be on this host's L2 segment.
import { contains, formatPrefix, parseIPv4 } from '../addr.js';
import { PeerNotAdjacentError } from '../errors.js';
import { PEER_ROUTE_METRIC, ROUTE_PROTO } from '../names.js';
import { prefixDelta, type OverlayDriver } from '../driver.js';

export const routedDriver: OverlayDriver = {
  name: 'routed',

  mtu(_net, underlay) {
    return underlay.mtu;
  },

  links() {
    return [];
  },

  createLines() {
    return [];
  },

  peerInterface(_net, ctx) {
    return ctx.underlay.device;
  },

  checkPeer(net, peer, ctx) {
    const addr = parseIPv4(peer.underlayAddress)!;
    if (ctx.underlay.connected.some((p) => contains(p, addr))) return;
    const segs = ctx.underlay.connected.map(formatPrefix).join(', ') || 'none';
    throw new PeerNotAdjacentError(
      `network ${net.spec.name} (driver routed): peer ${peer.hostId} at ${peer.underlayAddress} is not on this host's ` +
        `L2 segment (${ctx.underlay.device}: ${segs}); routed networks need every host on one segment: use the vxlan driver`,
    );
  },

  peerDelta(_net, ctx, before, after) {
    const dev = ctx.underlay.device;
    const add = { ip: [] as string[], bridge: [] as string[] };
    const remove = { ip: [] as string[], bridge: [] as string[] };
    const moved = before && after && before.underlayAddress !== after.underlayAddress;
    const { added, removed } = moved
      ? { added: after.prefixes, removed: before.prefixes.filter((p) => !after.prefixes.includes(p)) }
      : prefixDelta(before, after);
    // route replace re-points a prefix that stays when the host's address moved.
    if (after) for (const p of added) add.ip.push(`route replace ${p} via ${after.underlayAddress} dev ${dev} proto ${ROUTE_PROTO} metric ${PEER_ROUTE_METRIC}`);
    if (before) for (const p of removed) remove.ip.push(`route del ${p} via ${before.underlayAddress} dev ${dev} proto ${ROUTE_PROTO} metric ${PEER_ROUTE_METRIC}`);
    return { add, remove };
  },
};
