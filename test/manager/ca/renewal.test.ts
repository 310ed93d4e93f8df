// Certificate renewal over real TLS on loopback: RenewableCertificates swap the identity of
// servers and clients for new connections while open connections keep working, also after the
// old certificate expired; an expired certificate cannot open a connection; the key/cert pair
// on disk survives a crash at any step of its replacement; the CA's validity policy.
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CertificateError,
  DEFAULT_NODE_CERT_EXPIRY_MS,
  MIN_NODE_CERT_EXPIRY_MS,
  NodeAuthenticator,
  RenewableCertificates,
  certificateInfo,
  clientCredentials,
  createNodeKeyAndCSR,
  createRootCA,
  loadNodeCertificates,
  nodeCertExpiryMs,
  saveNodeCertificates,
  serverCredentials,
  signNodeCertificate,
  type NodeCertificates,
  type NodeRoleName,
  type RootCA,
} from '../../../manager/ca/index.js';

const clusterId = 'shoalcr-cluster';
const passthrough = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
const PeerService = {
  peer: { path: '/test.Peer/Peer', requestStream: false, responseStream: false, requestSerialize: passthrough.serialize, requestDeserialize: passthrough.deserialize, responseSerialize: passthrough.serialize, responseDeserialize: passthrough.deserialize },
};
const PeerClient = grpc.makeGenericClientConstructor(PeerService, 'Peer');

async function issue(ca: RootCA, nodeId: string, role: NodeRoleName, expiryMs?: number): Promise<NodeCertificates> {
  const { keyPem, csrPem } = await createNodeKeyAndCSR();
  const certPem = await signNodeCertificate({ csrPem, nodeId, role, clusterId, ca, expiryMs, addresses: ['127.0.0.1'] });
  return { keyPem, certPem, rootPem: ca.certPem };
}

/** Answers with the serial of the client certificate the call arrived with, after authorising it. */
function peerOf(client: grpc.Client): Promise<string> {
  return new Promise((resolve, reject) => {
    (client as unknown as Record<string, (r: Buffer, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: Buffer) => void) => void>).peer!(
      Buffer.alloc(0),
      { deadline: Date.now() + 5_000 },
      (e, r) => (e ? reject(e) : resolve(r.toString())),
    );
  });
}

const serial = (nc: NodeCertificates): string => certificateInfo(nc.certPem).serial.toLowerCase();

describe('renewable certificates over real TLS', () => {
  let ca: RootCA;
  let server: grpc.Server;
  let serverCerts: RenewableCertificates;
  let addr: string;
  const clients: grpc.Client[] = [];
  const track = <T extends grpc.Client>(c: T): T => (clients.push(c), c);

  beforeAll(async () => {
    ca = await createRootCA({ clusterId });
    serverCerts = new RenewableCertificates(await issue(ca, 'shoalcr-manager', 'manager'));
    const auth = new NodeAuthenticator(ca.certPem);
    server = new grpc.Server();
    server.addService(PeerService, {
      peer: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        try {
          auth.requireRole(call, 'worker');
          const cert = call.getAuthContext()?.sslPeerCertificate;
          cb(null, Buffer.from(String(cert?.serialNumber ?? '').toLowerCase()));
        } catch (e) {
          cb(e as grpc.ServiceError);
        }
      },
    });
    const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', serverCredentials(serverCerts), (e, p) => (e ? rej(e) : res(p))));
    addr = `127.0.0.1:${port}`;
  });
  afterAll(() => {
    for (const c of clients) c.close();
    server?.forceShutdown();
  });

  it('a client renews: new connections use the new certificate, the open one keeps working past the old one\'s expiry', async () => {
    const first = await issue(ca, 'shoalcr-worker', 'worker', 4_000);
    const certs = new RenewableCertificates(first);
    const open = track(new PeerClient(addr, clientCredentials(certs)));
    expect(await peerOf(open)).toBe(serial(first));

    const second = await issue(ca, 'shoalcr-worker', 'worker');
    certs.replace(second);
    expect(serial(certs)).toBe(serial(second));
    expect(await peerOf(open)).toBe(serial(first)); // the open connection: unchanged, still authorised
    // a new connection (own subchannel pool: grpc-js would otherwise share the open one)
    const fresh = track(new PeerClient(addr, clientCredentials(certs), { 'grpc.use_local_subchannel_pool': 1 }));
    expect(await peerOf(fresh)).toBe(serial(second));

    // past the first certificate's end: its connection still works, a new one with it cannot be made
    const end = certificateInfo(first.certPem).notAfterMs;
    while (Date.now() <= end + 1_000) await new Promise((r) => setTimeout(r, 200));
    expect(await peerOf(open)).toBe(serial(first));
    const expired = track(new PeerClient(addr, clientCredentials(first), { 'grpc.use_local_subchannel_pool': 1 }));
    await expect(peerOf(expired)).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    expect(await peerOf(fresh)).toBe(serial(second));
  }, 30_000);

  it('a server renews: new handshakes present the new certificate', async () => {
    const seen: string[] = [];
    const worker = await issue(ca, 'shoalcr-worker-2', 'worker');
    const watching = (): grpc.ChannelCredentials =>
      grpc.credentials.createSsl(Buffer.from(worker.rootPem), Buffer.from(worker.keyPem), Buffer.from(worker.certPem), {
        checkServerIdentity: (_h, cert) => void seen.push(String(cert.serialNumber).toLowerCase()),
      });
    await peerOf(track(new PeerClient(addr, watching(), { 'grpc.use_local_subchannel_pool': 1 })));
    const before = serial(serverCerts);
    expect(seen).toEqual([before]);
    const next = await issue(ca, 'shoalcr-manager', 'manager');
    serverCerts.replace(next);
    await peerOf(track(new PeerClient(addr, watching(), { 'grpc.use_local_subchannel_pool': 1 })));
    expect(seen).toEqual([before, serial(next)]);
  });
});

