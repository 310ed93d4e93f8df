// Issue 9, point 6: a join with a valid token but a CSR the CA cannot sign (garbage, or a
// request whose signature does not match) is refused without recording a node: before the fix
// the node was registered first and stayed in `node ls` as a phantom.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeCAClient, NodeCAService, type IssueNodeCertificateResponse } from '../../../proto/gen/ca.js';
import {
  createNodeKeyAndCSR,
  createRootCA,
  generateJoinTokens,
  NodeAuthenticator,
  nodeCAService,
  serverCredentials,
  signNodeCertificate,
  type JoinTokens,
  type NewNode,
  type RootCA,
} from '../../../manager/ca/index.js';

const clusterId = 'shoalcsr-cluster';
let ca: RootCA;
let tokens: JoinTokens;
let server: grpc.Server;
let client: NodeCAClient;
const registered: NewNode[] = [];

beforeAll(async () => {
  ca = await createRootCA({ clusterId });
  tokens = generateJoinTokens(ca.hash);
  const { keyPem, csrPem } = await createNodeKeyAndCSR();
  const certPem = await signNodeCertificate({ csrPem, nodeId: 'manager-1', role: 'manager', clusterId, ca, addresses: ['127.0.0.1'] });
  server = new grpc.Server();
  const auth = new NodeAuthenticator(ca.certPem, { isRemoved: () => false });
  server.addService(
    NodeCAService,
    nodeCAService({
      cluster: () => ({ clusterId, ca, tokens }),
      authenticator: () => auth,
      registerNode: async (n) => void registered.push(n),
      currentRole: (id) => registered.find((n) => n.nodeId === id)?.role ?? null,
    }),
  );
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', serverCredentials({ keyPem, certPem, rootPem: ca.certPem }), (e, p) => (e ? rej(e) : res(p))));
  client = new NodeCAClient(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(ca.certPem)));
});

afterAll(() => {
  client?.close();
  server?.forceShutdown();
});

function join(csr: Buffer, token = tokens.worker): Promise<IssueNodeCertificateResponse> {
  return new Promise((resolve, reject) =>
    client.issueNodeCertificate({ csr, token, nodeId: '', description: undefined, advertiseAddr: '10.0.0.9:4243' }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (e, r) => (e ? reject(e) : resolve(r))),
  );
}

/** A real CSR whose signature bits were altered: it parses, but does not verify. */
async function badlySignedCSR(): Promise<Buffer> {
  const { csrPem } = await createNodeKeyAndCSR();
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  der[der.length - 2] ^= 0xff;
  const body = der.toString('base64').replace(/.{64}/g, '$&\n');
  return Buffer.from(`-----BEGIN CERTIFICATE REQUEST-----\n${body}\n-----END CERTIFICATE REQUEST-----\n`);
}

describe('joining with a valid token and a bad CSR', () => {
  it('is refused as invalid and records no node', async () => {
    for (const [csr, why] of [
      [Buffer.from('not a certificate request'), /certificate signing request is malformed/],
      [Buffer.alloc(0), /certificate signing request is malformed/],
      [await badlySignedCSR(), /certificate signing request has a bad signature/],
    ] as const) {
      const err = (await join(csr).catch((e: unknown) => e)) as grpc.ServiceError;
      expect(err.code, err.message).toBe(grpc.status.INVALID_ARGUMENT);
      expect(err.details).toMatch(why);
      expect(registered).toEqual([]);
    }
  });

  it('a good CSR with the same token then joins as one node', async () => {
    const { csrPem } = await createNodeKeyAndCSR();
    const res = await join(Buffer.from(csrPem));
    expect(registered.map((n) => n.nodeId)).toEqual([res.nodeId]);
    expect(registered[0]).toMatchObject({ role: 'worker', advertiseAddr: '10.0.0.9:4243' });
  });
});
