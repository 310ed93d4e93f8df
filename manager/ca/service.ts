// The NodeCA gRPC service: signs node certificates for holders of a valid join token (the token
// decides the role) and renews them for nodes that prove who they are with their current one.
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type {
  GetRootCACertificateRequest,
  GetRootCACertificateResponse,
  IssueNodeCertificateRequest,
  IssueNodeCertificateResponse,
  NodeCAServer,
} from '../../proto/gen/ca.js';
import { NodeRole, type NodeDescription } from '../../proto/gen/types.js';
import { CAError, CertificateError, InvalidJoinTokenError } from './errors.js';
import { grpcError, type NodeAuthenticator } from './identity.js';
import { roleForToken, type JoinTokens } from './tokens.js';
import { certificateInfo, signNodeCertificate, type NodeRoleName, type RootCA } from './x509.js';

/** Node ids in Swarm's manner: 25 base-36 digits of randomness. */
export function newNodeId(): string {
  return BigInt(`0x${randomBytes(16).toString('hex')}`).toString(36).padStart(25, '0').slice(-25);
}

export interface NewNode {
  nodeId: string;
  role: NodeRoleName;
  description: NodeDescription | undefined;
  advertiseAddr: string;
}

export interface NodeCADeps {
  /** The cluster's root CA and join tokens as the store has them now (null before init). */
  cluster(): { clusterId: string; ca: Pick<RootCA, 'certPem' | 'keyPem'>; tokens: JoinTokens } | null;
  authenticator(): NodeAuthenticator | null;
  /** Records the new node (e.g. creates its Node object) before its certificate is handed out. */
  registerNode(node: NewNode): Promise<void>;
  /** The role a known node has now, or null if it was removed or never existed. */
  currentRole(nodeId: string): NodeRoleName | null;
  /** Validity of the certificates signed now (see expiry.ts); default 90 days. */
  certExpiryMs?: () => number;
  /** One line per certificate signed (node, role, serial, renewal or join). */
  logger?: Logger;
}

function hostOf(addr: string): string | undefined {
  if (!addr) return undefined;
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(addr) ?? /^([^:]+)(?::\d+)?$/.exec(addr);
  return m?.[1];
}

export function nodeCAService(deps: NodeCADeps): NodeCAServer {
  async function issue(call: grpc.ServerUnaryCall<IssueNodeCertificateRequest, unknown>): Promise<IssueNodeCertificateResponse> {
    const c = deps.cluster();
    if (!c) throw grpcError(grpc.status.UNAVAILABLE, 'this manager has no cluster yet');
    const req = call.request;
    let nodeId: string;
    let role: NodeRoleName;
    const renewal = req.nodeId !== '';
    if (renewal) {
      // renewal: the caller proves it is that node with its current certificate
      const auth = deps.authenticator();
      const who = auth?.identify(call);
      if (!who && auth?.presented(call)?.nodeId === req.nodeId && deps.currentRole(req.nodeId) === null) {
        throw grpcError(grpc.status.PERMISSION_DENIED, `node ${req.nodeId} was removed from the cluster: run \`shoal leave --force\` on it and join again with a token`);
      }
      if (!who || who.nodeId !== req.nodeId) {
        throw grpcError(grpc.status.PERMISSION_DENIED, `renewing the certificate of node ${req.nodeId} needs that node's current certificate`);
      }
      const current = deps.currentRole(req.nodeId);
      if (!current) throw grpcError(grpc.status.PERMISSION_DENIED, `node ${req.nodeId} was removed from the cluster: join it again with a token`);
      nodeId = req.nodeId;
      role = current;
    } else {
      let granted: NodeRoleName | null;
      try {
        granted = roleForToken(req.token, c.tokens);
      } catch (err) {
        if (err instanceof InvalidJoinTokenError) throw grpcError(grpc.status.INVALID_ARGUMENT, err.message);
        throw err;
      }
      if (!granted) {
        throw grpcError(
          grpc.status.UNAUTHENTICATED,
          'the join token is not valid for this cluster (it may have been rotated): get the current one with `shoal join-token worker` or `shoal join-token manager` on a manager',
        );
      }
      role = granted;
      nodeId = newNodeId();
    }
    const host = hostOf(req.advertiseAddr);
    // Signed before a joining node is recorded, so a request that cannot be signed (a malformed
    // CSR, a bad signature) leaves no node behind; the certificate leaves only once it is recorded.
    const certPem = await signNodeCertificate({
      csrPem: Buffer.from(req.csr).toString(),
      nodeId,
      role,
      clusterId: c.clusterId,
      ca: c.ca,
      expiryMs: deps.certExpiryMs?.(),
      addresses: role === 'manager' && host ? [host] : [],
    });
    if (!renewal) await deps.registerNode({ nodeId, role, description: req.description, advertiseAddr: req.advertiseAddr });
    if (deps.logger) {
      const info = certificateInfo(certPem);
      deps.logger.info({ node: nodeId, role, serial: info.serial, renewal, notAfter: new Date(info.notAfterMs).toISOString() }, 'signed node certificate');
    }
    return {
      nodeId,
      role: role === 'manager' ? NodeRole.MANAGER : NodeRole.WORKER,
      certificate: Buffer.from(certPem),
      rootCa: Buffer.from(c.ca.certPem),
    };
  }

  return {
    issueNodeCertificate(call, callback) {
      issue(call).then(
        (res) => callback(null, res),
        (err: unknown) => {
          if (err instanceof CertificateError) return callback(grpcError(grpc.status.INVALID_ARGUMENT, err.message));
          if (err instanceof CAError) return callback(grpcError(grpc.status.FAILED_PRECONDITION, err.message));
          callback(err as grpc.ServiceError);
        },
      );
    },
    getRootCaCertificate(_call: grpc.ServerUnaryCall<GetRootCACertificateRequest, GetRootCACertificateResponse>, callback) {
      const c = deps.cluster();
      if (!c) return callback(grpcError(grpc.status.UNAVAILABLE, 'this manager has no cluster yet'));
      callback(null, { certificate: Buffer.from(c.ca.certPem) });
    },
  };
}
