// The store on a real Raft cluster: three RaftNodes over real gRPC on loopback with real WALs,
// each applying to its own MemoryStore; the leader runs the orchestrators and the scheduler.
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Service, Task, TaskState } from '../../../proto/gen/types.js';
import { RealClock } from '../../../manager/clock.js';
import { NotLeaderError } from '../../../manager/raft/index.js';
import { RaftNode } from '../../../manager/raft/node/index.js';
import { LeaderComponents } from '../../../manager/orchestrator/leader-components.js';
import { RaftBinding, type MemoryStore } from '../../../manager/store/index.js';
import { makeNode, makeService } from './fixtures.js';
import { freePorts } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/wait.js';

const quiet = pino({ level: 'silent' });

interface Member {
  id: bigint;
  binding: RaftBinding;
  node: RaftNode<bigint>;
  leaderWork?: LeaderComponents;
}

const assigned = (s: MemoryStore, serviceId: string): number =>
  s.view((tx) => tx.tasks.find('service', serviceId).filter((t) => t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.ASSIGNED).length);

const dump = (s: MemoryStore): unknown =>
  s.view((tx) => ({
    tasks: tx.tasks.all().map((t) => Task.toJSON(t as Task)).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    services: tx.services.all().map((x) => Service.toJSON(x as Service)),
  }));

let members: Member[] = [];
let dir = '';
afterEach(async () => {
  for (const m of members) await m.leaderWork?.stop();
  await Promise.all(members.map((m) => m.node.stop().catch(() => undefined)));
  members = [];
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = '';
});

describe('MemoryStore on a Raft cluster', () => {
  it('replicates every write to all managers, refuses writes on followers, and survives a leader change', async () => {
    dir = await mkdtemp('/tmp/shoalst-raft-');
    const ports = await freePorts(3);
    const peers = new Map(ports.map((p, i) => [BigInt(i + 1), `127.0.0.1:${p}`]));
    for (const [id, addr] of peers) {
      const binding = new RaftBinding({ clock: new RealClock() });
      const node = await RaftNode.start<bigint>({
        id,
        clusterId: 'shoalst-store',
        dir: path.join(dir, `m${id}`),
        listen: addr,
        peers,
        stateMachine: binding.stateMachine,
        logger: quiet,
      });
      binding.attach(node);
      members.push({ id, binding, node });
    }
    const leader = (): Member | undefined => {
      const ls = members.filter((m) => m.node.status().role === 'leader');
      return ls.length === 1 && members.every((m) => m.node.status().leader === ls[0]!.id) ? ls[0] : undefined;
    };
    await waitFor('a leader', () => !!leader());
    const l1 = leader()!;
    l1.leaderWork = new LeaderComponents(l1.binding.store, new RealClock(), { logger: quiet });
    l1.leaderWork.start();
    await l1.binding.store.update((tx) => {
      for (const id of ['n1', 'n2', 'n3']) tx.nodes.create(makeNode(id));
      tx.services.create(makeService('s1', 'web', { replicas: 6 }));
    });
    await waitFor('6 assigned everywhere', () => members.every((m) => assigned(m.binding.store, 's1') === 6));
    await waitFor('identical stores', () => members.every((m) => JSON.stringify(dump(m.binding.store)) === JSON.stringify(dump(l1.binding.store))));

    const follower = members.find((m) => m !== l1)!;
    const before = follower.binding.store.version;
    await expect(follower.binding.store.update((tx) => tx.nodes.create(makeNode('n9')))).rejects.toBeInstanceOf(NotLeaderError);
    expect(follower.binding.store.view((tx) => tx.nodes.get('n9'))).toBeUndefined();
    expect(follower.binding.store.version).toBe(before);

    // The leader goes; another takes over with the replicated state and carries on.
    await l1.leaderWork.stop();
    await l1.node.stop();
    members = members.filter((m) => m !== l1);
    await waitFor('a new leader', () => !!leader());
    const l2 = leader()!;
    expect(assigned(l2.binding.store, 's1')).toBe(6);
    l2.leaderWork = new LeaderComponents(l2.binding.store, new RealClock(), { logger: quiet });
    l2.leaderWork.start();
    await l2.binding.store.update((tx) => {
      const s = tx.services.get('s1')!;
      tx.services.update({ ...s, spec: { ...s.spec!, mode: { $case: 'replicated', value: { replicas: 9 } } } });
    });
    await waitFor('9 assigned on both', () => members.every((m) => assigned(m.binding.store, 's1') === 9));
    const slots = l2.binding.store.view((tx) => tx.tasks.find('service', 's1').map((t) => t.slot).sort((a, b) => a - b));
    expect(slots).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});
