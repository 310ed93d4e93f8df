import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TaskState } from '../../../proto/gen/types.js';
import { GlobalOrchestrator } from '../../../manager/orchestrator/global/orchestrator.js';
import { ReplicatedOrchestrator } from '../../../manager/orchestrator/replicated/orchestrator.js';
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
});
