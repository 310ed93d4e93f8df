// Daemons in one process over real mTLS gRPC on loopback, with real containers: init makes a
// cluster (CA, tokens, single-member Raft), a worker joins with its token, a bad token is refused
// and leaves nothing behind, a replicated service runs on both nodes, a worker certificate cannot
// change Raft membership, and a restarted daemon re-adopts its containers from disk.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { DaemonClient, InfoRequest, InitRequest, JoinRequest, LeaveRequest, type InfoResponse, type InitResponse } from '../../proto/gen/daemon.js';
import { runShoal } from '../cli/run-shoal.js';
import { RaftMembershipClient } from '../../proto/gen/ca.js';
import { ControlClient, ListServicesRequest } from '../../proto/gen/control.js';
import { NodeRole, Service, TaskState } from '../../proto/gen/types.js';
import { ImageStore } from '../../agent/images/index.js';
import { ContainerRuntime } from '../../agent/runtime/index.js';
import { detectCgroups } from '../../agent/runtime/cgroups/index.js';
import { clientCredentials, loadNodeCertificates } from '../../manager/ca/index.js';
import { Daemon } from '../../daemon/daemon.js';
import { startLocalApi } from '../../daemon/local-api.js';
import { daemonPaths, type DaemonPaths } from '../../daemon/paths.js';
import { testImagePath } from '../helpers/images.js';

const log = pino({ level: process.env.SHOAL_TEST_LOG ?? 'silent' });
const base = 30000 + Math.floor(Math.random() * 20000);
const roots: string[] = [];
const live: { d: Daemon; stopLocal: () => void }[] = [];

interface Host {
  paths: DaemonPaths;
  listen: string;
  cgroupParent: string;
}

async function host(i: number): Promise<Host> {
  const root = await mkdtemp(join(tmpdir(), 'shoaldm-'));
  roots.push(root);
  const paths = daemonPaths(join(root, 'lib'), join(root, 'run'));
  await new ImageStore({ root: paths.imagesDir }).load(testImagePath('busybox'));
  return { paths, listen: `127.0.0.1:${base + i * 2}`, cgroupParent: `shoaldm-${i}-${process.pid}` };
}

async function startDaemon(h: Host): Promise<Daemon> {
  const d = new Daemon({
    paths: h.paths,
    listenAddr: h.listen,
    advertiseAddr: h.listen,
    tuning: { heartbeatMs: 500, cgroupParent: h.cgroupParent, agentBackoff: { initialMs: 20, maxMs: 300 }, raft: { fsync: false } },
    logger: log,
  });
  await d.resume();
  const local = await startLocalApi(d, h.paths.socket, [], log);
  live.push({ d, stopLocal: () => local.forceShutdown() });
  return d;
}

async function stopDaemon(d: Daemon): Promise<void> {
  const i = live.findIndex((x) => x.d === d);
  const [e] = live.splice(i, 1);
  e!.stopLocal();
  await d.stop();
}

const REQUESTS: Record<'init' | 'join' | 'leave' | 'info', { fromPartial(o: object): object }> = { init: InitRequest, join: JoinRequest, leave: LeaveRequest, info: InfoRequest };

function call<Req extends object, Res>(socket: string, method: 'init' | 'join' | 'leave' | 'info', req: Req): Promise<Res> {
  const c = new DaemonClient(`unix:${socket}`, credentials.createInsecure()) as unknown as Record<string, (r: object, cb: (e: ServiceError | null, r: Res) => void) => void> & { close(): void };
  // fromPartial: fields added to a request later get their defaults (a plain object fails to encode)
  const full = REQUESTS[method].fromPartial(req);
  return new Promise<Res>((resolve, reject) => c[method]!(full, (e, r) => (e ? reject(e) : resolve(r)))).finally(() => c.close());
}

