// The joining side: a node with a token and a manager's address gets its certificate. It trusts
// nothing until the root certificate it is shown hashes to what its token pins.
import * as grpc from '@grpc/grpc-js';
import { NodeCAClient } from '../../proto/gen/ca.js';
import { NodeRole, type NodeDescription } from '../../proto/gen/types.js';
import { pinnedRootCredentials, unverifiedCredentials, type NodeCertificates } from './credentials.js';
import { CAHashMismatchError, CertificateError, InvalidJoinTokenError, ManagerUnreachableError, NodeRemovedError, type CAError } from './errors.js';
import { saveNodeCertificates } from './files.js';
import { RenewableCertificates } from './renewable.js';
import { parseJoinToken } from './tokens.js';
import { certificateHash, createNodeKeyAndCSR, verifyNodeCertificate, type NodeRoleName } from './x509.js';

export interface BootstrapOptions {
  remoteAddr: string; // host:port of a manager
  token: string;
  certDir: string; // where the certificates are saved (SHOAL_ROOT/certificates)
  advertiseAddr?: string;
  description?: NodeDescription;
  timeoutMs?: number;
}

export interface BootstrapResult {
  nodeId: string;
  role: NodeRoleName;
  clusterId: string;
  /** Renewable in place: credentials made from it follow later renewals. */
  certs: RenewableCertificates;
}

function deadline(ms: number): grpc.Deadline {
  return new Date(Date.now() + ms);
}

function unary<Req, Res>(
  fn: (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: Res) => void) => unknown,
  req: Req,
  timeoutMs: number,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn(req, new grpc.Metadata(), { deadline: deadline(timeoutMs) }, (e, r) => (e ? reject(e) : resolve(r)));
  });
}

function unreachable(addr: string, err: grpc.ServiceError): CAError {
  return new ManagerUnreachableError(
    `cannot reach a manager at ${addr}: ${err.details || err.message}; check the address and that its port is open`,
  );
}

export async function bootstrapNode(opts: BootstrapOptions): Promise<BootstrapResult> {
  const token = parseJoinToken(opts.token);
  const timeoutMs = opts.timeoutMs ?? 10_000;

  // 1. the root certificate, over TLS we cannot verify yet; accepted only if the token pins it
  const probe = new NodeCAClient(opts.remoteAddr, unverifiedCredentials());
  let rootPem: string;
  try {
    const res = await unary(probe.getRootCaCertificate.bind(probe), {}, timeoutMs);
    rootPem = Buffer.from(res.certificate).toString();
  } catch (err) {
    throw unreachable(opts.remoteAddr, err as grpc.ServiceError);
  } finally {
    probe.close();
  }
  if (certificateHash(rootPem) !== token.caHash) {
    throw new CAHashMismatchError(
      `the manager at ${opts.remoteAddr} does not hold the CA that the join token names: wrong address, a different cluster, or someone in between; nothing was sent`,
    );
  }

  // 2. our key stays here; the CSR goes to the manager over TLS verified against that root
  const { keyPem, csrPem } = await createNodeKeyAndCSR();
  const client = new NodeCAClient(opts.remoteAddr, pinnedRootCredentials(rootPem));
  let res;
  try {
    res = await unary(
      client.issueNodeCertificate.bind(client),
      { csr: Buffer.from(csrPem), token: opts.token, nodeId: '', description: opts.description, advertiseAddr: opts.advertiseAddr ?? '' },
      timeoutMs,
    );
  } catch (err) {
    const e = err as grpc.ServiceError;
    if (e.code === grpc.status.UNAUTHENTICATED || e.code === grpc.status.INVALID_ARGUMENT) throw new InvalidJoinTokenError(e.details);
    if (e.code === grpc.status.PERMISSION_DENIED) throw new NodeRemovedError(e.details);
    throw unreachable(opts.remoteAddr, e);
  } finally {
    client.close();
  }
  const certPem = Buffer.from(res.certificate).toString();
  const identity = await verifyNodeCertificate(certPem, rootPem);
  if (identity.nodeId !== res.nodeId) throw new CertificateError('the manager returned a certificate for another node');
  const role: NodeRoleName = res.role === NodeRole.MANAGER ? 'manager' : 'worker';
  if (identity.role !== role) throw new CertificateError('the manager returned a certificate for another role');
  const certs = new RenewableCertificates({ keyPem, certPem, rootPem });
  await saveNodeCertificates(opts.certDir, certs);
  return { nodeId: identity.nodeId, role, clusterId: identity.clusterId, certs };
}
