import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeStatus_State, Task, TaskState } from '../../../proto/gen/types.js';
import { GlobalOrchestrator } from '../../../manager/orchestrator/global/orchestrator.js';
import { ReplicatedOrchestrator } from '../../../manager/orchestrator/replicated/orchestrator.js';
import { ConstraintError, parseConstraints } from '../../../manager/scheduler/constraints.js';
import { Scheduler } from '../../../manager/scheduler/scheduler.js';
import { ProposalTooLargeError } from '../../../manager/store/index.js';
import { makeNode, makeService } from '../store/fixtures.js';
import { Harness, live, quiet } from '../orchestrator/harness.js';

describe('scheduler', () => {
  let h: Harness;
  beforeEach(() => {
    h = new Harness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('assigns in batched transactions and leaves nothing pending when everything fits', async () => {
    await h.store.update((tx) => {
      for (let i = 0; i < 4; i++) tx.nodes.create(makeNode(`n${i}`));
      tx.services.create(makeService('s1', 'web', { replicas: 25 }));
    });
    h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }));
    await h.until('25 pending', () => h.tasks('s1').length === 25);
    const before = h.store.version;
    h.start(new Scheduler(h.store, h.clock, { logger: quiet, batchSize: 10 }));
    await h.until('all assigned', () => h.tasks('s1').every((t) => t.status?.state === TaskState.ASSIGNED));
    await h.quiesce();
    expect(h.store.version - before).toBe(3n); // 10 + 10 + 5
    const perNode = new Map<string, number>();
    for (const t of h.tasks('s1')) perNode.set(t.nodeId, (perNode.get(t.nodeId) ?? 0) + 1);
    expect([...perNode.values()].sort()).toEqual([6, 6, 6, 7]);
    expect(h.tasks('s1')[0]!.status?.message).toBe('scheduler assigned task to node');
  });

  it('converges the same way when commits arrive later, as from a Raft log', async () => {
    await h.close();
    h = new Harness({ asyncLog: true });
    await h.store.update((tx) => {
      for (const id of ['n1', 'n2']) tx.nodes.create(makeNode(id));
      tx.services.create(makeService('s1', 'web', { replicas: 9 }));
      tx.services.create(makeService('g', 'agent', { global: true }));
    });
    h.start(
      new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }),
      new GlobalOrchestrator(h.store, h.clock, { logger: quiet }),
      new Scheduler(h.store, h.clock, { logger: quiet, batchSize: 4 }),
    );
    await h.until('all assigned', (tx) => tx.tasks.all().length === 11 && tx.tasks.all().every((t) => t.status?.state === TaskState.ASSIGNED));
    await h.store.update((tx) => tx.nodes.create(makeNode('n3')));
    await h.until('global task on n3', () => h.tasks('g', (t) => t.nodeId === 'n3' && t.status?.state === TaskState.ASSIGNED).length === 1);
    await h.quiesce();
    expect(h.tasks('s1').length).toBe(9);
    expect(h.tasks('g').length).toBe(3);
  });

  it('splits big changes into proposals under the size limit', async () => {
    await h.close();
    h = new Harness({ maxProposalBytes: 30_000 });
    await h.store.update((tx) => {
      for (const id of ['n1', 'n2', 'n3']) tx.nodes.create(makeNode(id));
      tx.services.create(makeService('s1', 'web', { replicas: 400 }));
    });
    await expect(
      h.store.update((tx) => {
        for (let i = 0; i < 400; i++) tx.nodes.create(makeNode(`x${i}`));
      }),
    ).rejects.toBeInstanceOf(ProposalTooLargeError);
    expect(h.view((tx) => tx.nodes.all().length)).toBe(3);
    h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }), new Scheduler(h.store, h.clock, { logger: quiet }));
    await h.until('400 assigned', () => h.tasks('s1', (t) => t.status?.state === TaskState.ASSIGNED).length === 400);
    await h.store.update((tx) => {
      const s = tx.services.get('s1')!;
      tx.services.update({ ...s, spec: { ...s.spec!, mode: { $case: 'replicated', value: { replicas: 10 } } } });
    });
    await h.until('scaled down to 10', () => h.tasks('s1', live).length === 10);
  });

  it('with the orchestrator, moves the tasks of a node that goes down to the others', async () => {
    await h.store.update((tx) => {
      for (const id of ['n1', 'n2', 'n3']) tx.nodes.create(makeNode(id));
      tx.services.create(makeService('s1', 'web', { replicas: 6 }));
    });
    h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }), new Scheduler(h.store, h.clock, { logger: quiet }));
    await h.until('6 assigned', () => h.tasks('s1', (t) => t.status?.state === TaskState.ASSIGNED).length === 6);
    await h.actAsAgents();
    await h.store.update((tx) => {
      const n = tx.nodes.get('n2')!;
      tx.nodes.update({ ...n, status: { ...n.status!, state: NodeStatus_State.DOWN } });
    });
    await h.until('6 live tasks placed off n2', () => {
      const l = h.tasks('s1', live);
      return l.length === 6 && l.every((t) => t.nodeId && t.nodeId !== 'n2');
    });
    await h.actAsAgents();
    await h.quiesce();
    const perNode = new Map<string, number>();
    for (const t of h.tasks('s1', live)) perNode.set(t.nodeId, (perNode.get(t.nodeId) ?? 0) + 1);
    expect(Object.fromEntries(perNode)).toEqual({ n1: 3, n3: 3 });
    // The old tasks on n2 are told to stop; n2's agent does so when it comes back.
    expect(h.tasks('s1', (t) => t.nodeId === 'n2').every((t) => t.desiredState === TaskState.SHUTDOWN)).toBe(true);
  });

  it('updates a pending reason when the cluster changes, and places once a node fits', async () => {
    await h.store.update((tx) => {
      tx.nodes.create(makeNode('n1', { memoryMiB: 100 }));
      tx.services.create(makeService('s1', 'db', { replicas: 1, reserveMemoryMiB: 200 }));
    });
    h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }), new Scheduler(h.store, h.clock, { logger: quiet }));
    await h.until('reason', () => h.tasks('s1')[0]?.status?.err === 'no suitable node (1 node has insufficient memory)');
    await h.store.update((tx) => tx.nodes.create(makeNode('n2', { state: NodeStatus_State.DOWN })));
    await h.until('reason with n2', () => h.tasks('s1')[0]?.status?.err === 'no suitable node (1 node not available for new tasks; 1 node has insufficient memory)');
    expect(h.tasks('s1')[0]!.status?.state).toBe(TaskState.PENDING);
    await h.store.update((tx) => {
      const n = tx.nodes.get('n2')!;
      tx.nodes.update({ ...n, status: { ...n.status!, state: NodeStatus_State.READY } });
    });
    await h.until('placed on n2', () => h.tasks('s1')[0]?.nodeId === 'n2');
    expect(h.tasks('s1')[0]!.status?.err).toBe('');
  });

  it('counts tasks already assigned to a node whose object appears later', async () => {
    await h.store.update((tx) => {
      const held = makeService('old', 'old', { replicas: 1, reserveMemoryMiB: 600 });
      tx.services.create(held);
      tx.tasks.create(
        Task.fromPartial({ id: 'held', serviceId: 'old', slot: 1, nodeId: 'n9', desiredState: TaskState.RUNNING, spec: held.spec!.task, status: { state: TaskState.RUNNING } }),
      );
      tx.services.create(makeService('s1', 'db', { replicas: 1, reserveMemoryMiB: 600, constraints: ['node.id==n9'] }));
    });
    h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }), new Scheduler(h.store, h.clock, { logger: quiet }));
    await h.until('pending without nodes', () => h.tasks('s1')[0]?.status?.err === 'no suitable node (no nodes in the cluster)');
    await h.store.update((tx) => tx.nodes.create(makeNode('n9', { memoryMiB: 1024 })));
    await h.until('still pending, for memory', () => h.tasks('s1')[0]?.status?.err === 'no suitable node (1 node has insufficient memory)');
  });

  it('never assigns a pending task that was told to stop', async () => {
    await h.store.update((tx) => {
      tx.nodes.create(makeNode('n1'));
      tx.services.create(makeService('s1', 'web', { replicas: 2 }));
    });
    h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }));
    await h.until('2 tasks', () => h.tasks('s1').length === 2);
    const [t1] = h.tasks('s1');
    await h.store.update((tx) => tx.tasks.update({ ...tx.tasks.get(t1!.id)!, desiredState: TaskState.SHUTDOWN }));
    h.start(new Scheduler(h.store, h.clock, { logger: quiet }));
    await h.quiesce();
    expect(h.view((tx) => tx.tasks.get(t1!.id)?.status?.state)).toBe(TaskState.PENDING);
  });
});

describe('parseConstraints', () => {
  it('accepts the documented fields and operators', () => {
    const cs = parseConstraints(['node.labels.zone == a', 'node.role!=manager', 'node.hostname==h1', 'node.id==x', 'node.platform.os==linux', 'engine.labels.k==v']);
    expect(cs.map((c) => [c.field.kind, c.equal, c.value])).toEqual([
      ['label', true, 'a'],
      ['role', false, 'manager'],
      ['hostname', true, 'h1'],
      ['id', true, 'x'],
      ['os', true, 'linux'],
      ['engine-label', true, 'v'],
    ]);
  });

  it.each([
    ['node.colour==red', 'unknown field "node.colour"'],
    ['node.labels.zone=a', 'expected FIELD==VALUE'],
    ['node.labels.zone==', 'the value is empty'],
    ['node.role==boss', 'node.role is "manager" or "worker"'],
    ['node.labels.==a', 'no label name'],
  ])('refuses %s with a user-facing error', (text, msg) => {
    let err: unknown;
    try {
      parseConstraints([text]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConstraintError);
    expect((err as ConstraintError).userError).toBe(true);
    expect((err as Error).message).toContain(msg);
    expect((err as Error).message).toContain(text);
  });
});
