// The manager's cluster API: one mutual-TLS gRPC server on the listen address (port 4243) with
// NodeCA (joining nodes), Dispatcher (agents), RaftMembership (joining managers) and, once the
// control API is wired, Control. The Raft transport keeps its own server on the next port.
import { Metadata, Server, status, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { NodeCAClient, NodeCAService, RaftMembershipService, type NodeCAServer } from '../proto/gen/ca.js';
import { DispatcherService } from '../proto/gen/dispatcher.js';
import { Node, NodeRole } from '../proto/gen/types.js';
import { clientCredentials, NodeAuthenticator, nodeCAService, nodeCertExpiryMs, serverCredentials, type NodeCertificates, type NodeRoleName } from '../manager/ca/index.js';
import { dispatcherService, type IdentifyFn } from '../manager/dispatcher/index.js';
import { raftMembershipService, type Manager } from '../manager/node/index.js';
import type { MemoryStore } from '../manager/store/index.js';

export interface ExtraService {
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
}

/** Who a caller is, from its client certificate; removed nodes are refused, demoted ones are workers. */
export function authenticatorFor(rootPem: string, store: MemoryStore): NodeAuthenticator {
  return new NodeAuthenticator(rootPem, {
    isRemoved: (id) => store.view((tx) => tx.nodes.get(id)) === undefined,
    currentRole: (id) => {
      const n = store.view((tx) => tx.nodes.get(id));
      return n === undefined ? undefined : n.role === NodeRole.MANAGER ? 'manager' : 'worker';
    },
  });
}

export function identifyWith(auth: () => NodeAuthenticator): IdentifyFn {
  return (call) => {
    const id = auth().identify(call);
    if (!id) throw new Error('a valid node certificate of this cluster is required');
    return { nodeId: id.nodeId, role: id.role === 'manager' ? NodeRole.MANAGER : NodeRole.WORKER };
  };
}

export async function startClusterApi(o: {
  listen: string;
  certs: NodeCertificates;
  manager: Manager;
  auth: NodeAuthenticator;
  /** Tests only: overrides the cluster's node_cert_expiry (see manager/ca/expiry.ts). */
  certExpiryMs?: number;
  extra?: ExtraService[];
  logger: Logger;
}): Promise<Server> {
  const store = o.manager.store;
  const server = new Server({ 'grpc.keepalive_permit_without_calls': 1, 'grpc.http2.min_ping_interval_without_data_ms': 5_000 } as Record<string, number>);
  const ca = nodeCAService({
      cluster: () => {
        const c = store.view((tx) => tx.clusters.all()[0]);
        const ca = c?.rootCa;
        if (!c || !ca) return null;
        return {
          clusterId: c.id,
          ca: { certPem: Buffer.from(ca.caCert).toString(), keyPem: Buffer.from(ca.caKey).toString() },
          tokens: { worker: ca.joinTokens?.worker ?? '', manager: ca.joinTokens?.manager ?? '' },
        };
      },
      authenticator: () => o.auth,
      certExpiryMs: () => nodeCertExpiryMs(store.view((tx) => tx.clusters.all()[0])?.spec?.caConfig, o.certExpiryMs),
      logger: o.logger.child({ component: 'ca' }),
      registerNode: async (n) => {
        await store.update((tx) => {
          if (tx.nodes.get(n.nodeId)) return;
          const role = roleOf(n.role);
          tx.nodes.create(Node.fromPartial({
            id: n.nodeId,
            spec: { annotations: { name: '', labels: {} }, desiredRole: role, availability: 0 },
            description: n.description,
            status: { state: 0, message: 'joined', addr: hostOf(n.advertiseAddr) },
            role,
            certificateSerial: '',
          }));
        });
      },
      currentRole: (id) => {
        const n = store.view((tx) => tx.nodes.get(id));
        if (!n) return null;
        return n.role === NodeRole.MANAGER ? 'manager' : 'worker';
      },
    });
  server.addService(NodeCAService, forwardJoinsToLeader(ca, o.manager, o.certs));
  server.addService(DispatcherService, dispatcherService(o.manager.dispatcher));
  server.addService(RaftMembershipService, raftMembershipService(o.manager.membership, identifyWith(() => o.auth)));
  for (const s of o.extra ?? []) server.addService(s.definition, s.implementation);
  await new Promise<number>((resolve, reject) =>
    server.bindAsync(o.listen, serverCredentials(o.certs), (err, port) => (err ? reject(err) : resolve(port))),
  );
  o.logger.info({ listen: o.listen }, 'cluster API listening');
  return server;
}

/** A join (token, no node id) writes a new Node, which only the leader can: a follower passes the
 *  request on to the leader with its own manager certificate and relays the answer. */
function forwardJoinsToLeader(local: NodeCAServer, m: Manager, certs: NodeCertificates): NodeCAServer {
  return {
    ...local,
    issueNodeCertificate(call, cb) {
      if (m.isLeader || call.request.nodeId) return local.issueNodeCertificate(call, cb);
      const leader = m.leaderApiAddr();
      if (!leader) {
        cb({ code: status.UNAVAILABLE, details: 'no manager leads right now (election under way or no quorum); retry the join in a few seconds' });
        return;
      }
      const client = new NodeCAClient(leader, clientCredentials(certs));
      client.issueNodeCertificate(call.request, new Metadata(), { deadline: new Date(Date.now() + 15_000) }, (err, res) => {
        client.close();
        cb(err, res);
      });
    },
  };
}

function roleOf(r: NodeRoleName): NodeRole {
  return r === 'manager' ? NodeRole.MANAGER : NodeRole.WORKER;
}

function hostOf(addr: string): string {
  const i = addr.lastIndexOf(':');
  return i > 0 ? addr.slice(0, i) : addr;
}
