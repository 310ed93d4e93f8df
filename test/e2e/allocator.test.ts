// Address allocation on a real lab cluster (three manager daemons in their own network
// namespaces): `init --default-addr-pool`, the pool kept clear of the underlay's route, the
// leader SIGKILLed while a service grows from 100 to 200 tasks, every address unique after the
// new leader finishes, freed addresses reused until the /24 is exactly full, then the
// full-network message. Tasks are constrained to a label no node has, so they are allocated
// and stay pending: no containers are started.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeRole, Service, ServiceSpec, TaskState, type Network, type Task } from '../../proto/gen/types.js';
import { TestCluster, retryStale, until } from './cluster.js';

const POOL = '10.231.76.0/23'; // two /24s; the second is the lab's underlay
let c: TestCluster;

beforeAll(async () => {
  c = await TestCluster.up({ name: 'shoalale2e', subnet: '10.231.77.0/24', hosts: 3 });
  for (const h of c.lab.hosts) await c.start(h.name);
  const init = await c.call<{ managerToken: string }>('h1', 'init', {
    advertiseAddr: c.addr('h1'),
    listenAddr: c.addr('h1'),
    defaultAddrPool: [POOL],
    defaultAddrPoolMaskLength: 24,
  });
  for (const h of ['h2', 'h3']) {
    const r = await c.join(h, init.managerToken, 'h1');
    expect(r.role).toBe(NodeRole.MANAGER);
  }
}, 180_000);

afterAll(async () => {
  await c?.down();
}, 60_000);

const addrsOf = (ts: readonly Task[]): string[] => ts.flatMap((t) => t.networks.flatMap((a) => a.addresses));
const live = (t: Task): boolean => t.desiredState <= TaskState.RUNNING;

async function scale(via: string, id: string, replicas: number): Promise<void> {
  await retryStale(async () => {
    const { service } = await c.control<{ service: Service }>(via, 'getService', { serviceId: id });
    const spec = ServiceSpec.fromPartial(service.spec!);
    spec.mode = { $case: 'replicated', value: { replicas } };
    await c.control(via, 'updateService', { serviceId: id, version: service.meta?.version ?? 0n, spec });
  });
}

describe('allocator on a lab cluster', () => {
  it('keeps addresses unique across a SIGKILLed leader and reuses freed ones', { timeout: 420_000 }, async () => {
    const { network } = await c.control<{ network: Network }>('h1', 'createNetwork', { spec: { annotations: { name: 'alloc_net' }, driverConfig: { name: 'overlay' } } });
    const spec = ServiceSpec.fromPartial({
      annotations: { name: 'alloc_web' },
      task: {
        container: { image: 'busybox:latest', args: ['sleep', '100000'] },
        placement: { constraints: ['node.labels.alloc==never'] },
        networks: [{ target: 'alloc_net', aliases: ['web'] }],
      },
    });
    spec.mode = { $case: 'replicated', value: { replicas: 100 } };
    const { service } = await c.control<{ service: Service }>('h1', 'createService', { spec });
    await until(async () => (await c.tasks('h1', service.id)).filter((t) => t.networks.length === 1).length === 100, '100 attached', 60_000);
    const net = (await c.control<{ network: Network }>('h1', 'getNetwork', { networkId: network.id })).network;
    // 10.231.77.0/24 is the underlay's route on the manager's host: the pool's other /24 is used.
    expect(net.ipam?.configs[0]).toMatchObject({ subnet: '10.231.76.0/24', gateway: '10.231.76.1' });
    expect(net.vni).toBe(4096);

    const leader = await c.leader(['h1', 'h2', 'h3']);
    const others = ['h1', 'h2', 'h3'].filter((h) => h !== leader);
    await scale(leader, service.id, 200);
    await c.kill(leader, 'SIGKILL');
    const next = await c.leader(others, 90_000);
    const tasks = await until(async () => {
      const ts = (await c.tasks(next, service.id)).filter(live);
      return ts.length === 200 && ts.every((t) => t.networks.length === 1 && t.networks[0]!.addresses.length === 1) ? ts : undefined;
    }, '200 attached after the leader change', 120_000);
    const vip = (await c.control<{ service: Service }>(next, 'getService', { serviceId: service.id })).service.endpoint!.virtualIps;
    const held = [...addrsOf(tasks), ...vip.map((v) => v.addr)];
    expect(held.length).toBe(201);
    expect(new Set(held).size).toBe(201);
    for (const t of tasks) expect(t.status?.state).toBe(TaskState.PENDING); // allocated, then no node fits

    // Scale down (never-placed tasks free their addresses at once), then fill the /24 exactly.
    await scale(next, service.id, 50);
    await scale(next, service.id, 252);
    const full = await until(async () => {
      const ts = (await c.tasks(next, service.id)).filter(live);
      return ts.length === 252 && ts.every((t) => t.networks.length === 1) ? ts : undefined;
    }, '252 attached', 120_000);
    const all = [...addrsOf(full), ...vip.map((v) => v.addr)];
    expect(new Set(all).size).toBe(253);
    expect(all.every((a) => /^10\.231\.76\.\d+\/24$/.test(a) && a !== '10.231.76.1/24')).toBe(true);

    // One more replica than the /24 can address is refused at once; another service's task waits.
    await expect(scale(next, service.id, 253)).rejects.toThrow(/asks for 253 replicas but network "alloc_net" \(\/24\) has addresses for 252 tasks beside the service's virtual IP/);
    const more = ServiceSpec.fromPartial({ ...spec, annotations: { name: 'alloc_more' } });
    more.mode = { $case: 'replicated', value: { replicas: 1 } };
    const s3 = (await c.control<{ service: Service }>(next, 'createService', { spec: more })).service;
    await until(
      async () => (await c.tasks(next, s3.id)).some((t) => live(t) && t.status?.err === 'network alloc_net has no free address (/24: 253 in use)'),
      'a task of another service to say the network is full',
      60_000,
    );

    // The pool has no /24 left for a second network: its task waits and says so.
    await c.control(next, 'createNetwork', { spec: { annotations: { name: 'alloc_two' }, driverConfig: { name: 'overlay' } } });
    const two = ServiceSpec.fromPartial({ ...spec, annotations: { name: 'alloc_two_web' }, task: { ...spec.task!, networks: [{ target: 'alloc_two', aliases: [] }] } });
    two.mode = { $case: 'replicated', value: { replicas: 1 } };
    const s2 = (await c.control<{ service: Service }>(next, 'createService', { spec: two })).service;
    await until(
      async () => (await c.tasks(next, s2.id)).some((t) => /^network alloc_two has no subnet: the default address pool 10\.231\.76\.0\/23 has no free \/24 left/.test(t.status?.err ?? '')),
      'the second network to say the pool is exhausted',
      60_000,
    );
  });
});
