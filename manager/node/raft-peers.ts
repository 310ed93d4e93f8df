// Who may speak on the Raft port (the manager's policy behind the transport's `authorize`): a
// caller is the Raft member the store records for its node, if its certificate is a manager's of
// this cluster and the store still says that node is a manager with that member id. Workers,
// demoted and removed managers, and certificates of other clusters speak for nobody.
import { NodeRole } from '../../proto/gen/types.js';
import { NodeAuthenticator } from '../ca/index.js';
import type { PeerAuthorization, RaftPeer } from '../raft/transport/index.js';
import type { MemoryStore } from '../store/index.js';

export interface RaftPeerPolicy {
  /** The cluster's root certificate (PEM). */
  rootPem: string;
  clusterId: string;
  /** A manager that just joined: node id -> raft id of the members, as the leader answered the
   *  join. Consulted only while the local store is still empty (the leader's snapshot fills it). */
  joinedWith?: ReadonlyMap<string, bigint>;
}

export function raftPeerAuthorizer(p: RaftPeerPolicy, store: MemoryStore): (peer: RaftPeer) => PeerAuthorization {
  const certs = new NodeAuthenticator(p.rootPem);
  return (peer) => {
    if (!peer.certificate) return { refused: 'no client certificate' };
    const id = certs.identifyCertificate(peer.certificate);
    if (!id) return { refused: 'the client certificate is not a node certificate of this cluster' };
    if (id.clusterId !== p.clusterId) return { refused: `node ${id.nodeId}'s certificate is for cluster ${id.clusterId}` };
    if (id.role !== 'manager') return { refused: `node ${id.nodeId} presented a worker certificate` };
    const { started, node } = store.view((tx) => ({ started: tx.clusters.all().length > 0, node: tx.nodes.get(id.nodeId) }));
    if (!started) {
      const member = p.joinedWith?.get(id.nodeId);
      return member ? { member } : { refused: `node ${id.nodeId} was not a Raft member when this manager joined, and the store is still empty` };
    }
    if (!node) return { refused: `node ${id.nodeId} is not in the store (removed)` };
    const member = node.managerStatus?.raftId ?? 0n;
    if (node.role !== NodeRole.MANAGER || member === 0n) return { refused: `node ${id.nodeId} holds a manager certificate but is not a manager now (demoted)` };
    return { member };
  };
}
