// The objects a new cluster starts with: the Cluster (root CA, join tokens, dispatcher settings)
// and the first manager's Node, written once this single-member Raft group has a leader.
import { Cluster, Node, NodeRole } from '../proto/gen/types.js';
import type { JoinTokens, RootCA } from '../manager/ca/index.js';
import { NoLeaderError, NotLeaderError, type Manager } from '../manager/node/index.js';
import { hostDescription } from '../agent/index.js';
import { hostOf } from './net.js';

export async function writeClusterObjects(
  m: Manager,
  o: { clusterId: string; nodeId: string; raftId: bigint; advertise: string; ca: RootCA; tokens: JoinTokens; heartbeatMs?: number; unlockKey?: string },
  /** `shoal init --default-addr-pool CIDR... --default-addr-pool-mask-length N` (checked by the caller). */
  pool: { cidrs: readonly string[]; maskLength: number } = { cidrs: [], maskLength: 0 },
): Promise<void> {
  await m.waitForLeader(30_000);
  const end = Date.now() + 30_000;
  for (;;) {
    try {
      await m.store.update((tx) => {
        tx.clusters.create(Cluster.fromPartial({
          id: o.clusterId,
          spec: {
            annotations: { name: 'default', labels: {} },
            dispatcher: o.heartbeatMs ? { heartbeatPeriod: { nanos: BigInt(o.heartbeatMs) * 1_000_000n } } : undefined,
            encryptionConfig: { autoLockManagers: !!o.unlockKey },
          },
          unlockKey: o.unlockKey ?? '',
          rootCa: {
            caCert: Buffer.from(o.ca.certPem),
            caKey: Buffer.from(o.ca.keyPem),
            caCertHash: o.ca.hash,
            joinTokens: { worker: o.tokens.worker, manager: o.tokens.manager },
          },
          networkBootstrapKey: Buffer.alloc(0),
          defaultAddressPool: [...pool.cidrs],
          defaultAddressPoolMaskLength: pool.maskLength,
        }));
        tx.nodes.create(Node.fromPartial({
          id: o.nodeId,
          spec: { annotations: { name: '', labels: {} }, desiredRole: NodeRole.MANAGER, availability: 0 },
          description: hostDescription(),
          status: { state: 0, message: 'initialised the cluster', addr: hostOf(o.advertise) },
          managerStatus: { raftId: o.raftId, addr: o.advertise, leader: true, reachability: 2 },
          role: NodeRole.MANAGER,
          certificateSerial: '',
        }));
      });
      return;
    } catch (err) {
      // the single member may still be campaigning
      if (!(err instanceof NoLeaderError || err instanceof NotLeaderError) || Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
