// The CLI reaching a manager's cluster address with --host and a client certificate (real
// mutual TLS with certificates from manager/ca): a manager's certificate is served, a worker's
// is refused by authorize, and a missing certificate file is a one-line error.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createNodeKeyAndCSR,
  createRootCA,
  NodeAuthenticator,
  saveNodeCertificates,
  serverCredentials,
  signNodeCertificate,
  type NodeCertificates,
} from '../../manager/ca/index.js';
import { startControl, type ControlHarness } from '../manager/controlapi/harness.js';
import { expectOneLineError, runShoal } from './service-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'shoalcx-tls-'));
let h: ControlHarness;

async function certs(ca: { certPem: string; keyPem: string }, nodeId: string, role: 'manager' | 'worker'): Promise<NodeCertificates> {
  const { keyPem, csrPem } = await createNodeKeyAndCSR();
  const certPem = await signNodeCertificate({ csrPem, nodeId, role, clusterId: 'cluster1', ca, addresses: ['127.0.0.1'] });
  return { keyPem, certPem, rootPem: ca.certPem };
}

beforeAll(async () => {
  const ca = await createRootCA({ clusterId: 'cluster1' });
  await saveNodeCertificates(join(dir, 'manager'), await certs(ca, 'node2', 'manager'));
  await saveNodeCertificates(join(dir, 'worker'), await certs(ca, 'node3', 'worker'));
  const auth = new NodeAuthenticator(ca.certPem);
  h = await startControl({
    components: false,
    serverCredentials: serverCredentials(await certs(ca, 'node1', 'manager')),
    deps: { authorize: (call) => void auth.requireRole(call, 'manager') },
  });
});
afterAll(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

const shoal = (args: string[], env: Record<string, string> = {}) => runShoal(args, { SHOAL_RUN: join(dir, 'no-daemon'), ...env });

describe('shoal --host', () => {
  it('lists nodes over mutual TLS with a manager certificate (flag or SHOAL_HOST)', async () => {
    const r = await shoal(['node', 'ls', '--host', h.addr, '--cert-dir', join(dir, 'manager')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/node1\s+alpha\s+ready/);
    const env = await shoal(['service', 'ls', '-q', '--cert-dir', join(dir, 'manager')], { SHOAL_HOST: h.addr });
    expect(env.code, env.stderr).toBe(0);
    expect(env.stdout).toBe('');
  });

  it("refuses a worker's certificate in one line", async () => {
    const r = await shoal(['node', 'ls', '--host', h.addr, '--cert-dir', join(dir, 'worker')]);
    expectOneLineError(r, /node node3 is a worker: only managers may call this/);
  });

  it('names a missing certificate file', async () => {
    const r = await shoal(['node', 'ls', '--host', h.addr, '--cert-dir', join(dir, 'none')]);
    expectOneLineError(r, /cannot read the tlscert file .*none\/node\.crt: ENOENT/);
  });
});
