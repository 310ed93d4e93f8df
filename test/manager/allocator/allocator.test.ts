// The allocator on a MemoryStore, with the orchestrator and the scheduler: networks get a subnet
// and a VNI, services a VIP, tasks an address before they are placed; addresses come back when
// tasks stop, are removed, or their node is removed; a new allocator rebuilds from the store.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Cluster, EndpointSpec_ResolutionMode, Network, NodeStatus_State, TaskState, type Service, type Task } from '../../../proto/gen/types.js';
import { Allocator } from '../../../manager/allocator/index.js';
import { GlobalOrchestrator } from '../../../manager/orchestrator/global/orchestrator.js';
import { ReplicatedOrchestrator } from '../../../manager/orchestrator/replicated/orchestrator.js';
import { TaskReaper } from '../../../manager/orchestrator/task-reaper.js';
import { Scheduler } from '../../../manager/scheduler/scheduler.js';
import type { ReadonlyDeep, ReadTx } from '../../../manager/store/index.js';
import { makeNode, makeService, withState } from '../store/fixtures.js';
import { Harness, quiet } from '../orchestrator/harness.js';

type RO<T> = ReadonlyDeep<T>;

function makeNetwork(id: string, name: string, ipam?: { subnet: string; range?: string; gateway?: string }): Network {
  return Network.fromPartial({
    id,
    spec: {
      annotations: { name },
      driverConfig: { name: 'overlay', options: {} },
      ipam: ipam ? { configs: [{ subnet: ipam.subnet, range: ipam.range ?? '', gateway: ipam.gateway ?? '' }] } : undefined,
    },
  });
}

function onNetworks(s: Service, ...targets: string[]): Service {
  s.spec!.task!.networks = targets.map((target) => ({ target, aliases: ['web'] }));
  return s;
}

const addrsOf = (tasks: readonly RO<Task>[]): string[] => tasks.flatMap((t) => t.networks.flatMap((a) => a.addresses));
const attached = (t: RO<Task>): boolean => t.networks.length > 0 && t.networks.every((a) => a.addresses.length > 0);
/** Every address held by a task that has not given it back, or by a VIP. */
function heldAddresses(tx: ReadTx): string[] {
  const out: string[] = [];
  for (const t of tx.tasks.all()) if ((t.status?.state ?? 0) <= TaskState.RUNNING) out.push(...addrsOf([t]));
  for (const s of tx.services.all()) out.push(...(s.endpoint?.virtualIps ?? []).map((v) => v.addr));
  return out;
}

