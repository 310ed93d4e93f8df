import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TaskState } from '../../../proto/gen/types.js';
import { GlobalOrchestrator } from '../../../manager/orchestrator/global/orchestrator.js';
import { ReplicatedOrchestrator } from '../../../manager/orchestrator/replicated/orchestrator.js';
import { TaskReaper } from '../../../manager/orchestrator/task-reaper.js';
import type { ReadonlyDeep } from '../../../manager/store/index.js';
import { Cluster, type Service } from '../../../proto/gen/types.js';
import { makeNode, makeService, withState } from '../store/fixtures.js';
import { Harness, live, quiet } from './harness.js';

describe('jobs', () => {
  let h: Harness;
  beforeEach(() => {
    h = new Harness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('a replicated job runs max_concurrent tasks at a time until total_completions completed', async () => {
    const svc = makeService('j', 'migrate', { restart: 'on-failure' });
    svc.spec!.mode = { $case: 'replicatedJob', value: { maxConcurrent: 2, totalCompletions: 3 } };
    await h.store.update((tx) => tx.services.create(svc));
    h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }));
    await h.until('2 running', () => h.tasks('j', live).length === 2);
    await h.quiesce();
    expect(h.tasks('j', live).map((t) => t.slot)).toEqual([1, 2]);
    const [a, b] = h.tasks('j', live);
    // Slot 1 completes, slot 2 fails: slot 3 starts, slot 2 is retried after the delay.
    await h.store.update((tx) => {
      tx.tasks.update(withState(tx.tasks.get(a!.id)!, TaskState.COMPLETE));
      tx.tasks.update(withState(tx.tasks.get(b!.id)!, TaskState.FAILED));
    });
    await h.until('slot 3 started', () => h.tasks('j', live).map((t) => t.slot).join() === '3');
    expect(h.view((tx) => tx.tasks.get(a!.id)!.desiredState)).toBe(TaskState.COMPLETE);
    await h.clock.advance(5_000);
    await h.until('slot 2 retried', () => h.tasks('j', live).map((t) => t.slot).join() === '2,3');
    await h.store.update((tx) => {
      for (const t of tx.tasks.all().filter(live)) tx.tasks.update(withState(t, TaskState.COMPLETE));
    });
    await h.until('all done', () => h.tasks('j', live).length === 0);
    await h.clock.advance(60_000);
    await h.quiesce();
    const completed = h.tasks('j', (t) => t.status?.state === TaskState.COMPLETE).map((t) => t.slot);
    expect(completed).toEqual([1, 2, 3]);
    expect(h.tasks('j').length).toBe(4);
  });

  it('a global job runs once per node, and on nodes that join later', async () => {
    const svc = makeService('gj', 'prune', { global: true });
    svc.spec!.mode = { $case: 'globalJob', value: {} };
    await h.store.update((tx) => {
      tx.nodes.create(makeNode('n1'));
      tx.services.create(svc);
    });
    h.start(new GlobalOrchestrator(h.store, h.clock, { logger: quiet }));
    await h.until('task on n1', () => h.tasks('gj', live).length === 1);
    await h.store.update((tx) => {
      const t = tx.tasks.all()[0]!;
      tx.tasks.update(withState(t, TaskState.COMPLETE));
    });
    await h.until('n1 done', () => h.tasks('gj', live).length === 0);
    await h.clock.advance(10_000);
    await h.store.update((tx) => tx.nodes.create(makeNode('n2')));
    await h.until('task on n2', () => h.tasks('gj', live).map((t) => t.nodeId).join() === 'n2');
    await h.quiesce();
    expect(h.tasks('gj').length).toBe(2);
  });

  /** A spec change as the control API makes it: new spec, spec_version + 1. */
  async function bumpSpec(id: string): Promise<bigint> {
    let v = 0n;
    await h.store.update((tx) => {
      const cur = tx.services.get(id)!;
      v = cur.specVersion + 1n;
      const spec = structuredClone(cur.spec!) as NonNullable<Service['spec']>;
      spec.task!.forceUpdate += 1n;
      tx.services.update({ ...cur, spec, specVersion: v } as ReadonlyDeep<Service>);
    });
    return v;
  }

  const completeAll = async (): Promise<void> =>
    h.store.update((tx) => {
      for (const t of tx.tasks.all().filter(live)) tx.tasks.update(withState(t, TaskState.COMPLETE));
    });

  it('a replicated job runs again after a spec change (--force): a new iteration, earlier tasks left as history', async () => {
    const svc = makeService('j', 'migrate', { restart: 'on-failure' });
    svc.spec!.mode = { $case: 'replicatedJob', value: { maxConcurrent: 2, totalCompletions: 2 } };
    await h.store.update((tx) => tx.services.create(svc));
    h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }));
    await h.until('2 running', () => h.tasks('j', live).length === 2);
    expect(h.tasks('j').map((t) => t.jobIteration)).toEqual([1n, 1n]);
    await completeAll();
    await h.until('done', () => h.tasks('j', live).length === 0);
    await h.quiesce();
    expect(h.tasks('j')).toHaveLength(2);

    const v = await bumpSpec('j');
    await h.until('second run', () => h.tasks('j', live).length === 2);
    await h.quiesce();
    const rerun = h.tasks('j', live);
    expect(rerun.map((t) => [t.slot, t.specVersion, t.jobIteration])).toEqual([
      [1, v, v],
      [2, v, v],
    ]);
    await completeAll();
    await h.until('second run done', () => h.tasks('j', live).length === 0);
    await h.clock.advance(60_000);
    await h.quiesce();
    expect(h.tasks('j', (t) => t.status?.state === TaskState.COMPLETE)).toHaveLength(4);
  });

  it('a spec change stops the tasks of the earlier run that still run', async () => {
    const svc = makeService('j', 'migrate', { restart: 'on-failure' });
    svc.spec!.mode = { $case: 'replicatedJob', value: { maxConcurrent: 1, totalCompletions: 1 } };
    await h.store.update((tx) => tx.services.create(svc));
    h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }));
    await h.until('1 running', () => h.tasks('j', live).length === 1);
    const old = h.tasks('j', live)[0]!;
    const v = await bumpSpec('j');
    await h.until('old stopped, new started', () => h.view((tx) => tx.tasks.get(old.id)!.desiredState === TaskState.SHUTDOWN) && h.tasks('j', live).length === 1);
    expect(h.tasks('j', live)[0]!.specVersion).toBe(v);
  });

  it('a new run counts restart attempts afresh', async () => {
    const svc = makeService('j', 'migrate', { restart: 'on-failure' });
    svc.spec!.task!.restart!.maxAttempts = 1;
    svc.spec!.mode = { $case: 'replicatedJob', value: { maxConcurrent: 1, totalCompletions: 1 } };
    await h.store.update((tx) => tx.services.create(svc));
    h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }));
    const failLive = async (): Promise<void> =>
      h.store.update((tx) => {
        for (const t of tx.tasks.all().filter(live)) tx.tasks.update(withState(t, TaskState.FAILED));
      });
    await h.until('1 running', () => h.tasks('j', live).length === 1);
    await failLive();
    await h.clock.advance(5_000);
    await h.until('retried', () => h.tasks('j', live).length === 1);
    await failLive();
    await h.clock.advance(5_000);
    await h.quiesce();
    expect(h.tasks('j', live)).toHaveLength(0); // one attempt used: settled
    expect(h.tasks('j')).toHaveLength(2);
    await bumpSpec('j');
    await h.until('second run', () => h.tasks('j', live).length === 1);
    await failLive();
    await h.clock.advance(5_000);
    await h.until('second run retried once', () => h.tasks('j', live).length === 1);
    await failLive();
    await h.clock.advance(5_000);
    await h.quiesce();
    expect(h.tasks('j')).toHaveLength(4);
  });

  it('a global job runs again on every node after a spec change', async () => {
    const svc = makeService('gj', 'prune', { global: true });
    svc.spec!.mode = { $case: 'globalJob', value: {} };
    await h.store.update((tx) => {
      tx.nodes.create(makeNode('n1'));
      tx.nodes.create(makeNode('n2'));
      tx.services.create(svc);
    });
    h.start(new GlobalOrchestrator(h.store, h.clock, { logger: quiet }));
    await h.until('2 running', () => h.tasks('gj', live).length === 2);
    await completeAll();
    await h.until('done', () => h.tasks('gj', live).length === 0);
    await h.quiesce();
    const v = await bumpSpec('gj');
    await h.until('second run', () => h.tasks('gj', live).length === 2);
    expect(h.tasks('gj', live).map((t) => [t.nodeId, t.jobIteration]).sort()).toEqual([
      ['n1', v],
      ['n2', v],
    ]);
    await completeAll();
    await h.until('second run done', () => h.tasks('gj', live).length === 0);
    await h.clock.advance(60_000);
    await h.quiesce();
    expect(h.tasks('gj')).toHaveLength(4);
  });

  it("the reaper may delete a job's settled tasks of earlier runs, never those of the current run", async () => {
    const svc = makeService('j', 'migrate', { restart: 'on-failure' });
    svc.spec!.mode = { $case: 'replicatedJob', value: { maxConcurrent: 1, totalCompletions: 1 } };
    await h.store.update((tx) => {
      tx.services.create(svc);
      tx.clusters.create(Cluster.fromPartial({ id: 'c', spec: { annotations: { name: 'default' }, orchestration: { taskHistoryRetentionLimit: 1 } } }));
    });
    h.start(new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet }), new TaskReaper(h.store, h.clock, { logger: quiet }));
    for (let run = 0; run < 3; run++) {
      await h.until(`run ${run}`, () => h.tasks('j', live).length === 1);
      await completeAll();
      await h.until(`run ${run} done`, () => h.tasks('j', live).length === 0);
      await h.quiesce();
      if (run < 2) await bumpSpec('j');
    }
    const left = h.tasks('j');
    expect(left).toHaveLength(1); // the history limit (1) keeps only the current run's
    expect(left[0]!.specVersion).toBe(3n);
    expect(left[0]!.desiredState).toBe(TaskState.COMPLETE);
  });
});
