// An autolocked manager's node.key on disk is an encrypted PKCS#8 PEM (manager/ca/files.ts): it
// loads only with the passphrase from the manager's unlocked keys, and a renewal keeps it so.
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createNodeKeyAndCSR, createRootCA, loadNodeCertificates, nodeKeyIsEncrypted, saveNodeCertificates, signNodeCertificate } from '../../../manager/ca/index.js';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'shoalnk-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function pair(ca: Awaited<ReturnType<typeof createRootCA>>) {
  const { keyPem, csrPem } = await createNodeKeyAndCSR();
  const certPem = await signNodeCertificate({ csrPem, nodeId: 'n1', role: 'manager', clusterId: 'c1', ca, addresses: ['127.0.0.1'] });
  return { keyPem, certPem, rootPem: ca.certPem };
}

describe('node.key under autolock', () => {
  it('is encrypted on disk, loads only with its passphrase, and can be stored plainly again', async () => {
    const ca = await createRootCA({ clusterId: 'c1' });
    const nc = await pair(ca);
    const pass = Buffer.from('a'.repeat(64));
    await saveNodeCertificates(dir, nc, pass);
    const onDisk = await readFile(path.join(dir, 'node.key'), 'utf8');
    expect(onDisk).toContain('ENCRYPTED PRIVATE KEY');
    expect(onDisk).not.toContain(nc.keyPem.split('\n')[1]!);
    expect(await nodeKeyIsEncrypted(dir)).toBe(true);
    await expect(loadNodeCertificates(dir)).rejects.toThrow(/node\.key is encrypted \(autolock\).*shoal unlock/);
    await expect(loadNodeCertificates(dir, Buffer.from('b'.repeat(64)))).rejects.toThrow(/node\.key cannot be decrypted/);
    const loaded = await loadNodeCertificates(dir, pass);
    expect(loaded?.certPem).toBe(nc.certPem);
    // the decrypted key is the same key (it matches the certificate, which load checks)
    expect(loaded?.keyPem).toContain('BEGIN PRIVATE KEY');
    // a renewal with the passphrase keeps it encrypted; without, it is plain (autolock off)
    const renewed = await pair(ca);
    await saveNodeCertificates(dir, renewed, pass);
    expect((await loadNodeCertificates(dir, pass))?.certPem).toBe(renewed.certPem);
    await saveNodeCertificates(dir, renewed);
    expect(await nodeKeyIsEncrypted(dir)).toBe(false);
    expect((await loadNodeCertificates(dir))?.certPem).toBe(renewed.certPem);
  });
});
