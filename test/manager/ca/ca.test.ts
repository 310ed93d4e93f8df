// The CA over real TLS on loopback: joining with tokens, identities from peer certificates,
// roles enforced per call, and every way a join can be refused.
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeCAClient, NodeCAService } from '../../../proto/gen/ca.js';
import {
  CAHashMismatchError,
  InvalidJoinTokenError,
  NodeAuthenticator,
  bootstrapNode,
  clientCredentials,
  createNodeKeyAndCSR,
  createRootCA,
  generateJoinTokens,
  loadNodeCertificates,
  nodeCAService,
  parseJoinToken,
  rotateJoinTokens,
  serverCredentials,
  signNodeCertificate,
  verifyNodeCertificate,
  type JoinTokens,
  type NewNode,
  type NodeCertificates,
  type NodeRoleName,
  type RootCA,
} from '../../../manager/ca/index.js';

// A tiny service whose handler reports the caller's identity, guarded by a role.
const passthrough = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
const WhoamiService = {
  whoami: { path: '/test.Whoami/Whoami', requestStream: false, responseStream: false, requestSerialize: passthrough.serialize, requestDeserialize: passthrough.deserialize, responseSerialize: passthrough.serialize, responseDeserialize: passthrough.deserialize },
  adminOnly: { path: '/test.Whoami/AdminOnly', requestStream: false, responseStream: false, requestSerialize: passthrough.serialize, requestDeserialize: passthrough.deserialize, responseSerialize: passthrough.serialize, responseDeserialize: passthrough.deserialize },
};
const WhoamiClient = grpc.makeGenericClientConstructor(WhoamiService, 'Whoami');

async function issue(ca: RootCA, clusterId: string, nodeId: string, role: NodeRoleName): Promise<NodeCertificates> {
  const { keyPem, csrPem } = await createNodeKeyAndCSR();
  const certPem = await signNodeCertificate({ csrPem, nodeId, role, clusterId, ca, addresses: ['127.0.0.1'] });
  return { keyPem, certPem, rootPem: ca.certPem };
}

interface Manager {
  server: grpc.Server;
  addr: string;
  tokens: JoinTokens;
  registered: NewNode[];
  removed: Set<string>;
}

async function startManager(ca: RootCA, clusterId: string, certs: NodeCertificates): Promise<Manager> {
  const m: Manager = { server: new grpc.Server(), addr: '', tokens: generateJoinTokens(ca.hash), registered: [], removed: new Set() };
  const auth = new NodeAuthenticator(ca.certPem, { isRemoved: (id) => m.removed.has(id) });
  m.server.addService(
    NodeCAService,
    nodeCAService({
      cluster: () => ({ clusterId, ca, tokens: m.tokens }),
      authenticator: () => auth,
      registerNode: async (n) => void m.registered.push(n),
      currentRole: (id) => (m.removed.has(id) ? null : (m.registered.find((n) => n.nodeId === id)?.role ?? null)),
    }),
  );
  m.server.addService(WhoamiService, {
    whoami: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      try {
        cb(null, Buffer.from(JSON.stringify(auth.requireRole(call, 'worker'))));
      } catch (e) {
        cb(e as grpc.ServiceError);
      }
    },
    adminOnly: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      try {
        cb(null, Buffer.from(JSON.stringify(auth.requireRole(call, 'manager'))));
      } catch (e) {
        cb(e as grpc.ServiceError);
      }
    },
  });
  const port = await new Promise<number>((res, rej) =>
    m.server.bindAsync('127.0.0.1:0', serverCredentials(certs), (e, p) => (e ? rej(e) : res(p))),
  );
  m.addr = `127.0.0.1:${port}`;
  return m;
}

function call(client: grpc.Client, method: 'whoami' | 'adminOnly'): Promise<{ nodeId: string; role: string }> {
  return new Promise((resolve, reject) => {
    (client as unknown as Record<string, (r: Buffer, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: Buffer) => void) => void>)[method]!(
      Buffer.alloc(0),
      { deadline: Date.now() + 5000 },
      (e, r) => (e ? reject(e) : resolve(JSON.parse(r.toString()))),
    );
  });
}