describe('allocator', () => {
  let h: Harness;
  const alloc = (changesPerTx?: number) => new Allocator(h.store, h.clock, { logger: quiet, changesPerTx, hostRoutes: () => [] });
  beforeEach(() => {
    h = new Harness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('gives networks a subnet, gateway and VNI, services a VIP, and tasks an address and MAC before they are placed', async () => {
    await h.store.update((tx) => {
      for (const id of ['n1', 'n2']) tx.nodes.create(makeNode(id));
      tx.networks.create(makeNetwork('net1', 'app_default'));
      tx.networks.create(makeNetwork('net2', 'app_back', { subnet: '172.28.0.0/16', range: '172.28.5.0/24', gateway: '172.28.0.254' }));
      tx.services.create(onNetworks(makeService('s1', 'app_web', { replicas: 5 }), 'app_default', 'net2'));
    });
    h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }), new Scheduler(h.store, h.clock, { logger: quiet }));
    await h.until('5 tasks', () => h.tasks('s1').length === 5);
    await h.quiesce();
    // No allocator yet: nothing is placed.
    expect(h.tasks('s1').every((t) => t.status?.state === TaskState.PENDING && t.nodeId === '')).toBe(true);

    h.start(alloc());
    await h.until('all assigned', () => h.tasks('s1').every((t) => t.status?.state === TaskState.ASSIGNED));
    await h.quiesce();
    const [n1, n2] = h.view((tx) => [tx.networks.get('net1')!, tx.networks.get('net2')!]);
    expect(n1.ipam?.configs[0]).toMatchObject({ subnet: '10.0.0.0/24', gateway: '10.0.0.1' });
    expect(n2.ipam?.configs[0]).toMatchObject({ subnet: '172.28.0.0/16', range: '172.28.5.0/24', gateway: '172.28.0.254' });
    expect([n1.vni, n2.vni].sort()).toEqual([4096, 4097]);
    expect(n1.driverState?.options.vni).toBe(String(n1.vni));
    expect(n1.driverState?.name).toBe('vxlan');

    const vips = h.view((tx) => tx.services.get('s1')!.endpoint!.virtualIps);
    expect(vips.map((v) => v.networkId)).toEqual(['net1', 'net2']);
    expect(vips[0]!.addr).toBe('10.0.0.2/24');

    const tasks = h.tasks('s1');
    for (const t of tasks) {
      expect(t.networks.map((a) => a.networkId)).toEqual(['net1', 'net2']);
      const a = t.networks[0]!;
      expect(a).toMatchObject({ networkName: 'app_default', vni: n1.vni, subnet: '10.0.0.0/24', gateway: '10.0.0.1', aliases: ['web'], internal: false });
      expect(a.driver?.name).toBe('vxlan');
      const [ip] = a.addresses[0]!.split('/');
      expect(a.macAddress).toBe(`02:42:${ip!.split('.').map((b) => Number(b).toString(16).padStart(2, '0')).join(':')}`);
      expect(t.networks[1]!.addresses[0]).toMatch(/^172\.28\.5\.\d+\/16$/);
    }
    const all = [...addrsOf(tasks), ...vips.map((v) => v.addr)];
    expect(new Set(all).size).toBe(all.length);
    // Slots in order get addresses in order after the VIP.
    expect(tasks.map((t) => t.networks[0]!.addresses[0])).toEqual(['10.0.0.3/24', '10.0.0.4/24', '10.0.0.5/24', '10.0.0.6/24', '10.0.0.7/24']);
  });

  it('attaches the tasks of a global service before the scheduler confirms them on their nodes', async () => {
    await h.store.update((tx) => {
      for (const id of ['n1', 'n2', 'n3']) tx.nodes.create(makeNode(id));
      tx.networks.create(makeNetwork('net1', 'mon_default'));
      tx.services.create(onNetworks(makeService('g1', 'mon_agent', { global: true }), 'mon_default'));
    });
    h.start(new GlobalOrchestrator(h.store, h.clock, { logger: quiet }), new Scheduler(h.store, h.clock, { logger: quiet }));
    await h.until('3 tasks', () => h.tasks('g1').length === 3);
    await h.quiesce();
    expect(h.tasks('g1').every((t) => t.status?.state === TaskState.PENDING)).toBe(true);
    h.start(alloc());
    await h.until('3 assigned', () => h.tasks('g1').every((t) => t.status?.state === TaskState.ASSIGNED && attached(t)));
    expect(new Set(addrsOf(h.tasks('g1'))).size).toBe(3);
    expect(h.tasks('g1').map((t) => t.nodeId).sort()).toEqual(['n1', 'n2', 'n3']);
  });

  it('gives a VIP per network in VIP mode, frees the VIP of a network the service leaves, none in DNSRR mode', async () => {
    await h.store.update((tx) => {
      tx.networks.create(makeNetwork('net1', 'a', { subnet: '172.26.1.0/29' }));
      tx.networks.create(makeNetwork('net2', 'b', { subnet: '172.26.2.0/29' }));
      tx.services.create(onNetworks(makeService('s1', 'web', { replicas: 0 }), 'a', 'b'));
    });
    h.start(alloc());
    const vips = () => h.view((tx) => tx.services.get('s1')!.endpoint?.virtualIps.map((v) => `${v.networkId}=${v.addr}`) ?? []);
    await h.until('two VIPs', () => vips().length === 2);
    expect(vips()).toEqual(['net1=172.26.1.2/29', 'net2=172.26.2.2/29']);
    await h.store.update((tx) => {
      const s = tx.services.get('s1')!;
      tx.services.update(onNetworks({ ...s, spec: { ...s.spec!, task: { ...s.spec!.task! } } } as Service, 'a'));
    });
    await h.until('one VIP', () => vips().length === 1);
    // the freed VIP of b goes to the next holder: a second service on b, after b's cursor wraps
    await h.store.update((tx) => {
      tx.services.create(onNetworks(makeService('s2', 'api', { replicas: 0 }), 'b'));
      tx.services.create(onNetworks(makeService('s3', 'db', { replicas: 0 }), 'b'));
      tx.services.create(onNetworks(makeService('s4', 'cache', { replicas: 0 }), 'b'));
      tx.services.create(onNetworks(makeService('s5', 'queue', { replicas: 0 }), 'b'));
      tx.services.create(onNetworks(makeService('s6', 'mail', { replicas: 0 }), 'b'));
    });
    // a /29 holds 5: s2..s6 fit only because s1 gave its address on b back
    await h.until('five VIPs on b', (tx) => ['s2', 's3', 's4', 's5', 's6'].every((id) => tx.services.get(id)!.endpoint?.virtualIps.length === 1));
    const onB = h.view((tx) => ['s2', 's3', 's4', 's5', 's6'].map((id) => tx.services.get(id)!.endpoint!.virtualIps[0]!.addr));
    expect(new Set(onB).size).toBe(5);
    expect(onB).toContain('172.26.2.2/29');
    await h.store.update((tx) => {
      const s = tx.services.get('s1')!;
      tx.services.update({ ...s, spec: { ...s.spec!, endpoint: { mode: EndpointSpec_ResolutionMode.DNSRR, ports: [] } } });
    });
    await h.until('no VIP in DNSRR mode', () => vips().length === 0);
  });

  it('keeps the default pool clear of the host routes', async () => {
    await h.store.update((tx) => tx.networks.create(makeNetwork('net1', 'a')));
    h.start(new Allocator(h.store, h.clock, { logger: quiet, hostRoutes: () => [{ cidr: { base: 10 * 2 ** 24, prefix: 23 }, dev: 'eth0' }] }));
    await h.until('allocated', (tx) => tx.networks.get('net1')!.vni !== 0);
    expect(h.view((tx) => tx.networks.get('net1')!.ipam!.configs[0]!.subnet)).toBe('10.0.2.0/24');
  });

  it('leaves a task pending with the reason when its network is full, and places it once an address comes back', async () => {
    await h.store.update((tx) => {
      tx.nodes.create(makeNode('n1'));
      // a /29: 8 addresses, less network, broadcast and gateway = 5; each service's VIP takes one
      tx.networks.create(makeNetwork('net1', 'app_default', { subnet: '10.99.0.0/29' }));
      tx.services.create(onNetworks(makeService('s1', 'app_web', { replicas: 3 }), 'app_default'));
      tx.services.create(onNetworks(makeService('s2', 'app_db', { replicas: 2 }), 'app_default'));
    });
    h.start(
      new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }),
      new Scheduler(h.store, h.clock, { logger: quiet }),
      new TaskReaper(h.store, h.clock, { logger: quiet }),
      alloc(),
    );
    await h.until('5 tasks', (tx) => tx.tasks.all().length === 5);
    await h.quiesce();
    const stuck = h.view((tx) => tx.tasks.all().filter((t) => t.status?.state === TaskState.PENDING));
    expect(stuck.length).toBe(2);
    for (const t of stuck) {
      expect(t.networks).toEqual([]);
      expect(t.status?.message).toBe('network app_default has no free address (/29: 5 in use)');
      expect(t.status?.err).toBe(t.status?.message);
    }
    await h.actAsAgents();
    // Removing s1 frees its VIP at once and its tasks' addresses once they have stopped.
    await h.store.update((tx) => tx.services.delete('s1'));
    await h.until('s1 told to stop', () => h.tasks('s1').every((t) => t.desiredState > TaskState.RUNNING));
    await h.actAsAgents();
    await h.until('s2 all assigned', () => h.tasks('s2').length === 2 && h.tasks('s2').every((t) => t.status?.state === TaskState.ASSIGNED && attached(t)));
    await h.quiesce();
    const held = h.view(heldAddresses);
    expect(new Set(held).size).toBe(held.length);
  });

  it('frees the addresses of tasks that stop, are deleted, or whose node is removed, and reuses them', async () => {
    await h.store.update((tx) => {
      for (const id of ['n1', 'n2']) tx.nodes.create(makeNode(id));
      tx.networks.create(makeNetwork('net1', 'app_default', { subnet: '10.98.0.0/29' }));
      tx.services.create(onNetworks(makeService('s1', 'app_web', { replicas: 4 }), 'app_default'));
    });
    h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }), new Scheduler(h.store, h.clock, { logger: quiet }), alloc());
    await h.until('4 assigned', () => h.tasks('s1').filter((t) => t.status?.state === TaskState.ASSIGNED).length === 4);
    await h.actAsAgents();
    await h.quiesce();
    const first = h.view(heldAddresses);
    expect(first.length).toBe(5); // the network is full

    // n2 goes down and is removed for good: its tasks are replaced once their addresses are back.
    await h.store.update((tx) => tx.nodes.update({ ...tx.nodes.get('n2')!, status: { ...tx.nodes.get('n2')!.status!, state: NodeStatus_State.DOWN } }));
    await h.until('replacements asked for', () => h.tasks('s1').filter((t) => t.desiredState <= TaskState.RUNNING).length === 4 && h.tasks('s1').length > 4);
    const onN2 = h.tasks('s1', (t) => t.nodeId === 'n2');
    expect(onN2.length).toBeGreaterThan(0);
    await h.quiesce();
    // still held: n2 might come back with those tasks running
    expect(h.tasks('s1', (t) => t.desiredState <= TaskState.RUNNING && t.status?.state === TaskState.PENDING).every((t) => t.networks.length === 0)).toBe(true);
    await h.store.update((tx) => tx.nodes.delete('n2'));
    await h.until('all replacements on n1 with addresses', () => {
      const live = h.tasks('s1', (t) => t.desiredState <= TaskState.RUNNING);
      return live.length === 4 && live.every((t) => t.nodeId === 'n1' && attached(t));
    });
    const live = h.tasks('s1', (t) => t.desiredState <= TaskState.RUNNING);
    const reused = addrsOf(live).filter((a) => addrsOf(onN2).includes(a));
    expect(reused.length).toBe(onN2.length);
    expect(new Set(addrsOf(live)).size).toBe(4);
  });

  it('rebuilds from the store: a new allocator rewrites nothing and never gives an address twice', async () => {
    await h.store.update((tx) => {
      tx.nodes.create(makeNode('n1'));
      tx.networks.create(makeNetwork('net1', 'app_default'));
      tx.services.create(onNetworks(makeService('s1', 'app_web', { replicas: 20 }), 'app_default'));
    });
    const orch = new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet });
    const first = alloc(3);
    h.start(orch, new Scheduler(h.store, h.clock, { logger: quiet }), first);
    await h.until('20 attached', () => h.tasks('s1').filter(attached).length === 20);
    await h.quiesce();
    first.stop();
    const before = h.store.version;
    const second = alloc(3);
    h.start(second);
    await h.quiesce();
    expect(h.store.version).toBe(before);
    await h.store.update((tx) => {
      const s = tx.services.get('s1')!;
      tx.services.update({ ...s, spec: { ...s.spec!, mode: { $case: 'replicated', value: { replicas: 30 } } } });
    });
    await h.until('30 attached', () => h.tasks('s1').filter(attached).length === 30);
    const held = h.view(heldAddresses);
    expect(held.length).toBe(31);
    expect(new Set(held).size).toBe(31);
    expect(h.view((tx) => tx.networks.all().map((n) => n.vni))).toEqual([4096]);
  });

  it('deletes a network marked for deletion once its last task is gone', async () => {
    await h.store.update((tx) => {
      tx.nodes.create(makeNode('n1'));
      tx.networks.create(makeNetwork('net1', 'app_default'));
      tx.services.create(onNetworks(makeService('s1', 'app_web', { replicas: 2 }), 'app_default'));
    });
    h.start(
      new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }),
      new Scheduler(h.store, h.clock, { logger: quiet }),
      new TaskReaper(h.store, h.clock, { logger: quiet }),
      alloc(),
    );
    await h.until('2 assigned', () => h.tasks('s1').filter((t) => t.status?.state === TaskState.ASSIGNED).length === 2);
    await h.actAsAgents();
    await h.store.update((tx) => {
      tx.services.delete('s1');
      tx.networks.update({ ...tx.networks.get('net1')!, pendingDelete: true });
    });
    await h.quiesce();
    expect(h.view((tx) => tx.networks.get('net1')?.pendingDelete)).toBe(true);
    // the agent stops the tasks: the network goes
    await h.store.update((tx) => {
      for (const t of tx.tasks.all()) tx.tasks.update(withState(t, TaskState.SHUTDOWN));
    });
    await h.until('network deleted', (tx) => !tx.networks.get('net1'));
  });

  it('waits for a network that has no subnet and says why', async () => {
    await h.store.update((tx) => {
      tx.nodes.create(makeNode('n1'));
      tx.clusters.create(Cluster.fromPartial({ id: 'c1', spec: { annotations: { name: 'default' } }, defaultAddressPool: ['10.40.0.0/24'], defaultAddressPoolMaskLength: 24 }));
      tx.networks.create(makeNetwork('net1', 'a'));
    });
    h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }), new Scheduler(h.store, h.clock, { logger: quiet }), alloc());
    await h.until('a allocated', (tx) => tx.networks.get('net1')!.vni !== 0);
    await h.store.update((tx) => {
      tx.networks.create(makeNetwork('net2', 'b'));
      tx.services.create(onNetworks(makeService('s1', 'b_web', { replicas: 1 }), 'b'));
    });
    await h.until('task says why', () => h.tasks('s1')[0]?.status?.err !== undefined && h.tasks('s1')[0]!.status!.err !== '');
    expect(h.tasks('s1')[0]!.status?.err).toMatch(/^network b has no subnet: the default address pool 10.40.0.0\/24 has no free \/24 left/);
    expect(h.tasks('s1')[0]!.status?.state).toBe(TaskState.PENDING);
    await h.store.update((tx) => tx.networks.delete('net1'));
    await h.until('task placed', () => h.tasks('s1')[0]!.status?.state === TaskState.ASSIGNED);
    expect(h.tasks('s1')[0]!.networks[0]!.subnet).toBe('10.40.0.0/24');
    expect(h.tasks('s1')[0]!.status?.err).toBe('');
  });
});
