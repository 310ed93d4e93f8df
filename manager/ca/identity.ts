// Who is calling: the node identity in the mutual-TLS peer certificate of a gRPC call, checked
// against the cluster root on every new certificate (the server requests client certificates
// but does not require them, so that a joining node can reach the CA; everything else
// demands an identity through this module).
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { NodeIdentity, NodeRoleName } from './x509.js';
import { ROLE_OU } from './x509.js';

export interface CallWithAuth {
  getAuthContext(): { sslPeerCertificate?: { raw?: Buffer } } | null;
}

interface Cached {
  identity: NodeIdentity | null;
  validToMs: number;
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
  private readonly cache = new Map<string, Cached>();

  constructor(
    rootPem: string,
    private readonly opts: { isRemoved?: (nodeId: string) => boolean; now?: () => number } = {},
  ) {
    this.root = new X509Certificate(rootPem);
  }

  /** The caller's identity, or null when it presented no certificate of this cluster. */
  identify(call: CallWithAuth): NodeIdentity | null {
    const raw = call.getAuthContext()?.sslPeerCertificate?.raw;
    if (!raw || raw.length === 0) return null;
    const key = raw.toString('base64');
    const now = this.opts.now?.() ?? Date.now();
    let hit = this.cache.get(key);
    if (!hit || now > hit.validToMs) {
      hit = this.check(raw, now);
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(key, hit);
    }
    if (!hit.identity) return null;
    if (this.opts.isRemoved?.(hit.identity.nodeId)) return null;
    return hit.identity;
  }

  private check(raw: Buffer, now: number): Cached {
    try {
      const cert = new X509Certificate(raw);
      const validTo = Date.parse(cert.validTo);
      const validFrom = Date.parse(cert.validFrom);
      if (!cert.checkIssued(this.root) || !cert.verify(this.root.publicKey)) return { identity: null, validToMs: Infinity };
      if (now < validFrom || now > validTo) return { identity: null, validToMs: Infinity };
      const nodeId = field(cert.subject, 'CN');
      const ou = field(cert.subject, 'OU');
      const clusterId = field(cert.subject, 'O');
      const role: NodeRoleName | undefined = ou === ROLE_OU.manager ? 'manager' : ou === ROLE_OU.worker ? 'worker' : undefined;
      if (!nodeId || !clusterId || !role) return { identity: null, validToMs: Infinity };
      return { identity: { nodeId, role, clusterId }, validToMs: validTo };
    } catch {
      return { identity: null, validToMs: Infinity };
    }
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