describe('cluster CA over real TLS', () => {
  const clusterId = 'shoalcert-cluster';
  let ca: RootCA;
  let mgr: Manager;
  let dir: string;

  beforeAll(async () => {
    ca = await createRootCA({ clusterId });
    mgr = await startManager(ca, clusterId, await issue(ca, clusterId, 'manager-1', 'manager'));
    dir = await mkdtemp(path.join(tmpdir(), 'shoalcert-'));
  });
  afterAll(async () => {
    mgr.server.forceShutdown();
    await rm(dir, { recursive: true, force: true });
  });

  it('joins a worker with the worker token: certificates on disk, identified as worker, refused manager calls', async () => {
    const certDir = path.join(dir, 'w1');
    const res = await bootstrapNode({ remoteAddr: mgr.addr, token: mgr.tokens.worker, certDir, advertiseAddr: '10.0.0.9' });
    expect(res.role).toBe('worker');
    expect(res.clusterId).toBe(clusterId);
    expect(mgr.registered.map((n) => n.nodeId)).toContain(res.nodeId);
    expect((await stat(path.join(certDir, 'node.key'))).mode & 0o777).toBe(0o600);
    const loaded = await loadNodeCertificates(certDir);
    expect(loaded?.certPem).toBe(res.certs.certPem);
    expect((await verifyNodeCertificate(res.certs.certPem, ca.certPem)).nodeId).toBe(res.nodeId);

    const client = new WhoamiClient(mgr.addr, clientCredentials(res.certs));
    try {
      expect(await call(client, 'whoami')).toMatchObject({ nodeId: res.nodeId, role: 'worker' });
      await expect(call(client, 'adminOnly')).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    } finally {
      client.close();
    }
  });

  it('joins a manager with the manager token; a manager may call manager-only methods', async () => {
    const res = await bootstrapNode({ remoteAddr: mgr.addr, token: mgr.tokens.manager, certDir: path.join(dir, 'm2'), advertiseAddr: '127.0.0.1:4243' });
    expect(res.role).toBe('manager');
    const client = new WhoamiClient(mgr.addr, clientCredentials(res.certs));
    try {
      expect(await call(client, 'adminOnly')).toMatchObject({ nodeId: res.nodeId, role: 'manager' });
    } finally {
      client.close();
    }
  });

  it('a caller without a certificate reaches only the CA', async () => {
    const client = new WhoamiClient(mgr.addr, grpc.credentials.createSsl(Buffer.from(ca.certPem), null, null, { checkServerIdentity: () => undefined }));
    try {
      await expect(call(client, 'whoami')).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    } finally {
      client.close();
    }
  });

  it('a certificate from another CA with the same names is not an identity', async () => {
    const other = await createRootCA({ clusterId });
    const forged = await issue(other, clusterId, 'manager-1', 'manager');
    const client = new WhoamiClient(
      mgr.addr,
      grpc.credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(forged.keyPem), Buffer.from(forged.certPem), { checkServerIdentity: () => undefined }),
    );
    try {
      await expect(call(client, 'whoami')).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    } finally {
      client.close();
    }
  });

  it('refuses a wrong token and writes nothing', async () => {
    const certDir = path.join(dir, 'wrong');
    const forged = generateJoinTokens(ca.hash).worker; // right CA, unknown secret
    await expect(bootstrapNode({ remoteAddr: mgr.addr, token: forged, certDir })).rejects.toBeInstanceOf(InvalidJoinTokenError);
    await expect(readdir(certDir)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses a rotated token; nodes that joined with it keep working', async () => {
    const old = mgr.tokens.worker;
    const joined = await bootstrapNode({ remoteAddr: mgr.addr, token: old, certDir: path.join(dir, 'before-rotate') });
    mgr.tokens = rotateJoinTokens(mgr.tokens, ca.hash, { worker: true });
    expect(mgr.tokens.worker).not.toBe(old);
    await expect(bootstrapNode({ remoteAddr: mgr.addr, token: old, certDir: path.join(dir, 'rotated') })).rejects.toThrow(/not valid for this cluster/);
    const client = new WhoamiClient(mgr.addr, clientCredentials(joined.certs));
    try {
      expect(await call(client, 'whoami')).toMatchObject({ nodeId: joined.nodeId });
    } finally {
      client.close();
    }
  });

  it('refuses a manager whose CA is not the one the token pins, before sending anything', async () => {
    const otherCA = await createRootCA({ clusterId: 'another' });
    const impostor = await startManager(otherCA, 'another', await issue(otherCA, 'another', 'evil', 'manager'));
    const before = impostor.registered.length;
    try {
      await expect(
        bootstrapNode({ remoteAddr: impostor.addr, token: mgr.tokens.worker, certDir: path.join(dir, 'mitm') }),
      ).rejects.toBeInstanceOf(CAHashMismatchError);
      expect(impostor.registered.length).toBe(before);
    } finally {
      impostor.server.forceShutdown();
    }
  });

  it('a removed node is refused with its old certificate', async () => {
    const joined = await bootstrapNode({ remoteAddr: mgr.addr, token: mgr.tokens.worker, certDir: path.join(dir, 'removed') });
    mgr.removed.add(joined.nodeId);
    const client = new WhoamiClient(mgr.addr, clientCredentials(joined.certs));
    try {
      await expect(call(client, 'whoami')).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    } finally {
      client.close();
    }
  });

  it('a removed node asking to renew is told it was removed (and gets nothing)', async () => {
    const joined = await bootstrapNode({ remoteAddr: mgr.addr, token: mgr.tokens.worker, certDir: path.join(dir, 'removed-renew') });
    const renew = async (): Promise<unknown> => {
      const { csrPem } = await createNodeKeyAndCSR();
      const client = new NodeCAClient(mgr.addr, clientCredentials(joined.certs));
      return new Promise((resolve, reject) =>
        client.issueNodeCertificate({ csr: Buffer.from(csrPem), token: '', nodeId: joined.nodeId, description: undefined, advertiseAddr: '' }, (e, r) => {
          client.close();
          return e ? reject(e) : resolve(r);
        }),
      );
    };
    await expect(renew()).resolves.toBeTruthy(); // still a member: renewed
    mgr.removed.add(joined.nodeId);
    await expect(renew()).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: expect.stringMatching(/was removed from the cluster/) });
  });

  it('a client refuses a server holding only a worker certificate', async () => {
    const fake = await startManager(ca, clusterId, await issue(ca, clusterId, 'worker-as-server', 'worker'));
    const joined = await loadNodeCertificates(path.join(dir, 'w1'));
    const client = new WhoamiClient(fake.addr, clientCredentials(joined!));
    try {
      await expect(call(client, 'whoami')).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    } finally {
      client.close();
      fake.server.forceShutdown();
    }
  });

  it('cannot reach a manager: one clear error', async () => {
    await expect(
      bootstrapNode({ remoteAddr: '127.0.0.1:1', token: mgr.tokens.worker, certDir: path.join(dir, 'none'), timeoutMs: 2000 }),
    ).rejects.toThrow(/cannot reach a manager at 127.0.0.1:1/);
  });
});

describe('join tokens', () => {
  it('round-trips the CA hash', async () => {
    const ca = await createRootCA({ clusterId: 'c' });
    const t = generateJoinTokens(ca.hash);
    expect(parseJoinToken(t.worker).caHash).toBe(ca.hash);
    expect(t.worker).not.toBe(t.manager);
    expect(t.worker).toMatch(/^SHOALTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$/);
  });

  it.each(['', 'hello', 'SWMTKN-1-abc-def', 'SHOALTKN-2-' + 'a'.repeat(50) + '-' + 'b'.repeat(25), 'SHOALTKN-1-short-' + 'b'.repeat(25), 'SHOALTKN-1-' + 'a'.repeat(50) + '-UPPER' + 'b'.repeat(20)])(
    'refuses malformed token %j with a message naming it',
    (t) => {
      expect(() => parseJoinToken(t)).toThrow(InvalidJoinTokenError);
      expect(() => parseJoinToken(t)).toThrow(/invalid join token/);
    },
  );
});
