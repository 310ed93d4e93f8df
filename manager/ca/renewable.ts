// A node's certificates that can be replaced while the node runs. grpc-js servers and channels
// built from one (credentials.ts) take their TLS identity from its certificate provider: after
// replace(), every new connection (server side: every new handshake; client side: every new
// subchannel connection) uses the new key and certificate. Connections already open keep the
// identity they were made with; their calls stay authorised (identity.ts trusts the handshake).
import type { experimental } from '@grpc/grpc-js';
import type { NodeCertificates } from './credentials.js';

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

export class RenewableCertificates implements NodeCertificates, experimental.CertificateProvider {
  // Own fields, not getters: a spread ({ ...certs }) or a read at start-up sees the current set.
  keyPem: string;
  certPem: string;
  rootPem: string;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly changeListeners = new Set<(nc: NodeCertificates) => void>();

  constructor(nc: NodeCertificates) {
    this.keyPem = nc.keyPem;
    this.certPem = nc.certPem;
    this.rootPem = nc.rootPem;
  }

  /** The current set as a plain object (a snapshot). */
  snapshot(): NodeCertificates {
    return { keyPem: this.keyPem, certPem: this.certPem, rootPem: this.rootPem };
  }

  /** Makes nc the node's identity for every connection made from now on. */
  replace(nc: NodeCertificates): void {
    const rootChanged = nc.rootPem !== this.rootPem;
    this.keyPem = nc.keyPem;
    this.certPem = nc.certPem;
    this.rootPem = nc.rootPem;
    if (rootChanged) for (const l of this.caListeners) l(this.caUpdate());
    for (const l of this.identityListeners) l(this.identityUpdate());
    for (const l of this.changeListeners) l(this.snapshot());
  }

  /** Called after every replace(); returns the function that unsubscribes. */
  onChange(fn: (nc: NodeCertificates) => void): () => void {
    this.changeListeners.add(fn);
    return () => this.changeListeners.delete(fn);
  }

  // grpc-js registers its watcher only after asking the provider: the first answer must come
  // on a later tick or it is lost (and every connection dropped).
  addCaCertificateListener(l: CaListener): void {
    this.caListeners.add(l);
    setImmediate(() => this.caListeners.has(l) && l(this.caUpdate()));
  }

  removeCaCertificateListener(l: CaListener): void {
    this.caListeners.delete(l);
  }

  addIdentityCertificateListener(l: IdentityListener): void {
    this.identityListeners.add(l);
    setImmediate(() => this.identityListeners.has(l) && l(this.identityUpdate()));
  }

  removeIdentityCertificateListener(l: IdentityListener): void {
    this.identityListeners.delete(l);
  }

  private caUpdate(): experimental.CaCertificateUpdate {
    return { caCertificate: Buffer.from(this.rootPem) };
  }

  private identityUpdate(): experimental.IdentityCertificateUpdate {
    return { certificate: Buffer.from(this.certPem), privateKey: Buffer.from(this.keyPem) };
  }
}

/** The same object if it already is renewable, else a renewable copy. */
export function renewable(nc: NodeCertificates): RenewableCertificates {
  return nc instanceof RenewableCertificates ? nc : new RenewableCertificates(nc);
}