describe('the certificate pair on disk', () => {
  let dir: string;
  let ca: RootCA;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'shoalcr-'));
    ca = await createRootCA({ clusterId });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function fresh(name: string): Promise<{ d: string; old: NodeCertificates; next: NodeCertificates }> {
    const d = path.join(dir, name);
    const old = await issue(ca, 'shoalcr-node', 'worker');
    await saveNodeCertificates(d, old);
    return { d, old, next: await issue(ca, 'shoalcr-node', 'worker') };
  }

  it('saves and loads a renewable set; a renewal replaces key and certificate together', async () => {
    const { d, next } = await fresh('plain');
    await saveNodeCertificates(d, next);
    const loaded = await loadNodeCertificates(d);
    expect(loaded).toBeInstanceOf(RenewableCertificates);
    expect(loaded!.snapshot()).toEqual(next);
  });

  it('a crash after both new files were written: the new pair is put in place on load', async () => {
    const { d, next } = await fresh('both-next');
    await writeFile(path.join(d, 'node.key.next'), next.keyPem, { mode: 0o600 });
    await writeFile(path.join(d, 'node.crt.next'), next.certPem);
    expect((await loadNodeCertificates(d))!.snapshot()).toEqual(next);
    expect((await loadNodeCertificates(d))!.snapshot()).toEqual(next);
  });

  it('a crash between the two renames (new key, old certificate): the new certificate follows', async () => {
    const { d, next } = await fresh('between');
    await writeFile(path.join(d, 'node.key.next'), next.keyPem, { mode: 0o600 });
    await writeFile(path.join(d, 'node.crt.next'), next.certPem);
    await rename(path.join(d, 'node.key.next'), path.join(d, 'node.key'));
    expect((await loadNodeCertificates(d))!.snapshot()).toEqual(next);
  });

  it('a crash while the new key was being written: the old pair stays, the stray key goes', async () => {
    const { d, old, next } = await fresh('half');
    await writeFile(path.join(d, 'node.key.next'), next.keyPem, { mode: 0o600 });
    expect((await loadNodeCertificates(d))!.snapshot()).toEqual(old);
    await expect(readFile(path.join(d, 'node.key.next'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a key that is not the certificate\'s is refused with the fix', async () => {
    const { d, next } = await fresh('mismatch');
    await writeFile(path.join(d, 'node.key'), next.keyPem);
    await expect(loadNodeCertificates(d)).rejects.toThrow(CertificateError);
    await expect(loadNodeCertificates(d)).rejects.toThrow(/join again/);
  });
});

describe('node certificate validity', () => {
  it('follows ca_config.node_cert_expiry, 90 days by default, never under an hour unless a test overrides it', () => {
    const d = (ms: number) => ({ nodeCertExpiry: { nanos: BigInt(ms) * 1_000_000n } });
    expect(nodeCertExpiryMs(undefined)).toBe(DEFAULT_NODE_CERT_EXPIRY_MS);
    expect(DEFAULT_NODE_CERT_EXPIRY_MS).toBe(90 * 86_400_000);
    expect(nodeCertExpiryMs(d(2 * 3_600_000))).toBe(2 * 3_600_000);
    expect(nodeCertExpiryMs(d(60_000))).toBe(MIN_NODE_CERT_EXPIRY_MS);
    expect(nodeCertExpiryMs(d(60_000), 30_000)).toBe(30_000);
  });

  it('a short certificate is backdated by a tenth of its lifetime, so its renewal point lies ahead', async () => {
    const ca = await createRootCA({ clusterId });
    const before = Date.now();
    const nc = await issue(ca, 'shoalcr-node', 'worker', 30_000);
    const info = certificateInfo(nc.certPem);
    // X.509 times have whole seconds
    expect(info.notAfterMs - info.notBeforeMs).toBeGreaterThanOrEqual(31_000);
    expect(info.notAfterMs - info.notBeforeMs).toBeLessThanOrEqual(35_000);
    expect(info.notBeforeMs + 0.5 * (info.notAfterMs - info.notBeforeMs)).toBeGreaterThan(before);
  });
});
