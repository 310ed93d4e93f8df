// The Raft port over real mutual TLS on loopback, with the manager's policy (raft-peers.ts) over
// a real MemoryStore: only a current manager's certificate of this cluster speaks, and only for
// its own member id; forged senders, workers, demoted and removed members, other clusters'
// certificates and unwanted proposals are refused, and no refusal names a member id.
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { clientCredentials, createNodeKeyAndCSR, createRootCA, serverCredentials, signNodeCertificate, type NodeCertificates, type NodeRoleName, type RootCA } from '../../../manager/ca/index.js';
import { raftPeerAuthorizer } from '../../../manager/node/index.js';
import { GrpcRaftTransport, type TransportOptions } from '../../../manager/raft/transport/index.js';
import { GRPC_CHANNEL_OPTIONS } from '../../../manager/raft/transport/options.js';
import { MemoryStore } from '../../../manager/store/index.js';
import { type Message, MessageType, RaftTransportClient, type TransportAck } from '../../../proto/gen/raft.js';
import { Cluster, Node, NodeRole } from '../../../proto/gen/types.js';
import { waitFor } from '../../helpers/wait.js';

const CLUSTER = 'shoalra-cluster';
// distinctive ids, so that a refusal quoting one of them is easy to catch
const SELF = 7_101_010_101n;
const M2 = 7_202_020_202n;
const M3 = 7_303_030_303n;
const IDS = [SELF, M2, M3].map(String);

let ca: RootCA;
const certs: Record<string, NodeCertificates> = {};

async function issue(root: RootCA, clusterId: string, nodeId: string, role: NodeRoleName): Promise<NodeCertificates> {
  const { keyPem, csrPem } = await createNodeKeyAndCSR();
  const certPem = await signNodeCertificate({ csrPem, nodeId, role, clusterId, ca: root, addresses: ['127.0.0.1'] });
  return { keyPem, certPem, rootPem: root.certPem };
}

beforeAll(async () => {
  ca = await createRootCA({ clusterId: CLUSTER });
  certs.self = await issue(ca, CLUSTER, 'node-self', 'manager');
  certs.m2 = await issue(ca, CLUSTER, 'node-m2', 'manager');
  certs.m3 = await issue(ca, CLUSTER, 'node-m3', 'manager');
  certs.worker = await issue(ca, CLUSTER, 'node-w', 'worker');
  // same root, another cluster id in the subject (a CA key reused across clusters)
  certs.foreign = await issue(ca, 'shoalra-other', 'node-m2', 'manager');
  const otherCa = await createRootCA({ clusterId: 'shoalra-other' });
  certs.otherCa = await issue(otherCa, CLUSTER, 'node-m2', 'manager');
}, 60_000);

async function storeWithManagers(): Promise<MemoryStore> {
  const store = new MemoryStore();
  await store.update((tx) => {
    tx.clusters.create(Cluster.fromPartial({ id: CLUSTER, spec: { annotations: { name: 'default' } } }));
    const node = (id: string, raftId: bigint | undefined, role: NodeRole): void =>
      tx.nodes.create(Node.fromPartial({ id, spec: { desiredRole: role }, role, managerStatus: raftId ? { raftId, addr: '127.0.0.1:1', reachability: 2 } : undefined }));
    node('node-self', SELF, NodeRole.MANAGER);
    node('node-m2', M2, NodeRole.MANAGER);
    node('node-m3', M3, NodeRole.MANAGER);
    node('node-w', undefined, NodeRole.WORKER);
  });
  return store;
}

const open: GrpcRaftTransport[] = [];
const clients: RaftTransportClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(open.splice(0).map((t) => t.stop()));
});
afterAll(async () => {
  await Promise.all(open.splice(0).map((t) => t.stop()));
});

interface Receiver {
  t: GrpcRaftTransport;
  addr: string;
  got: Message[];
  store: MemoryStore;
  proposals: { allowed: boolean };
  warnings: object[];
}

async function receiver(o: { store?: MemoryStore; joinedWith?: Map<string, bigint> } = {}): Promise<Receiver> {
  const store = o.store ?? (await storeWithManagers());
  const got: Message[] = [];
  const warnings: object[] = [];
  const proposals = { allowed: false };
  const opts: TransportOptions = {
    id: SELF,
    clusterId: CLUSTER,
    listen: '127.0.0.1:0',
    handler: (m) => got.push(m),
    serverCredentials: serverCredentials(certs.self!, { requireClientCert: true }),
    channelCredentials: clientCredentials(certs.self!),
    authorize: raftPeerAuthorizer({ rootPem: ca.certPem, clusterId: CLUSTER, joinedWith: o.joinedWith }, store),
    acceptProposal: (from) => proposals.allowed && from === M2,
    logger: { debug() {}, info() {}, warn: (obj) => warnings.push(obj) },
  };
  const t = new GrpcRaftTransport(opts);
  open.push(t);
  const addr = await t.start();
  t.addPeer(M2, '127.0.0.1:1');
  t.addPeer(M3, '127.0.0.1:1');
  return { t, addr, got, store, proposals, warnings };
}

