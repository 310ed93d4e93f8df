import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Cluster, NodeAvailability, NodeStatus_State, RestartPolicy_Condition, TaskState, type Service } from '../../../proto/gen/types.js';
import { ReplicatedOrchestrator } from '../../../manager/orchestrator/replicated/orchestrator.js';
import { TaskReaper } from '../../../manager/orchestrator/task-reaper.js';
import { newTask } from '../../../manager/orchestrator/tasks.js';
import type { ReadonlyDeep, WriteTx } from '../../../manager/store/index.js';
import { makeNode, makeService, withState } from '../store/fixtures.js';
import { Harness, live, quiet } from './harness.js';

function setReplicas(tx: WriteTx, id: string, replicas: number): void {
  const s = tx.services.get(id)!;
  const spec = { ...s.spec!, mode: { $case: 'replicated' as const, value: { replicas } } };
  tx.services.update({ ...s, spec } as ReadonlyDeep<Service>);
}

async function assignTo(h: Harness, nodeId: string): Promise<void> {
  await h.store.update((tx) => {
    for (const t of tx.tasks.all()) {
      if (!t.nodeId && live(t)) tx.tasks.update({ ...withState(t, TaskState.ASSIGNED), nodeId });
    }
  });
}

describe('replicated orchestrator', () => {
  let h: Harness;
  beforeEach(() => {
    h = new Harness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('creates one task per slot, scales up into new slots and down from the highest', async () => {
    await h.store.update((tx) => tx.services.create(makeService('s1', 'web', { replicas: 3 })));
    h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }));
    await h.until('3 tasks', () => h.tasks('s1').length === 3);
    expect(h.tasks('s1').map((t) => [t.slot, t.desiredState, t.status?.state, t.serviceName])).toEqual([
      [1, TaskState.RUNNING, TaskState.PENDING, 'web'],
      [2, TaskState.RUNNING, TaskState.PENDING, 'web'],
      [3, TaskState.RUNNING, TaskState.PENDING, 'web'],
    ]);
    await h.store.update((tx) => setReplicas(tx, 's1', 5));
    await h.until('5 live tasks', () => h.tasks('s1', live).length === 5);
    expect(h.tasks('s1').map((t) => t.slot)).toEqual([1, 2, 3, 4, 5]);
    await h.store.update((tx) => setReplicas(tx, 's1', 2));
    await h.until('2 live tasks', () => h.tasks('s1', live).length === 2);
    expect(h.tasks('s1', live).map((t) => t.slot)).toEqual([1, 2]);
    expect(h.tasks('s1', (t) => !live(t)).map((t) => [t.slot, t.desiredState])).toEqual([
      [3, TaskState.SHUTDOWN],
      [4, TaskState.SHUTDOWN],
      [5, TaskState.SHUTDOWN],
    ]);
    await h.quiesce();
    expect(h.tasks('s1').length).toBe(5);
  });

  it('replaces a failed task in its slot after the restart delay', async () => {
    await h.store.update((tx) => {
      tx.nodes.create(makeNode('n1'));
      tx.services.create(makeService('s1', 'web', { replicas: 2 }));
    });
    h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }));
    await h.until('2 tasks', () => h.tasks('s1').length === 2);
    await assignTo(h, 'n1');
    await h.actAsAgents();
    const failed = h.tasks('s1')[1]!;
    await h.store.update((tx) => tx.tasks.update(withState(tx.tasks.get(failed.id)!, TaskState.FAILED, { exitCode: 3 })));
    await h.until('failed task shut down', (tx) => tx.tasks.get(failed.id)?.desiredState === TaskState.SHUTDOWN);
    await h.quiesce();
    expect(h.tasks('s1', live).map((t) => t.slot)).toEqual([1]); // waiting out the 5 s delay
    await h.clock.advance(4_999);
    expect(h.tasks('s1', live).length).toBe(1);
    await h.clock.advance(1);
    await h.until('slot 2 refilled', () => h.tasks('s1', live).length === 2);
    const fresh = h.tasks('s1', (t) => live(t) && t.slot === 2)[0]!;
    expect(fresh.id).not.toBe(failed.id);
    expect(fresh.status?.state).toBe(TaskState.PENDING);
  });

  it('follows the restart condition: none keeps the slot as it ended; on-failure does not restart a clean exit', async () => {
    await h.store.update((tx) => {
      tx.services.create(makeService('none', 'none', { replicas: 1, restart: 'none' }));
      tx.services.create(makeService('onf', 'onf', { replicas: 2, restart: 'on-failure' }));
    });
    h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }));
    await h.until('3 tasks', (tx) => tx.tasks.all().length === 3);
    await assignTo(h, 'n1');
    const [a] = h.tasks('none');
    const [b, c] = h.tasks('onf');
    await h.store.update((tx) => {
      tx.tasks.update(withState(tx.tasks.get(a!.id)!, TaskState.FAILED));
      tx.tasks.update(withState(tx.tasks.get(b!.id)!, TaskState.COMPLETE));
      tx.tasks.update(withState(tx.tasks.get(c!.id)!, TaskState.FAILED));
    });
    await h.until('failures seen', (tx) => tx.tasks.get(c!.id)?.desiredState === TaskState.SHUTDOWN);
    await h.clock.advance(10_000);
    await h.quiesce();
    expect(h.tasks('none').map((t) => t.desiredState)).toEqual([TaskState.COMPLETE]);
    const onf = h.tasks('onf');
    expect(onf.map((t) => [t.slot, t.desiredState]).sort()).toEqual(
      [
        [1, TaskState.COMPLETE],
        [2, TaskState.SHUTDOWN],
        [2, TaskState.RUNNING],
      ].sort(),
    );
  });

  it('gives up on a slot after max attempts restarts', async () => {
    const svc = makeService('s1', 'flaky', { replicas: 1 });
    svc.spec!.task!.restart = { condition: RestartPolicy_Condition.ANY, delay: { nanos: 1_000_000_000n }, maxAttempts: 2, window: undefined };
    await h.store.update((tx) => tx.services.create(svc));
    h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }));
    for (let attempt = 0; attempt < 3; attempt++) {
      await h.until(`attempt ${attempt} live`, () => h.tasks('s1', live).length === 1);
      await assignTo(h, 'n1');
      const t = h.tasks('s1', live)[0]!;
      await h.store.update((tx) => tx.tasks.update(withState(tx.tasks.get(t.id)!, TaskState.FAILED)));
      await h.until('seen', (tx) => tx.tasks.get(t.id)!.desiredState > TaskState.RUNNING);
      await h.clock.advance(1_000);
    }
    await h.quiesce();
    expect(h.tasks('s1').map((t) => t.desiredState)).toEqual([TaskState.SHUTDOWN, TaskState.SHUTDOWN, TaskState.COMPLETE]);
    expect(h.tasks('s1', live)).toEqual([]);
  });

  it('counts a death once when its transaction is refused and run again (proposal too large)', async () => {
    // The orchestrator's answer to 40 deaths (40 updates + 40 new tasks) is over the limit; the
    // deaths themselves (40 updates) are not. The smaller retry must not count the deaths again:
    // with max attempts 1 every slot still gets its one restart.
    const big = new Harness({ maxProposalBytes: 9_000 });
    try {
      const svc = makeService('s1', 'many', { replicas: 40, restart: 'on-failure' });
      svc.spec!.task!.restart = { condition: RestartPolicy_Condition.ON_FAILURE, delay: { nanos: 0n }, maxAttempts: 1, window: undefined };
      await big.store.update((tx) => tx.services.create(svc));
      big.start(new ReplicatedOrchestrator(big.store, big.clock, { logger: quiet }));
      await big.until('40 live', () => big.tasks('s1', live).length === 40);
      const first = big.tasks('s1', live).map((t) => t.id);
      await big.store.update((tx) => {
        for (const id of first) tx.tasks.update(withState(tx.tasks.get(id)!, TaskState.FAILED));
      });
      await big.until('40 replaced', () => big.tasks('s1', live).length === 40 && !big.tasks('s1', live).some((t) => first.includes(t.id)));
      await big.quiesce();
      expect(big.tasks('s1', (t) => t.desiredState === TaskState.COMPLETE)).toEqual([]);
    } finally {
      await big.close();
    }
  });

  it('a new leader reads the restart attempts back from the slot history: no fresh budget', async () => {
    const svc = makeService('s1', 'flaky', { replicas: 1 });
    svc.spec!.task!.restart = { condition: RestartPolicy_Condition.ON_FAILURE, delay: { nanos: 1_000_000_000n }, maxAttempts: 2, window: undefined };
    await h.store.update((tx) => tx.services.create(svc));
    const fail = async (): Promise<void> => {
      await h.until('a live task', () => h.tasks('s1', live).length === 1);
      await assignTo(h, 'n1');
      const t = h.tasks('s1', live)[0]!;
      await h.store.update((tx) => tx.tasks.update(withState(tx.tasks.get(t.id)!, TaskState.FAILED, { timestampMs: BigInt(h.clock.now()) })));
      await h.until('seen', (tx) => tx.tasks.get(t.id)!.desiredState > TaskState.RUNNING);
      await h.clock.advance(1_000);
    };
    // the first leader restarts the slot once, then loses leadership
    const first = new AbortController();
    const old = new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet });
    const stopped = old.run(first.signal);
    await fail();
    first.abort();
    await stopped;
    // the next one has seen none of it: one more restart, then the slot settles
    h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }));
    await fail();
    await fail();
    await h.quiesce();
    expect(h.tasks('s1').map((t) => t.desiredState).sort()).toEqual([TaskState.COMPLETE, TaskState.SHUTDOWN, TaskState.SHUTDOWN]);
  });

  it('reads back no attempts from tasks of an earlier spec version (stopped by an update)', async () => {
    const svc = makeService('s1', 'flaky', { replicas: 1 });
    svc.specVersion = 2n;
    svc.spec!.task!.restart = { condition: RestartPolicy_Condition.ON_FAILURE, delay: { nanos: 0n }, maxAttempts: 1, window: undefined };
    await h.store.update((tx) => {
      tx.services.create(svc);
      // an update stopped the old task, which died of the signal (exit 143) before it was told
      const old = newTask(svc, 1, 'n1', h.clock.now());
      tx.tasks.create({ ...withState({ ...old, specVersion: 1n }, TaskState.FAILED, { exitCode: 143 }), desiredState: TaskState.SHUTDOWN });
      tx.tasks.create(withState(newTask(svc, 1, 'n1', h.clock.now()), TaskState.FAILED, { exitCode: 1 }));
    });
    h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }));
    await h.until('restarted once', () => h.tasks('s1', live).length === 1);
  });

  it('a new leader lets a restart decided by the old one wait out the rest of its delay', async () => {
    const svc = makeService('s1', 'flaky', { replicas: 1 });
    svc.spec!.task!.restart = { condition: RestartPolicy_Condition.ANY, delay: { nanos: 10_000_000_000n }, maxAttempts: 0, window: undefined };
    await h.store.update((tx) => tx.services.create(svc));
    const first = new AbortController();
    const stopped = new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }).run(first.signal);
    await h.until('a live task', () => h.tasks('s1', live).length === 1);
    await assignTo(h, 'n1');
    const t = h.tasks('s1', live)[0]!;
    await h.store.update((tx) => tx.tasks.update(withState(tx.tasks.get(t.id)!, TaskState.FAILED, { timestampMs: BigInt(h.clock.now()) })));
    await h.until('restart decided', (tx) => tx.tasks.get(t.id)!.desiredState === TaskState.SHUTDOWN);
    first.abort();
    await stopped;
    await h.clock.advance(4_000);
    h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }));
    await h.quiesce();
    expect(h.tasks('s1', live)).toEqual([]); // 6 s of the delay left
    await h.clock.advance(5_000);
    await h.quiesce();
    expect(h.tasks('s1', live)).toEqual([]);
    await h.clock.advance(1_000);
    await h.until('replaced after the delay', () => h.tasks('s1', live).length === 1);
  });

  it('moves tasks off a node that goes down or is drained, at once', async () => {
    await h.store.update((tx) => {
      tx.nodes.create(makeNode('n1'));
      tx.nodes.create(makeNode('n2'));
      tx.services.create(makeService('s1', 'web', { replicas: 2 }));
    });
    h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }));
    await h.until('2 tasks', () => h.tasks('s1').length === 2);
    await assignTo(h, 'n1');
    await h.actAsAgents();
    const before = h.tasks('s1').map((t) => t.id);
    await h.store.update((tx) => {
      const n = tx.nodes.get('n1')!;
      tx.nodes.update({ ...n, status: { ...n.status!, state: NodeStatus_State.DOWN } });
    });
    await h.until('2 new live tasks', () => h.tasks('s1', live).filter((t) => !before.includes(t.id)).length === 2);
    expect(h.tasks('s1', (t) => before.includes(t.id)).map((t) => t.desiredState)).toEqual([TaskState.SHUTDOWN, TaskState.SHUTDOWN]);
    expect(h.tasks('s1', live).map((t) => [t.slot, t.nodeId])).toEqual([
      [1, ''],
      [2, ''],
    ]);
    await assignTo(h, 'n2');
    const onN2 = h.tasks('s1', live).map((t) => t.id);
    await h.store.update((tx) => {
      const n = tx.nodes.get('n2')!;
      tx.nodes.update({ ...n, spec: { ...n.spec!, availability: NodeAvailability.DRAIN } });
    });
    await h.until('drained', () => h.tasks('s1', live).every((t) => !onN2.includes(t.id)) && h.tasks('s1', live).length === 2);
    await h.quiesce();
    expect(h.tasks('s1').length).toBe(6);
  });

  it('marks for removal the tasks of a service removed while no orchestrator ran', async () => {
    await h.store.update((tx) => {
      tx.services.create(makeService('s1', 'web', { replicas: 2 }));
      tx.services.create(makeService('g1', 'agent', { global: true }));
    });
    const first = new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet });
    const run = first.run();
    await h.until('2 tasks', () => h.tasks('s1').length === 2);
    first.stop();
    await run;
    await h.store.update((tx) => {
      tx.tasks.create({ ...h.tasks('s1')[0]!, id: 'global-task', serviceId: 'g1', slot: 0, nodeId: 'n1' });
    });
    await h.store.update((tx) => {
      tx.services.delete('s1');
      tx.services.delete('g1');
    });
    h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }));
    await h.until('all marked', (tx) => tx.tasks.all().length === 3 && tx.tasks.all().every((t) => t.desiredState === TaskState.REMOVE));
  });

  it('picks up where a previous orchestrator left off without duplicating tasks', async () => {
    await h.store.update((tx) => tx.services.create(makeService('s1', 'web', { replicas: 4 })));
    const first = new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet });
    const run = first.run();
    await h.until('4 tasks', () => h.tasks('s1').length === 4);
    first.stop();
    await run;
    await h.store.update((tx) => setReplicas(tx, 's1', 6));
    h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }));
    await h.until('6 tasks', () => h.tasks('s1').length === 6);
    await h.quiesce();
    expect(h.tasks('s1').map((t) => t.slot)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

describe('task reaper', () => {
  let h: Harness;
  beforeEach(() => {
    h = new Harness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('keeps 5 tasks per slot and deletes the oldest finished ones', async () => {
    await h.store.update((tx) => {
      tx.nodes.create(makeNode('n1'));
      tx.services.create(makeService('s1', 'web', { replicas: 1 }));
    });
    h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }), new TaskReaper(h.store, h.clock, { logger: quiet }));
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      await h.until(`attempt ${i} live`, () => h.tasks('s1', live).length === 1);
      await assignTo(h, 'n1');
      await h.actAsAgents();
      const t = h.tasks('s1', live)[0]!;
      ids.push(t.id);
      await h.store.update((tx) => tx.tasks.update(withState(tx.tasks.get(t.id)!, TaskState.FAILED)));
      await h.until('replaced', (tx) => tx.tasks.get(t.id)?.desiredState === TaskState.SHUTDOWN);
      await h.clock.advance(5_000);
    }
    await h.until('one live again', () => h.tasks('s1', live).length === 1);
    await h.quiesce();
    const kept = h.tasks('s1').map((t) => t.id);
    expect(kept.length).toBe(5);
    // The four most recent failures stay, with the live task.
    expect(ids.slice(4).every((id) => kept.includes(id))).toBe(true);
    expect(ids.slice(0, 4).some((id) => kept.includes(id))).toBe(false);
  });

  it('deletes the tasks of a removed service once they have stopped', async () => {
    await h.store.update((tx) => {
      tx.nodes.create(makeNode('n1'));
      tx.services.create(makeService('s1', 'web', { replicas: 3 }));
    });
    h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }), new TaskReaper(h.store, h.clock, { logger: quiet }));
    await h.until('3 tasks', () => h.tasks('s1').length === 3);
    // Two run on n1; one never got a node.
    await h.store.update((tx) => {
      for (const t of tx.tasks.all().filter((x) => x.slot <= 2)) tx.tasks.update({ ...withState(t, TaskState.ASSIGNED), nodeId: 'n1' });
    });
    await h.actAsAgents();
    await h.store.update((tx) => tx.services.delete('s1'));
    await h.until('running ones told to go', () => h.tasks('s1').length === 2 && h.tasks('s1').every((t) => t.desiredState === TaskState.REMOVE));
    await h.actAsAgents();
    await h.until('all deleted', () => h.tasks('s1').length === 0);
  });
});

describe('task reaper with history limit 0', () => {
  it('keeps the task that settles a slot, so the slot is not run again', async () => {
    const h = new Harness();
    try {
      await h.store.update((tx) => {
        tx.clusters.create(Cluster.fromPartial({ id: 'c', spec: { annotations: { name: 'default' }, orchestration: { taskHistoryRetentionLimit: 0 } } }));
        tx.services.create(makeService('s1', 'once', { replicas: 1, restart: 'none' }));
      });
      h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }), new TaskReaper(h.store, h.clock, { logger: quiet }));
      await h.until('task', () => h.tasks('s1').length === 1);
      await assignTo(h, 'n1');
      const t = h.tasks('s1')[0]!;
      await h.store.update((tx) => tx.tasks.update(withState(tx.tasks.get(t.id)!, TaskState.COMPLETE)));
      await h.until('settled', (tx) => tx.tasks.get(t.id)?.desiredState === TaskState.COMPLETE);
      await h.clock.advance(10_000);
      await h.quiesce();
      expect(h.tasks('s1').map((x) => x.id)).toEqual([t.id]);
    } finally {
      await h.close();
    }
  });
});
