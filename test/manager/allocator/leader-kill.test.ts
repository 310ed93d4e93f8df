// The allocator across a leader change on a real Raft group: three RaftNodes over real gRPC on
// loopback with real WALs, each applying to its own MemoryStore. The leader is stopped with an
// allocation proposal in flight while 200 tasks are being given addresses; the next leader
// rebuilds its pools from the store and finishes. Every address must be unique, and addresses
// freed by a scale-down must be handed out again (the /24 is filled exactly).
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Network, TaskState, TaskStatus, type Service, type Task } from '../../../proto/gen/types.js';
import { Allocator } from '../../../manager/allocator/index.js';
import { RealClock } from '../../../manager/clock.js';
import { ReplicatedOrchestrator } from '../../../manager/orchestrator/replicated/orchestrator.js';
import { TaskReaper } from '../../../manager/orchestrator/task-reaper.js';
import { RaftNode } from '../../../manager/raft/node/index.js';
import { Scheduler } from '../../../manager/scheduler/scheduler.js';
import { RaftBinding, type MemoryStore, type ReadonlyDeep, type ReadTx } from '../../../manager/store/index.js';
import { makeNode, makeService } from '../store/fixtures.js';
import { freePorts } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/wait.js';

const quiet = pino({ level: process.env.SHOAL_TEST_LOG ?? 'silent' });
type RO<T> = ReadonlyDeep<T>;

interface Member {
  id: bigint;
  binding: RaftBinding;
  node: RaftNode<bigint>;
  work?: AbortController;
  done?: Promise<unknown>;
}

let members: Member[] = [];
let dir = '';
afterEach(async () => {
  for (const m of members) m.work?.abort();
  await Promise.all(members.map((m) => m.done));
  await Promise.all(members.map((m) => m.node.stop().catch(() => undefined)));
  members = [];
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = '';
});

const live = (t: RO<Task>): boolean => t.desiredState <= TaskState.RUNNING;
const attached = (t: RO<Task>): boolean => t.networks.length === 1 && t.networks[0]!.addresses.length === 1;
const liveAttached = (s: MemoryStore): number => s.view((tx) => tx.tasks.find('service', 's1').filter((t) => live(t) && attached(t)).length);

/** Addresses held now: tasks not yet stopped, and the VIP. */
function held(tx: ReadTx): string[] {
  const out = tx.tasks.all().filter((t) => (t.status?.state ?? 0) <= TaskState.RUNNING).flatMap((t) => t.networks.flatMap((a) => a.addresses));
  for (const s of tx.services.all()) out.push(...(s.endpoint?.virtualIps ?? []).map((v) => v.addr));
  return out;
}

function setReplicas(s: RO<Service>, replicas: number): RO<Service> {
  return { ...s, spec: { ...s.spec!, mode: { $case: 'replicated', value: { replicas } } } };
}