const msg = (from: bigint, extra: Partial<Message> = {}): Message => ({
  type: MessageType.MSG_APP_RESP, to: SELF, from, term: 1n, logTerm: 1n, index: 1n, entries: [], commit: 0n, snapshot: undefined,
  reject: false, rejectHint: 0n, context: Buffer.alloc(0), clusterId: CLUSTER, ...extra,
});

const proposal = (from: bigint): Message =>
  msg(from, { type: MessageType.MSG_PROP, term: 0n, entries: [{ term: 0n, index: 0n, type: 0, data: Buffer.from('{"create":"service"}') }] });

/** A Send stream as an attacker opens it: batches written in turn, each after the previous one was
 *  stepped (or the stream failed); resolves with the server's answer. */
async function sendAs(r: Receiver, who: NodeCertificates | grpc.ChannelCredentials, batches: Message[][]): Promise<{ err: grpc.ServiceError | null; ack?: TransportAck }> {
  const creds = who instanceof grpc.ChannelCredentials ? who : clientCredentials(who);
  const client = new RaftTransportClient(r.addr, creds, GRPC_CHANNEL_OPTIONS);
  clients.push(client);
  let result: { err: grpc.ServiceError | null; ack?: TransportAck } | undefined;
  const call = client.send((err, ack) => (result = { err, ack }));
  call.on('error', () => {});
  for (const b of batches) {
    const before = r.got.length;
    call.write({ messages: b });
    await waitFor('the batch stepped or refused', () => result !== undefined || r.got.length >= before + b.length, 15_000);
    if (result) return result;
  }
  call.end();
  await waitFor('the answer to the stream', () => result !== undefined, 15_000);
  return result!;
}

function expectRefusedWithoutIds(res: { err: grpc.ServiceError | null }): void {
  expect(res.err).not.toBeNull();
  expect(res.err!.code).toBe(grpc.status.PERMISSION_DENIED);
  for (const id of IDS) expect(res.err!.details).not.toContain(id);
  expect(res.err!.details).not.toContain(CLUSTER);
}

