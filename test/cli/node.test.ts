// `shoal node ...` and the membership commands end to end: the real CLI process against a
// control API on a unix socket. The Daemon service here is a stand-in that records requests
// (the real one needs a whole daemon: test/e2e covers it); the Control service is the real one.
import type { sendUnaryData, ServerUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonService, type InfoResponse, type InitRequest, type JoinRequest } from '../../proto/gen/daemon.js';
import { NodeAvailability, NodeRole, NodeStatus_State } from '../../proto/gen/types.js';
import { expectOneLineError, startCli, type CliHarness } from './service-harness.js';

const seen: { init?: InitRequest; join?: JoinRequest; leave?: boolean } = {};
const unary =
  <Req, Res>(fn: (r: Req) => Res) =>
  (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>): void =>
    cb(null, fn(call.request));
const daemon: UntypedServiceImplementation = {
  init: unary((r: InitRequest) => ((seen.init = r), { nodeId: 'node1', clusterId: 'cluster1', workerToken: 'SWMTKN-w', managerToken: 'SWMTKN-m', addr: '10.0.0.1:4243' })),
  join: unary((r: JoinRequest) => ((seen.join = r), { nodeId: 'node9', role: NodeRole.WORKER })),
  leave: unary((r: { force: boolean }) => ((seen.leave = r.force), { warnings: r.force ? ['2 of 3 managers reachable'] : [] })),
  info: unary((): InfoResponse => ({ nodeId: 'node1', clusterId: 'cluster1', role: NodeRole.MANAGER, isLeader: true, leaderAddr: '10.0.0.1:4243', state: 'active', error: '', degraded: '', managers: ['10.0.0.1:4243'], undoFailures: 3n, version: '0.1.0' })),
};

let h: CliHarness;
beforeAll(async () => {
  h = await startCli({
    components: false,
    extra: [{ definition: DaemonService, implementation: daemon }],
    nodes: [
      ['node1', { hostname: 'alpha', role: NodeRole.MANAGER }],
      ['node2', { hostname: 'beta' }],
      ['node3', { hostname: 'gamma', state: NodeStatus_State.DOWN }],
    ],
  });
});
afterAll(async () => {
  await h?.close();
});

const nodeSpec = (id: string) => h.control.store.view((tx) => tx.nodes.get(id)?.spec);

describe('shoal node', () => {
  it('ls prints a table and json', async () => {
    const r = await h.shoal(['node', 'ls']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ID\s+HOSTNAME\s+STATUS\s+AVAILABILITY\s+MANAGER STATUS\s+ADDRESS\n/);
    expect(r.stdout).toMatch(/node1 \*\s+alpha\s+ready\s+active\s+Manager/); // this host (Info) marked
    expect(r.stdout).toMatch(/node2\s+beta/);
    expect(r.stdout).toMatch(/node3\s+gamma\s+down\s+active/);
    const j = await h.shoal(['node', 'ls', '--format', 'json']);
    expect((JSON.parse(j.stdout) as { id: string }[]).map((n) => n.id)).toEqual(['node1', 'node2', 'node3']);
  });

  it('update changes availability and labels; promote and demote set the wanted role', async () => {
    const r = await h.shoal(['node', 'update', '--availability', 'drain', '--label-add', 'zone=a', '--label-add', 'ssd', 'beta']);
    expect(r.code, r.stderr).toBe(0);
    expect(nodeSpec('node2')).toMatchObject({ availability: NodeAvailability.DRAIN, annotations: { labels: { zone: 'a', ssd: '' } } });
    const rm = await h.shoal(['node', 'update', '--label-rm', 'ssd', 'beta']);
    expect(rm.code, rm.stderr).toBe(0);
    expect(nodeSpec('node2')!.annotations!.labels).toEqual({ zone: 'a' });
    const p = await h.shoal(['node', 'promote', 'beta']);
    expect(p.stdout).toBe('node beta promoted to manager\n');
    expect(nodeSpec('node2')!.desiredRole).toBe(NodeRole.MANAGER);
    const d = await h.shoal(['node', 'demote', 'beta']);
    expect(d.code, d.stderr).toBe(0);
    expect(nodeSpec('node2')!.desiredRole).toBe(NodeRole.WORKER);
    const inspect = await h.shoal(['node', 'inspect', 'beta']);
    expect((JSON.parse(inspect.stdout) as { spec: { availability: string } }[])[0]!.spec.availability).toBe('DRAIN');
  });

  it('refuses bad input in one line, changing nothing', async () => {
    const v = h.control.store.version;
    expectOneLineError(await h.shoal(['node', 'update', '--availability', 'sleepy', 'beta']), /--availability is active, pause or drain, not "sleepy"/);
    expectOneLineError(await h.shoal(['node', 'update', 'beta']), /needs a change/);
    expectOneLineError(await h.shoal(['node', 'demote', 'alpha']), /last manager/);
    expectOneLineError(await h.shoal(['node', 'rm', 'beta']), /node beta is not down .*--force/);
    expectOneLineError(await h.shoal(['node', 'inspect', 'delta']), /node "delta" not found/);
    expect(h.control.store.version).toBe(v);
  });

  it('rm removes a down node, and a live one with --force', async () => {
    expect((await h.shoal(['node', 'rm', 'gamma'])).code).toBe(0);
    expect((await h.shoal(['node', 'rm', '--force', 'beta'])).code).toBe(0);
    expect(h.control.store.view((tx) => tx.nodes.all().map((n) => n.id))).toEqual(['node1']);
  });
});

describe('membership commands', () => {
  it('init prints the worker join command; join and leave pass their flags', async () => {
    const r = await h.shoal(['init', '--advertise-addr', '10.0.0.1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Cluster initialized: current node (node1) is now a manager.');
    expect(r.stdout).toContain('    shoal join --token SWMTKN-w 10.0.0.1:4243\n');
    expect(seen.init).toMatchObject({ advertiseAddr: '10.0.0.1', listenAddr: '' });
    const j = await h.shoal(['join', '--token', 'SWMTKN-w', '10.0.0.1:4243']);
    expect(j.stdout).toBe('This node joined a cluster as a worker.\n');
    expect(seen.join).toMatchObject({ token: 'SWMTKN-w', remoteAddr: '10.0.0.1:4243' });
    const l = await h.shoal(['leave', '--force']);
    expect(l.stdout).toBe('Node left the cluster.\n');
    expect(l.stderr).toBe('Warning: 2 of 3 managers reachable\n');
    expect(seen.leave).toBe(true);
  });

  it('join-token prints and rotates tokens from the cluster object; info describes the node', async () => {
    const q = await h.shoal(['join-token', 'manager', '-q']);
    expect(q.stdout).toBe('SWMTKN-m\n');
    const w = await h.shoal(['join-token', 'worker']);
    expect(w.stdout).toContain('    shoal join --token SWMTKN-w 10.0.0.1:4243\n');
    const rot = await h.shoal(['join-token', 'worker', '--rotate', '-q']);
    expect(rot.code, rot.stderr).toBe(0);
    const token = h.control.store.view((tx) => tx.clusters.all()[0]!.rootCa!.joinTokens!.worker);
    expect(rot.stdout).toBe(`${token}\n`);
    expect(token).not.toBe('SWMTKN-w');
    const i = await h.shoal(['info']);
    expect(i.stdout).toMatch(/Cluster: active\n Node ID: node1\n Cluster ID: cluster1\n Role: manager\n Is leader: true/);
    expect(i.stdout).toMatch(/ Undo failures: 3\n/);
    expectOneLineError(await h.shoal(['join-token', 'boss']), /join-token takes worker or manager, not "boss"/);
  });
});