describe('allocator across a leader change', () => {
  it('never gives an address twice when the leader dies mid-allocation, and reuses freed ones', { timeout: 300_000 }, async () => {
    dir = await mkdtemp('/tmp/shoal-alloc-raft-');
    const ports = await freePorts(3);
    const peers = new Map(ports.map((p, i) => [BigInt(i + 1), `127.0.0.1:${p}`]));
    let killAt: ((m: Member) => boolean) | undefined;
    const startMember = async (id: bigint): Promise<Member> => {
      const binding = new RaftBinding({ clock: new RealClock() });
      const node = await RaftNode.start<bigint>({
        id,
        clusterId: 'shoal-alloc',
        dir: path.join(dir, `m${id}`),
        listen: peers.get(id)!,
        peers,
        stateMachine: binding.stateMachine,
        logger: quiet,
      });
      const m: Member = { id, binding, node };
      // The leader is killed from inside its proposal path: the proposal that crosses the mark
      // goes to Raft and the node stops at once, so it may or may not commit.
      binding.attach({
        propose: (data) => {
          const p = node.propose(data);
          if (killAt?.(m)) {
            killAt = undefined;
            void node.stop();
          }
          return p;
        },
      });
      return m;
    };
    for (const id of peers.keys()) members.push(await startMember(id));
    const leader = (): Member | undefined => {
      const ls = members.filter((m) => m.node.status().role === 'leader');
      return ls.length === 1 && members.every((m) => m.node.status().leader === ls[0]!.id) ? ls[0] : undefined;
    };
    // What a manager does on election: a read barrier, then the leader-only components.
    const lead = async (m: Member): Promise<void> => {
      await m.node.readIndex();
      const clock = new RealClock();
      const o = { logger: quiet };
      const ac = new AbortController();
      m.work = ac;
      m.done = Promise.allSettled(
        [
          new ReplicatedOrchestrator(m.binding.store, clock, o),
          new TaskReaper(m.binding.store, clock, o),
          new Allocator(m.binding.store, clock, { ...o, changesPerTx: 10, hostRoutes: () => [] }),
          new Scheduler(m.binding.store, clock, o),
        ].map((c) => c.run(ac.signal)),
      );
    };

    await waitFor('a leader', () => !!leader(), 60_000);
    const l1 = leader()!;
    await lead(l1);
    killAt = (m) => m === l1 && liveAttached(m.binding.store) >= 60;
    await l1.binding.store.update((tx) => {
      for (const id of ['n1', 'n2', 'n3']) tx.nodes.create(makeNode(id));
      tx.networks.create(Network.fromPartial({ id: 'net1', spec: { annotations: { name: 'app_default' }, driverConfig: { name: 'overlay' }, ipam: { configs: [{ subnet: '172.27.0.0/24' }] } } }));
      const s = makeService('s1', 'app_web', { replicas: 200 });
      s.spec!.task!.networks = [{ target: 'app_default', aliases: [] }];
      tx.services.create(s);
    });
    await waitFor('the leader to be killed mid-allocation', () => killAt === undefined, 120_000);
    const atKill = liveAttached(l1.binding.store);
    expect(atKill).toBeGreaterThanOrEqual(60);
    expect(atKill).toBeLessThan(200);
    l1.work!.abort();
    await l1.done;
    await l1.node.stop();

    const rest = members.filter((m) => m !== l1);
    const newLeader = (): Member | undefined => {
      const ls = rest.filter((m) => m.node.status().role === 'leader');
      return ls.length === 1 && rest.every((m) => m.node.status().leader === ls[0]!.id) ? ls[0] : undefined;
    };
    await waitFor('a new leader', () => !!newLeader(), 60_000);
    const l2 = newLeader()!;
    await lead(l2);
    await waitFor('200 tasks attached and assigned on the new leader', () =>
      l2.binding.store.view((tx) => tx.tasks.find('service', 's1').filter((t) => live(t) && attached(t) && t.status?.state === TaskState.ASSIGNED).length === 200),
    120_000);
    let addrs = l2.binding.store.view(held);
    expect(addrs.length).toBe(201);
    expect(new Set(addrs).size).toBe(201);

    // The old leader comes back as a follower and converges on the same addresses.
    members = members.filter((m) => m !== l1);
    const back = await startMember(l1.id);
    members.push(back);
    const key = (s: MemoryStore) => JSON.stringify(s.view(held).sort());
    await waitFor('the old leader to catch up', () => key(back.binding.store) === key(l2.binding.store), 120_000);

    // Scale down: the agents (played here) stop 100 tasks; their addresses come back.
    await l2.binding.store.update((tx) => tx.services.update(setReplicas(tx.services.get('s1')!, 100)));
    await waitFor('100 told to stop', () => l2.binding.store.view((tx) => tx.tasks.find('service', 's1').filter(live).length === 100), 60_000);
    await l2.binding.store.update((tx) => {
      for (const t of tx.tasks.all()) {
        if (!live(t) && (t.status?.state ?? 0) <= TaskState.RUNNING) tx.tasks.update({ ...t, status: TaskStatus.fromPartial({ state: TaskState.SHUTDOWN }) });
      }
    });
    // 252 tasks and the VIP fill the /24 exactly (253 addresses): only possible if all freed ones are reused.
    await l2.binding.store.update((tx) => tx.services.update(setReplicas(tx.services.get('s1')!, 252)));
    await waitFor('252 attached', () => liveAttached(l2.binding.store) === 252, 120_000);
    addrs = l2.binding.store.view(held);
    expect(addrs.length).toBe(253);
    expect(new Set(addrs).size).toBe(253);
    const expected = Array.from({ length: 253 }, (_, i) => `172.27.0.${i + 2}/24`);
    expect([...addrs].sort()).toEqual(expected.sort());

    // One more replica has nowhere to go: it stays pending and says why.
    await l2.binding.store.update((tx) => tx.services.update(setReplicas(tx.services.get('s1')!, 253)));
    await waitFor('the last task says why it waits', () =>
      l2.binding.store.view((tx) => tx.tasks.find('service', 's1').some((t) => live(t) && t.status?.err === 'network app_default has no free address (/24: 253 in use)')),
    60_000);
    const stuck = l2.binding.store.view((tx) => tx.tasks.find('service', 's1').filter((t) => live(t) && !attached(t)));
    expect(stuck.map((t) => [t.status?.state, t.nodeId])).toEqual([[TaskState.PENDING, '']]);
  });
});
