// Store writes the dispatcher makes on Node objects: registration (a session opens) and the
// verdict of missed heartbeats. Both read the node inside the transaction, so they never conflict.
import { Node, NodeAvailability, NodeStatus_State, type NodeDescription } from '../../proto/gen/types.js';
import type { WeightedPeer } from '../../proto/gen/dispatcher.js';
import type { ReadonlyDeep, ReadTx, WriteTx } from '../store/index.js';
import type { NodeIdentity } from './options.js';

type RO<T> = ReadonlyDeep<T>;

/** The node is not (or no longer) a member: it was removed, or never joined through the CA. */
export class UnknownNodeError extends Error {
  constructor(readonly nodeId: string) {
    super(`node ${nodeId} is not a member of this cluster (removed?): join it again with a join token`);
    this.name = 'UnknownNodeError';
  }
}

/** Creates the node (first session) or refreshes its description, address and READY status. */
export function registerNode(tx: WriteTx, who: NodeIdentity, description: RO<NodeDescription> | undefined, addr: string, createUnknown = true): RO<Node> {
  const status = { state: NodeStatus_State.READY, message: 'session opened', addr };
  const current = tx.nodes.get(who.nodeId);
  if (!current) {
    if (!createUnknown) throw new UnknownNodeError(who.nodeId);
    const node: RO<Node> = {
      ...Node.fromPartial({}),
      id: who.nodeId,
      spec: { annotations: { name: '', labels: {} }, desiredRole: who.role, availability: NodeAvailability.ACTIVE },
      description: description as NodeDescription | undefined,
      status,
      role: who.role,
    };
    tx.nodes.create(node);
    return node;
  }
  const next: RO<Node> = { ...current, description: (description ?? current.description) as NodeDescription | undefined, status, role: who.role };
  tx.nodes.update(next);
  return next;
}

/** Marks the node DOWN unless it is gone or already down; true when it changed. */
export function markNodeDown(tx: WriteTx, nodeId: string, message: string): boolean {
  const current = tx.nodes.get(nodeId);
  if (!current || current.status?.state === NodeStatus_State.DOWN) return false;
  tx.nodes.update({ ...current, status: { state: NodeStatus_State.DOWN, message, addr: current.status?.addr ?? '' } });
  return true;
}

/** Managers with a known cluster address, the default manager list handed to agents. */
export function managersFromStore(tx: ReadTx): WeightedPeer[] {
  const out: WeightedPeer[] = [];
  for (const n of tx.nodes.all()) {
    const addr = n.managerStatus?.addr;
    if (!addr) continue;
    out.push({ nodeId: n.id, addr, weight: n.status?.state === NodeStatus_State.DOWN ? 0 : 1 });
  }
  return out.sort((a, b) => a.nodeId.localeCompare(b.nodeId));
}

/** "ipv4:10.0.0.2:4711", "10.0.0.2:4711", "[::1]:4711" -> the host part. */
export function peerHost(peer: string): string {
  const p = peer.replace(/^ipv[46]:/, '');
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(p);
  if (v6) return v6[1]!;
  const i = p.lastIndexOf(':');
  return i > 0 && p.indexOf(':') === i ? p.slice(0, i) : p;
}
