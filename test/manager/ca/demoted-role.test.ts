// A demoted manager keeps a valid manager certificate until it renews: NodeAuthenticator must
// take the role the cluster holds now (currentRole), so the old certificate opens nothing that
// needs a manager. Real certificates, identities read from their DER as a TLS peer's would be.
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createNodeKeyAndCSR, createRootCA, NodeAuthenticator, signNodeCertificate, type NodeRoleName } from '../../../manager/ca/index.js';

async function der(root: Awaited<ReturnType<typeof createRootCA>>, nodeId: string, role: NodeRoleName): Promise<Buffer> {
  const { csrPem } = await createNodeKeyAndCSR();
  const pem = await signNodeCertificate({ csrPem, nodeId, role, clusterId: 'shoalcd', ca: root });
  return new X509Certificate(pem).raw;
}

const call = (raw: Buffer) => ({ getAuthContext: () => ({ sslPeerCertificate: { raw } }) });

describe('NodeAuthenticator and the current role', () => {
  it('treats a manager certificate of a node the store holds as a worker as a worker', async () => {
    const root = await createRootCA({ clusterId: 'shoalcd' });
    const roles = new Map<string, NodeRoleName>([['m1', 'manager'], ['m2', 'manager'], ['w1', 'manager']]);
    const auth = new NodeAuthenticator(root.certPem, { isRemoved: (id) => !roles.has(id), currentRole: (id) => roles.get(id) });
    const m1 = await der(root, 'm1', 'manager');
    const m2 = await der(root, 'm2', 'manager');
    const w1 = await der(root, 'w1', 'worker');
    expect(auth.requireRole(call(m1), 'manager').role).toBe('manager');
    roles.set('m2', 'worker'); // demoted: its certificate still says manager
    expect(auth.identify(call(m2))?.role).toBe('worker');
    expect(() => auth.requireRole(call(m2), 'manager')).toThrow(/m2 is a worker/);
    expect(auth.requireRole(call(m2), 'worker').nodeId).toBe('m2'); // still a node of the cluster
    // promoted in the store, not yet renewed: the certificate's lesser role counts
    expect(auth.identify(call(w1))?.role).toBe('worker');
    roles.delete('m1');
    expect(auth.identify(call(m1))).toBeNull();
  }, 30_000);
});
