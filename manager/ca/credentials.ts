// TLS credentials for grpc-js from a node's certificates. Servers request a client certificate
// without requiring it (the CA must be reachable before a node has one) and authorise per call
// (identity.ts); clients verify the server chains to the cluster root and is a manager.
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { experimental } from '@grpc/grpc-js';
import { RenewableCertificates } from './renewable.js';
import { ROLE_OU } from './x509.js';

export interface NodeCertificates {
  keyPem: string;
  certPem: string;
  rootPem: string;
}

class StaticProvider implements experimental.CertificateProvider {
  constructor(
    private readonly ca: Buffer | null,
    private readonly identity: { certificate: Buffer; privateKey: Buffer } | null,
  ) {}
  // Listeners are called on the next tick: grpc-js registers the server's watcher only after
  // asking the provider, so a synchronous answer would be lost and every connection dropped.
  addCaCertificateListener(l: experimental.CaCertificateUpdateListener): void {
    setImmediate(() => l(this.ca ? { caCertificate: this.ca } : null));
  }
  removeCaCertificateListener(): void {}
  addIdentityCertificateListener(l: experimental.IdentityCertificateUpdateListener): void {
    setImmediate(() => l(this.identity));
  }
  removeIdentityCertificateListener(): void {}
}

/**
 * Server credentials; with RenewableCertificates, new handshakes follow its replace().
 * requireClientCert: refuse a handshake without a certificate of this cluster (the Raft port);
 * by default one is requested but optional (the cluster API, where joining nodes have none).
 */
export function serverCredentials(nc: NodeCertificates, opts: { requireClientCert?: boolean } = {}): grpc.ServerCredentials {
  // One provider answers both roles: grpc-js 1.14 swaps the two provider arguments between
  // createCertificateProviderServerCredentials and the class it builds.
  const both =
    nc instanceof RenewableCertificates
      ? nc
      : new StaticProvider(Buffer.from(nc.rootPem), { certificate: Buffer.from(nc.certPem), privateKey: Buffer.from(nc.keyPem) });
  return experimental.createCertificateProviderServerCredentials(both, both, opts.requireClientCert ?? false);
}

/** Accepts a server whose (already chain-verified) certificate is a manager's of this cluster. */
function managerIdentity(_host: string, cert: PeerCertificate): Error | undefined {
  const ou = cert.subject?.OU;
  const ous = Array.isArray(ou) ? ou : [ou];
  return ous.includes(ROLE_OU.manager) ? undefined : new Error('the server is not a manager of this cluster');
}

/** Client credentials; with RenewableCertificates, new connections follow its replace(). */
export function clientCredentials(nc: NodeCertificates): grpc.ChannelCredentials {
  if (nc instanceof RenewableCertificates) {
    return experimental.createCertificateProviderChannelCredentials(nc, nc, { checkServerIdentity: managerIdentity });
  }
  return grpc.credentials.createSsl(Buffer.from(nc.rootPem), Buffer.from(nc.keyPem), Buffer.from(nc.certPem), {
    checkServerIdentity: managerIdentity,
  });
}

/** For a node that has the root certificate (checked against its token) but no certificate yet. */
export function pinnedRootCredentials(rootPem: string): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(Buffer.from(rootPem), null, null, { checkServerIdentity: managerIdentity });
}

/** Only to fetch the root certificate, whose hash the caller then compares with its token. */
export function unverifiedCredentials(): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(null, null, null, { rejectUnauthorized: false });
}
