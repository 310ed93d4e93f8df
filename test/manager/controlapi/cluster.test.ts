// Nodes, the cluster object, WatchTasks, follower forwarding and the read barrier, over real gRPC.
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import type { GetClusterResponse, GetNodeResponse, ListNodesResponse, RotateJoinTokenResponse, UpdateNodeResponse, WatchTasksEvent } from '../../../proto/gen/control.js';
import { NodeAvailability, NodeRole, NodeStatus_State } from '../../../proto/gen/types.js';
import { LeaderClients } from '../../../manager/controlapi/index.js';
import { MemoryStore } from '../../../manager/store/index.js';
import { call, startControl, type ControlHarness } from './harness.js';
import { replicatedSpec } from './specs.js';
import { refused } from './refused.js';

const open: ControlHarness[] = [];
async function start(o: Parameters<typeof startControl>[0] = {}): Promise<ControlHarness> {
  const h = await startControl(o);
  open.push(h);
  return h;
}
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

describe('nodes', () => {
  it('lists, finds by hostname, updates availability and labels with compare-and-swap', async () => {
    const h = await start({ components: false });
    const list = await call<unknown, ListNodesResponse>(h.client, 'listNodes', { names: [], roles: [] });
    expect(list.nodes.map((n) => n.description!.hostname)).toEqual(['alpha', 'beta', 'gamma']);
    const managers = await call<unknown, ListNodesResponse>(h.client, 'listNodes', { names: [], roles: [NodeRole.MANAGER] });
    expect(managers.nodes.map((n) => n.id)).toEqual(['node1']);
    const { node } = await call<unknown, GetNodeResponse>(h.client, 'getNode', { nodeId: 'beta' });
    const spec = { ...node!.spec!, availability: NodeAvailability.DRAIN, annotations: { name: '', labels: { zone: 'a' } } };
    const up = await call<unknown, UpdateNodeResponse>(h.client, 'updateNode', { nodeId: 'beta', version: node!.meta!.version, spec });
    expect(up.node!.spec!.availability).toBe(NodeAvailability.DRAIN);
    expect(up.node!.spec!.annotations!.labels).toEqual({ zone: 'a' });
    await refused(call(h.client, 'updateNode', { nodeId: 'beta', version: node!.meta!.version, spec }), status.FAILED_PRECONDITION, /changed since it was read/);
    await refused(call(h.client, 'getNode', { nodeId: 'delta' }), status.NOT_FOUND, /node "delta" not found/);
  });

  it('refuses demoting the last manager and removing a manager or a live node', async () => {
    const h = await start({ components: false });
    const { node } = await call<unknown, GetNodeResponse>(h.client, 'getNode', { nodeId: 'alpha' });
    await refused(call(h.client, 'updateNode', { nodeId: 'alpha', version: 0n, spec: { ...node!.spec!, desiredRole: NodeRole.WORKER } }), status.FAILED_PRECONDITION, /last manager/);
    await refused(call(h.client, 'removeNode', { nodeId: 'alpha', force: true }), status.FAILED_PRECONDITION, /is a manager: demote it first/);
    await refused(call(h.client, 'removeNode', { nodeId: 'beta', force: false }), status.FAILED_PRECONDITION, /is not down \(it is ready\)/);
    await call(h.client, 'removeNode', { nodeId: 'beta', force: true });
    expect(h.store.view((tx) => tx.nodes.get('node2'))).toBeUndefined();
  });

  it('removes a down node without --force', async () => {
    const h = await start({ components: false, nodes: [['m', { hostname: 'm', role: NodeRole.MANAGER }], ['d', { hostname: 'dead', state: NodeStatus_State.DOWN }]] });
    await call(h.client, 'removeNode', { nodeId: 'dead', force: false });
    expect(h.store.view((tx) => tx.nodes.all().map((n) => n.id))).toEqual(['m']);
  });
});

describe('cluster', () => {
  it('never hands out the CA key, and rotates only the token asked for', async () => {
    const h = await start({ components: false });
    const { cluster } = await call<unknown, GetClusterResponse>(h.client, 'getCluster', {});
    expect(cluster!.rootCa!.caKey.length).toBe(0);
    expect(Buffer.from(cluster!.rootCa!.caCert).toString()).toBe('CERT');
    const r = await call<unknown, RotateJoinTokenResponse>(h.client, 'rotateJoinToken', { worker: true, manager: false });
    expect(r.cluster!.rootCa!.joinTokens!.worker).not.toBe('SWMTKN-w');
    expect(r.cluster!.rootCa!.joinTokens!.manager).toBe('SWMTKN-m');
    expect(h.store.view((tx) => Buffer.from(tx.clusters.get('cluster1')!.rootCa!.caKey).toString())).toBe('SECRET-KEY');
    await refused(call(h.client, 'rotateJoinToken', { worker: false, manager: false }), status.INVALID_ARGUMENT, /which join token/);
  });
});

