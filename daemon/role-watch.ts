// How a node learns that it was promoted or demoted: every few seconds it renews its certificate
// (NodeCA with its node id, authenticated by the current certificate); the answer carries the
// role the managers hold for it now. A changed role comes with a certificate for that role.
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { NodeCAClient, type IssueNodeCertificateResponse } from '../proto/gen/ca.js';
import { NodeRole } from '../proto/gen/types.js';
import { clientCredentials, createNodeKeyAndCSR, type NodeCertificates } from '../manager/ca/index.js';

export interface RoleAnswer {
  role: 'worker' | 'manager';
  certs: NodeCertificates;
}

/** Asks the managers at addrs (first that answers) for a fresh certificate of this node. */
export async function renewCertificate(addrs: string[], certs: NodeCertificates, nodeId: string, advertiseAddr: string): Promise<RoleAnswer> {
  const { keyPem, csrPem } = await createNodeKeyAndCSR();
  let last: unknown;
  for (const addr of addrs) {
    const client = new NodeCAClient(addr, clientCredentials(certs));
    try {
      const res = await new Promise<IssueNodeCertificateResponse>((resolve, reject) =>
        client.issueNodeCertificate(
          { csr: Buffer.from(csrPem), token: '', nodeId, description: undefined, advertiseAddr },
          new Metadata(),
          { deadline: new Date(Date.now() + 5_000) },
          (e: ServiceError | null, r: IssueNodeCertificateResponse) => (e ? reject(e) : resolve(r)),
        ),
      );
      return {
        role: res.role === NodeRole.MANAGER ? 'manager' : 'worker',
        certs: { keyPem, certPem: Buffer.from(res.certificate).toString(), rootPem: Buffer.from(res.rootCa).toString() },
      };
    } catch (err) {
      last = err;
    } finally {
      client.close();
    }
  }
  throw last instanceof Error ? last : new Error('no manager answered');
}
