// Who is calling: the node identity in the mutual-TLS peer certificate of a gRPC call, checked
// against the cluster root (the server requests client certificates but does not require them,
// so that a joining node can reach the CA; everything else demands an identity through this
// module). The validity period is the TLS handshake's business: grpc-js shows a peer certificate
// only when the handshake verified it (chain and dates), and a connection made with a valid
// certificate stays authorised after that certificate expires (as with Go's TLS in Swarm), so
// a node that renewed keeps its sessions. Removed nodes are refused on every call, and a manager
// certificate of a node the cluster has demoted since counts as a worker's.
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { NodeIdentity, NodeRoleName } from './x509.js';
import { ROLE_OU } from './x509.js';

export interface CallWithAuth {
  getAuthContext(): { sslPeerCertificate?: { raw?: Buffer } } | null;
}


function field(subject: string, key: string): string | undefined {
  for (const line of subject.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0 && line.slice(0, i) === key) return line.slice(i + 1);
  }
  return undefined;
}

export class NodeAuthenticator {
  private readonly root: X509Certificate;
  private readonly cache = new Map<string, NodeIdentity | null>();

  constructor(
    rootPem: string,
    private readonly opts: {
      isRemoved?: (nodeId: string) => boolean;
      /** The role the cluster holds for the node now: a demoted manager keeps a valid manager
       *  certificate until it renews, and must be treated as the worker it is. */
      currentRole?: (nodeId: string) => NodeRoleName | undefined;
    } = {},
  ) {
    this.root = new X509Certificate(rootPem);
  }

  /** The caller's identity, or null when it presented no certificate of this cluster. */
  identify(call: CallWithAuth): NodeIdentity | null {
    const raw = call.getAuthContext()?.sslPeerCertificate?.raw;
    return raw ? this.identifyCertificate(raw) : null;
  }

  /** The same for a peer certificate's DER (a TLS handshake verified it) however it was obtained. */
  identifyCertificate(raw: Buffer): NodeIdentity | null {
    if (raw.length === 0) return null;
    const key = raw.toString('base64');
    let hit = this.cache.get(key);
    if (hit === undefined) {
      hit = this.check(raw);
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(key, hit);
    }
    if (!hit) return null;
    if (this.opts.isRemoved?.(hit.nodeId)) return null;
    if (hit.role === 'manager' && this.opts.currentRole?.(hit.nodeId) === 'worker') return { ...hit, role: 'worker' };
    return hit;
  }

  private check(raw: Buffer): NodeIdentity | null {
    try {
      const cert = new X509Certificate(raw);
      if (!cert.checkIssued(this.root) || !cert.verify(this.root.publicKey)) return null;
      const nodeId = field(cert.subject, 'CN');
      const ou = field(cert.subject, 'OU');
      const clusterId = field(cert.subject, 'O');
      const role: NodeRoleName | undefined = ou === ROLE_OU.manager ? 'manager' : ou === ROLE_OU.worker ? 'worker' : undefined;
      if (!nodeId || !clusterId || !role) return null;
      return { nodeId, role, clusterId };
    } catch {
      return null;
    }
  }

  /** The identity in the caller's certificate even if that node was removed (to tell it so). */
  presented(call: CallWithAuth): NodeIdentity | null {
    const raw = call.getAuthContext()?.sslPeerCertificate?.raw;
    if (!raw || raw.length === 0) return null;
    return this.cache.get(raw.toString('base64')) ?? this.check(raw);
  }

  /** The caller's identity if it has `role` (a manager may do what a worker may), else a gRPC error. */
  requireRole(call: CallWithAuth, role: NodeRoleName): NodeIdentity {
    const id = this.identify(call);
    if (!id) throw grpcError(grpc.status.UNAUTHENTICATED, 'a valid node certificate of this cluster is required');
    if (role === 'manager' && id.role !== 'manager') {
      throw grpcError(grpc.status.PERMISSION_DENIED, `node ${id.nodeId} is a worker: only managers may call this`);
    }
    return id;
  }
}

export function grpcError(code: grpc.status, details: string): grpc.ServiceError {
  const err = new Error(details) as grpc.ServiceError;
  err.code = code;
  err.details = details;
  err.metadata = new grpc.Metadata();
  return err;
}