async function until<T>(fn: () => T | undefined | false, what: string, ms = 40_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let hosts: Host[] = [];

afterAll(async () => {
  for (const { d, stopLocal } of live.splice(0)) {
    stopLocal();
    await d.stop().catch(() => undefined);
  }
  const cgroups = detectCgroups({ logger: log });
  for (const h of hosts) {
    const rt = new ContainerRuntime({ stateDir: h.paths.containersDir, cgroupParent: h.cgroupParent, logger: log });
    for (const c of await rt.list().catch(() => [])) await rt.remove(c.id, { force: true }).catch(() => undefined);
    await cgroups.open(h.cgroupParent)?.remove();
  }
  for (const r of roots) await rm(r, { recursive: true, force: true });
}, 60_000);

describe('shoal daemon (in process, loopback)', () => {
  it('init, join, bad token, service on two nodes, worker refused by RaftMembership, restart re-adopts', async () => {
    hosts = await Promise.all([0, 1, 2].map(host));
    const [h1, h2, h3] = hosts as [Host, Host, Host];
    const d1 = await startDaemon(h1);
    expect(statSync(h1.paths.socket).mode & 0o777).toBe(0o600);

    const init = await call<object, InitResponse>(h1.paths.socket, 'init', { advertiseAddr: h1.listen, listenAddr: h1.listen });
    expect(init.workerToken).toMatch(/^SWMTKN|^SHOAL|-/);
    expect(init.workerToken).not.toBe(init.managerToken);
    // the daemon reports its version; `shoal version` prints it beside the client's
    const pkgVersion = (JSON.parse(readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string }).version;
    expect((await call<object, InfoResponse>(h1.paths.socket, 'info', {})).version).toBe(pkgVersion);
    const v = await runShoal(['version'], { SHOAL_RUN: dirname(h1.paths.socket) });
    expect(v.stdout).toContain(`Daemon: shoal ${pkgVersion} (cluster active)`);
    const again = await call(h1.paths.socket, 'init', {}).catch((e: ServiceError) => e);
    expect((again as ServiceError).details).toMatch(/already part of cluster/);

    // a bad token is refused, and the node is left exactly as before
    const d3 = await startDaemon(h3);
    const bad = init.workerToken.slice(0, -4) + 'zzzz';
    const refused = await call(h3.paths.socket, 'join', { token: bad, remoteAddr: h1.listen, advertiseAddr: h3.listen, listenAddr: h3.listen }).catch((e: ServiceError) => e);
    expect((refused as ServiceError).details).toMatch(/token/i);
    expect(d3.info().state).toBe('inactive');
    expect(await loadNodeCertificates(h3.paths.certDir)).toBeNull();
    await stopDaemon(d3);

    // a worker joins with the token
    let d2 = await startDaemon(h2);
    const joined = await call<object, { nodeId: string; role: NodeRole }>(h2.paths.socket, 'join', { token: init.workerToken, remoteAddr: h1.listen, advertiseAddr: h2.listen, listenAddr: h2.listen });
    expect(joined.role).toBe(NodeRole.WORKER);
    const store = d1.manager!.store;
    await until(() => store.view((tx) => tx.nodes.all()).filter((n) => n.status?.state === 2).length === 2, 'two ready nodes');

    // a worker certificate cannot change Raft membership
    const wcerts = (await loadNodeCertificates(h2.paths.certDir))!;
    const rm_ = new RaftMembershipClient(h1.listen, clientCredentials(wcerts));
    const denied = await new Promise<ServiceError | null>((resolve) => rm_.join({ addr: h2.listen }, new Metadata(), (e) => resolve(e)));
    rm_.close();
    expect(denied?.code).toBe(7); // PERMISSION_DENIED
    const listWith = (certs: typeof wcerts): Promise<ServiceError | null> => {
      const ctl = new ControlClient(h1.listen, clientCredentials(certs));
      return new Promise<ServiceError | null>((resolve) => ctl.listServices(ListServicesRequest.fromPartial({}), (e) => resolve(e))).finally(() => ctl.close());
    };
    expect((await listWith(wcerts))?.code).toBe(7); // a worker certificate cannot call the control API
    const mcerts = (await loadNodeCertificates(h1.paths.certDir))!;
    expect(await listWith(mcerts)).toBeNull(); // a manager's can

    // a replicated service runs on both nodes
    const svc = Service.fromPartial({ id: 'shoaldm-svc', specVersion: 1n, spec: { annotations: { name: 'web' }, task: { container: { image: 'busybox:latest', args: ['sleep', '1000'] } } } });
    svc.spec!.mode = { $case: 'replicated', value: { replicas: 4 } };
    await store.update((tx) => tx.services.create(svc));
    const running = (): string[] =>
      store.view((tx) => tx.tasks.all()).filter((t) => t.status?.state === TaskState.RUNNING && t.desiredState === TaskState.RUNNING).map((t) => t.id);
    await until(() => running().length === 4, '4 running tasks', 60_000);
    const onWorker = store.view((tx) => tx.tasks.all()).filter((t) => t.nodeId === joined.nodeId && t.desiredState === TaskState.RUNNING).map((t) => t.id).sort();
    expect(onWorker.length).toBeGreaterThan(0);

    // the worker's daemon restarts from disk: its containers are re-adopted, nothing replaced
    await stopDaemon(d2);
    d2 = await startDaemon(h2);
    expect(d2.info().state).toBe('active');
    expect(d2.info().nodeId).toBe(joined.nodeId);
    await new Promise((r) => setTimeout(r, 1500));
    await until(() => running().length === 4, 'still 4 running');
    const after = store.view((tx) => tx.tasks.all()).filter((t) => t.nodeId === joined.nodeId && t.desiredState === TaskState.RUNNING).map((t) => t.id).sort();
    expect(after).toEqual(onWorker);

    // remove the service: every container goes away
    await store.update((tx) => tx.services.delete(svc.id));
    const rt2 = new ContainerRuntime({ stateDir: h2.paths.containersDir, cgroupParent: h2.cgroupParent, logger: log });
    await until(() => running().length === 0, 'tasks shut down');
    const end = Date.now() + 30_000;
    while ((await rt2.list()).some((c) => c.state === 'running') && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
    expect((await rt2.list()).filter((c) => c.state === 'running')).toEqual([]);

    // a worker joins and leaves: its membership is forgotten, the daemon keeps serving
    const d3b = await startDaemon(h3);
    await call(h3.paths.socket, 'join', { token: init.workerToken, remoteAddr: h1.listen, advertiseAddr: h3.listen, listenAddr: h3.listen });
    expect(d3b.info().state).toBe('active');
    await call(h3.paths.socket, 'leave', { force: false });
    expect(d3b.info().state).toBe('inactive');
    expect(existsSync(h3.paths.stateFile)).toBe(false);
    expect(await loadNodeCertificates(h3.paths.certDir)).toBeNull();

    // a manager does not leave without being demoted first (or --force)
    const noLeave = await call(h1.paths.socket, 'leave', { force: false }).catch((e: ServiceError) => e);
    expect((noLeave as ServiceError).details).toMatch(/demote/);
    expect(d1.info().state).toBe('active');

    // a removed node is refused, certificate or not
    await stopDaemon(d2);
    await store.update((tx) => tx.nodes.delete(joined.nodeId));
    expect((await listWith(wcerts))?.code).toBe(16); // UNAUTHENTICATED
    const rm2 = new RaftMembershipClient(h1.listen, clientCredentials(wcerts));
    const refusedRemoved = await new Promise<ServiceError | null>((resolve) => rm2.join({ addr: h2.listen }, new Metadata(), (e) => resolve(e)));
    rm2.close();
    expect(refusedRemoved?.code).toBe(16);
  }, 150_000);
});