describe('WatchTasks', () => {
  it('sends the current tasks, then every change until the tasks run', async () => {
    const h = await start();
    const events: WatchTasksEvent[] = [];
    const stream = h.client.watchTasks({ serviceIds: [], resumeFromVersion: 0n });
    const done = new Promise<void>((resolve, reject) => {
      stream.on('data', (e: WatchTasksEvent) => {
        events.push(e);
        const running = new Set(events.flatMap((x) => x.tasks.filter((t) => t.status?.state === 512).map((t) => t.id)));
        if (running.size === 2) resolve();
      });
      stream.on('error', (e: ServiceError) => (e.code === status.CANCELLED ? undefined : reject(e)));
    });
    await new Promise((r) => stream.once('metadata', r));
    await call(h.client, 'createService', { spec: replicatedSpec('web', 2) });
    await done;
    stream.cancel();
    expect(events[0]!.tasks).toEqual([]);
    const states = events.slice(1).flatMap((e) => e.tasks.map((t) => t.status?.state ?? 0));
    expect(states).toContain(64); // PENDING seen before RUNNING
  });

  it('refuses to watch an unknown service', async () => {
    const h = await start({ components: false });
    const stream = h.client.watchTasks({ serviceIds: ['nope'], resumeFromVersion: 0n });
    const err = await new Promise<ServiceError>((resolve) => stream.on('error', resolve));
    expect(err.code).toBe(status.NOT_FOUND);
  });
});

describe('a follower', () => {
  it('forwards writes to the leader and serves reads from its own store', async () => {
    const leader = await start();
    const followerStore = new MemoryStore();
    const follower = await start({ store: followerStore, components: false, deps: { isLeader: () => false, leaderClient: () => leader.client } });
    await call(follower.client, 'createService', { spec: replicatedSpec('web', 1) });
    expect(leader.store.view((tx) => tx.services.find('name', 'web'))).toHaveLength(1);
    expect(followerStore.view((tx) => tx.services.all())).toHaveLength(0);
  });

  it('answers UNAVAILABLE when no leader is known, or when its read barrier fails', async () => {
    const noLeader = await start({ components: false, deps: { isLeader: () => false, leaderClient: () => null } });
    await refused(call(noLeader.client, 'createService', { spec: replicatedSpec('web') }), status.UNAVAILABLE, /no leader/);
    const noQuorum = await start({ components: false, deps: { readBarrier: () => Promise.reject(new Error('read index timed out')) } });
    await refused(call(noQuorum.client, 'listServices', { names: [], idPrefixes: [], labels: {} }), status.UNAVAILABLE, /no leader or no quorum.*read index timed out/);
  });

  it('follows the leader through LeaderClients as its address changes', async () => {
    const a = await start({ components: false });
    const b = await start({ components: false });
    let leaderAddr: string | undefined = a.addr;
    const leaders = new LeaderClients(credentials.createInsecure(), () => leaderAddr, {});
    const f = await start({ store: new MemoryStore(), components: false, deps: { isLeader: () => false, leaderClient: () => leaders.get() } });
    try {
      await call(f.client, 'createService', { spec: replicatedSpec('one') });
      leaderAddr = b.addr;
      await call(f.client, 'createService', { spec: replicatedSpec('two') });
      leaderAddr = undefined;
      await refused(call(f.client, 'createService', { spec: replicatedSpec('three') }), status.UNAVAILABLE, /no leader/);
    } finally {
      leaders.close();
    }
    expect(a.store.view((tx) => tx.services.all().map((s) => s.spec!.annotations!.name))).toEqual(['one']);
    expect(b.store.view((tx) => tx.services.all().map((s) => s.spec!.annotations!.name))).toEqual(['two']);
  });

  it('does not forward a forwarded call again', async () => {
    // Two followers each believing the other leads would loop forever without the header check.
    let b: ControlHarness | undefined;
    const a = await start({ components: false, deps: { isLeader: () => false, leaderClient: () => b!.client } });
    b = await start({ components: false, deps: { isLeader: () => false, leaderClient: () => a.client } });
    await refused(call(a.client, 'createService', { spec: replicatedSpec('web') }), status.UNAVAILABLE, /not the leader any more/);
  });
});

describe('quorum errors of the manager layer', () => {
  it('pass through as UNAVAILABLE with their own message, and nothing is written', async () => {
    class NoQuorumError extends Error {
      readonly userError = true;
      constructor() {
        super('write refused: no quorum (a majority of managers did not answer within 5000 ms); nothing was changed');
        this.name = 'NoQuorumError';
      }
    }
    const store = new MemoryStore({ proposer: { propose: () => Promise.reject(new NoQuorumError()) } });
    const h = await start({ store: new MemoryStore(), components: false, deps: { store, readBarrier: () => Promise.reject(new NoQuorumError()) } });
    await refused(call(h.client, 'createService', { spec: replicatedSpec('web') }), status.UNAVAILABLE, /^write refused: no quorum/);
    await refused(call(h.client, 'listNodes', { names: [], roles: [] }), status.UNAVAILABLE, /^write refused: no quorum/);
    expect(store.version).toBe(0n);
  });
});
