// Keys, certificates and signing requests of the cluster CA, through @peculiar/x509 over
// Node's WebCrypto: ECDSA P-256 everywhere, as Swarm's CA uses.
import { createHash, randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { CertificateError } from './errors.js';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;

export type NodeRoleName = 'worker' | 'manager';
export const ROLE_OU: Record<NodeRoleName, string> = { worker: 'shoal-worker', manager: 'shoal-manager' };

/** What a node certificate says about its holder. */
export interface NodeIdentity {
  nodeId: string;
  role: NodeRoleName;
  clusterId: string;
}

export interface RootCA {
  certPem: string;
  keyPem: string;
  /** sha256 of the certificate's DER, hex: what join tokens pin. */
  hash: string;
}

async function newKeyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function importPrivateKey(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decode(pem)[0];
  if (!der) throw new CertificateError('the CA private key is not in PEM format');
  return webcrypto.subtle.importKey('pkcs8', der, EC, false, ['sign']);
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f; // positive
  return b.toString('hex');
}

export function certificateHash(certPem: string): string {
  return createHash('sha256').update(Buffer.from(parseCertificate(certPem).rawData)).digest('hex');
}

export function parseCertificate(pem: string): x509.X509Certificate {
  try {
    return new x509.X509Certificate(pem);
  } catch (err) {
    throw new CertificateError(`not a valid PEM certificate: ${(err as Error).message}`);
  }
}

export async function createRootCA(opts: { clusterId: string; expiryYears?: number }): Promise<RootCA> {
  const keys = await newKeyPair();
  const now = new Date();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=shoal-root-ca, O=${opts.clusterId}`,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + (opts.expiryYears ?? 20) * 365 * 86_400_000),
    signingAlgorithm: SIGN,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const certPem = cert.toString('pem');
  return { certPem, keyPem: await privateKeyPem(keys.privateKey), hash: certificateHash(certPem) };
}

/** The node's own key and a signing request for it; the key never leaves the node. */
export async function createNodeKeyAndCSR(): Promise<{ keyPem: string; csrPem: string }> {
  const keys = await newKeyPair();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=shoal-node',
    keys,
    signingAlgorithm: SIGN,
  });
  return { keyPem: await privateKeyPem(keys.privateKey), csrPem: csr.toString('pem') };
}

const DEFAULT_EXPIRY_MS = 90 * 86_400_000;

export interface SignRequest {
  csrPem: string;
  nodeId: string;
  role: NodeRoleName;
  clusterId: string;
  ca: Pick<RootCA, 'certPem' | 'keyPem'>;
  expiryMs?: number;
  /** Extra subject alternative names (a manager's advertise address). */
  addresses?: string[];
}

const IP_RE = /^(\d{1,3}\.){3}\d{1,3}$|:/;

export async function signNodeCertificate(req: SignRequest): Promise<string> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(req.csrPem);
  } catch (err) {
    throw new CertificateError(`the certificate signing request is malformed: ${(err as Error).message}`);
  }
  if (!(await csr.verify())) throw new CertificateError('the certificate signing request has a bad signature');
  const caCert = parseCertificate(req.ca.certPem);
  const caKey = await importPrivateKey(req.ca.keyPem);
  const now = Date.now();
  const expiry = req.expiryMs ?? DEFAULT_EXPIRY_MS;
  // Backdated for clocks a little behind ours, but by a small part of a short lifetime: renewal
  // is planned at 50-80% of notBefore..notAfter, and a long backdate would make it due at once.
  const backdate = Math.min(60_000, Math.floor(expiry / 10));
  const names: x509.JsonGeneralName[] = [
    { type: 'dns', value: req.nodeId },
    { type: 'dns', value: ROLE_OU[req.role] },
  ];
  for (const a of req.addresses ?? []) names.push({ type: IP_RE.test(a) ? 'ip' : 'dns', value: a });
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${req.nodeId}, OU=${ROLE_OU[req.role]}, O=${req.clusterId}`,
    issuer: caCert.subject,
    notBefore: new Date(now - backdate),
    notAfter: new Date(now + expiry),
    signingAlgorithm: SIGN,
    publicKey: csr.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return cert.toString('pem');
}

function subjectField(cert: x509.X509Certificate, oid: string): string | undefined {
  return cert.subjectName.getField(oid)[0];
}

/** Reads who a certificate belongs to; throws CertificateError if it is no shoal node certificate. */
export function identityOf(cert: x509.X509Certificate): NodeIdentity {
  const nodeId = subjectField(cert, 'CN');
  const ou = subjectField(cert, 'OU');
  const clusterId = subjectField(cert, 'O');
  const role = ou === ROLE_OU.manager ? 'manager' : ou === ROLE_OU.worker ? 'worker' : undefined;
  if (!nodeId || !role || !clusterId) throw new CertificateError('the certificate is not a shoal node certificate');
  return { nodeId, role, clusterId };
}

/** Checks that `certPem` was signed by the root and is in its validity period now. */
export async function verifyNodeCertificate(certPem: string | Uint8Array, rootPem: string, now = new Date()): Promise<NodeIdentity> {
  const cert = typeof certPem === 'string' ? parseCertificate(certPem) : new x509.X509Certificate(certPem);
  const root = parseCertificate(rootPem);
  const ok = await cert.verify({ publicKey: root.publicKey, date: now });
  if (!ok) throw new CertificateError('the certificate is not signed by this cluster\'s CA, or has expired');
  return identityOf(cert);
}

/** What a node needs to know about its own certificate to plan the renewal. */
export interface CertificateInfo extends NodeIdentity {
  serial: string;
  notBeforeMs: number;
  notAfterMs: number;
}

export function certificateInfo(certPem: string): CertificateInfo {
  const cert = parseCertificate(certPem);
  return { ...identityOf(cert), serial: cert.serialNumber, notBeforeMs: cert.notBefore.getTime(), notAfterMs: cert.notAfter.getTime() };
}