describe('Raft transport authentication', () => {
  it('steps what a manager sends for its own member id', async () => {
    const r = await receiver();
    const res = await sendAs(r, certs.m2!, [[msg(M2), msg(M2, { index: 2n })]]);
    expect(res.err).toBeNull();
    expect(res.ack?.received).toBe(2n);
    expect(r.got.map((m) => m.from)).toEqual([M2, M2]);
  });

  it('refuses a manager forging another member as the sender, and says no id back', async () => {
    const r = await receiver();
    const res = await sendAs(r, certs.m2!, [[msg(M3)]]);
    expectRefusedWithoutIds(res);
    expect(r.got).toEqual([]);
    // the refusal that used to leak the receiver's id: a message for another member
    const misrouted = await sendAs(r, certs.m2!, [[msg(M2, { to: M3 })]]);
    expectRefusedWithoutIds(misrouted);
    // ... and one for another cluster
    const foreignCluster = await sendAs(r, certs.m2!, [[msg(M2, { clusterId: 'shoalra-guess' })]]);
    expectRefusedWithoutIds(foreignCluster);
    expect(r.got).toEqual([]);
    expect(r.t.stats().refused).toBe(3);
    // this side's log says what happened
    expect(JSON.stringify(r.warnings)).toContain(`member ${M3}`);
  });

  it('refuses a worker certificate whatever member it claims to be', async () => {
    const r = await receiver();
    for (const from of [M2, M3, SELF]) expectRefusedWithoutIds(await sendAs(r, certs.worker!, [[proposal(from)]]));
    expect(r.got).toEqual([]);
  });

  it('refuses a demoted manager (its certificate still says manager) and a removed node', async () => {
    const r = await receiver();
    await r.store.update((tx) => {
      const n = tx.nodes.get('node-m3')!;
      tx.nodes.update({ ...n, role: NodeRole.WORKER, managerStatus: undefined });
    });
    for (const from of [M3, M2]) expectRefusedWithoutIds(await sendAs(r, certs.m3!, [[msg(from)]]));
    await r.store.update((tx) => tx.nodes.delete('node-m2'));
    expectRefusedWithoutIds(await sendAs(r, certs.m2!, [[msg(M2)]]));
    expect(r.got).toEqual([]);
  });

  it('cuts off an open stream once its member leaves the configuration', async () => {
    const r = await receiver();
    const client = new RaftTransportClient(r.addr, clientCredentials(certs.m2!), GRPC_CHANNEL_OPTIONS);
    clients.push(client);
    let result: { err: grpc.ServiceError | null } | undefined;
    const call = client.send((err) => (result = { err }));
    call.on('error', () => {});
    call.write({ messages: [msg(M2)] });
    await waitFor('the first batch stepped', () => r.got.length === 1);
    r.t.removePeer(M2); // applied ConfChange: member removed
    call.write({ messages: [msg(M2, { index: 2n })] });
    await waitFor('the refusal', () => result !== undefined);
    expectRefusedWithoutIds(result!);
    expect(r.got.length).toBe(1);
  });

  it('refuses certificates of another cluster id, of another CA, and none at all', async () => {
    const r = await receiver();
    expectRefusedWithoutIds(await sendAs(r, certs.foreign!, [[msg(M2)]]));
    // the TLS handshake itself fails for these two
    const otherCa = await sendAs(r, certs.otherCa!, [[msg(M2)]]);
    expect(otherCa.err?.code).toBe(grpc.status.UNAVAILABLE);
    const anonymous = await sendAs(r, grpc.credentials.createSsl(Buffer.from(ca.certPem)), [[msg(M2)]]);
    expect(anonymous.err?.code).toBe(grpc.status.UNAVAILABLE);
    expect(r.got).toEqual([]);
  });

  it('takes forwarded proposals only when the member may forward them', async () => {
    const r = await receiver();
    expectRefusedWithoutIds(await sendAs(r, certs.m2!, [[proposal(M2)]]));
    expect(r.got).toEqual([]);
    r.proposals.allowed = true;
    expect((await sendAs(r, certs.m2!, [[proposal(M2)]])).err).toBeNull();
    expectRefusedWithoutIds(await sendAs(r, certs.m3!, [[proposal(M3)]])); // allowed for M2 only
    expect(r.got.map((m) => [m.type, m.from])).toEqual([[MessageType.MSG_PROP, M2]]);
  });

  it('refuses message types the core only makes for itself', async () => {
    const r = await receiver();
    for (const type of [MessageType.MSG_HUP, MessageType.MSG_BEAT, MessageType.MSG_CHECK_QUORUM, MessageType.MSG_UNREACHABLE]) {
      expectRefusedWithoutIds(await sendAs(r, certs.m2!, [[msg(M2, { type })]]));
    }
    expect(r.got).toEqual([]);
  });

  it('refuses a snapshot stream from a worker', async () => {
    const r = await receiver();
    const client = new RaftTransportClient(r.addr, clientCredentials(certs.worker!), GRPC_CHANNEL_OPTIONS);
    clients.push(client);
    const res = await new Promise<{ err: grpc.ServiceError | null }>((resolve) => {
      const call = client.sendSnapshot((err) => resolve({ err }));
      call.on('error', () => {});
      const header = msg(M2, { type: MessageType.MSG_SNAP, snapshot: { metadata: { index: 50n, term: 2n, clusterId: CLUSTER, confState: undefined }, data: Buffer.alloc(0) } });
      call.write({ header, data: Buffer.from('store'), offset: 0n, last: true });
      call.end();
    });
    expectRefusedWithoutIds(res);
    expect(r.got).toEqual([]);
  });

  it('a manager that just joined accepts the members the leader named until its store fills', async () => {
    const empty = new MemoryStore();
    const r = await receiver({ store: empty, joinedWith: new Map([['node-m2', M2]]) });
    expect((await sendAs(r, certs.m2!, [[msg(M2)]])).err).toBeNull();
    expectRefusedWithoutIds(await sendAs(r, certs.m3!, [[msg(M3)]])); // not named by the leader
    expectRefusedWithoutIds(await sendAs(r, certs.m2!, [[msg(M3)]])); // forging is still refused
    // the leader's snapshot arrives: from now on the store decides (m2 demoted there)
    await empty.update((tx) => {
      tx.clusters.create(Cluster.fromPartial({ id: CLUSTER, spec: { annotations: { name: 'default' } } }));
      tx.nodes.create(Node.fromPartial({ id: 'node-m2', spec: { desiredRole: NodeRole.WORKER }, role: NodeRole.WORKER }));
    });
    expectRefusedWithoutIds(await sendAs(r, certs.m2!, [[msg(M2)]]));
    expect(r.got.length).toBe(1);
  });

  it('will not serve TLS without a way to tell members apart', () => {
    expect(() => new GrpcRaftTransport({ id: SELF, clusterId: CLUSTER, listen: '127.0.0.1:0', handler: () => {}, serverCredentials: serverCredentials(certs.self!) })).toThrow(/authorize/);
  });
});
