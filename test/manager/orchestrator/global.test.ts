import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeAvailability, NodeStatus_State, TaskState, type Node } from '../../../proto/gen/types.js';
import { GlobalOrchestrator } from '../../../manager/orchestrator/global/orchestrator.js';
import type { ReadonlyDeep } from '../../../manager/store/index.js';
import { makeNode, makeService, withState } from '../store/fixtures.js';
import { Harness, live, quiet } from './harness.js';

const onNodes = (h: Harness, id: string): string[] =>
  h
    .tasks(id, live)
    .map((t) => t.nodeId)
    .sort();

describe('global orchestrator', () => {
  let h: Harness;
  beforeEach(() => {
    h = new Harness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('runs one task per eligible node and follows nodes joining, draining, going down and leaving', async () => {
    await h.store.update((tx) => {
      tx.nodes.create(makeNode('n1'));
      tx.nodes.create(makeNode('n2', { availability: NodeAvailability.DRAIN }));
      tx.nodes.create(makeNode('n3', { state: NodeStatus_State.DOWN }));
      tx.nodes.create(makeNode('n4', { availability: NodeAvailability.PAUSE }));
      tx.services.create(makeService('g', 'agent', { global: true }));
    });
    h.start(new GlobalOrchestrator(h.store, h.clock, { logger: quiet }));
    await h.until('task on n1', () => onNodes(h, 'g').length === 1);
    await h.quiesce();
    expect(onNodes(h, 'g')).toEqual(['n1']);
    expect(h.tasks('g')[0]!.slot).toBe(0);

    const setNode = (id: string, f: (n: ReadonlyDeep<Node>) => ReadonlyDeep<Node>): Promise<void> =>
      h.store.update((tx) => tx.nodes.update(f(tx.nodes.get(id)!)));
    await h.store.update((tx) => tx.nodes.create(makeNode('n5')));
    await setNode('n3', (n) => ({ ...n, status: { ...n.status!, state: NodeStatus_State.READY } }));
    await h.until('n3 and n5 join', () => onNodes(h, 'g').join() === 'n1,n3,n5');

    const onN1 = h.tasks('g', (t) => t.nodeId === 'n1')[0]!;
    await setNode('n1', (n) => ({ ...n, spec: { ...n.spec!, availability: NodeAvailability.DRAIN } }));
    await h.until('n1 drained', () => onNodes(h, 'g').join() === 'n3,n5');
    expect(h.view((tx) => tx.tasks.get(onN1.id)?.desiredState)).toBe(TaskState.SHUTDOWN);

    await setNode('n3', (n) => ({ ...n, status: { ...n.status!, state: NodeStatus_State.DOWN } }));
    await h.store.update((tx) => tx.nodes.delete('n5'));
    await h.until('n3 down and n5 gone', () => onNodes(h, 'g').length === 0);
    await h.quiesce();
    expect(h.tasks('g').length).toBe(3);
  });

  it('places only on nodes matching the constraints, and reacts to label changes', async () => {
    await h.store.update((tx) => {
      tx.nodes.create(makeNode('n1', { labels: { gpu: 'yes' } }));
      tx.nodes.create(makeNode('n2'));
      tx.services.create(makeService('g', 'gpu-agent', { global: true, constraints: ['node.labels.gpu==yes'] }));
    });
    h.start(new GlobalOrchestrator(h.store, h.clock, { logger: quiet }));
    await h.until('n1 only', () => onNodes(h, 'g').join() === 'n1');
    await h.store.update((tx) => {
      for (const [id, gpu] of [
        ['n1', 'no'],
        ['n2', 'yes'],
      ] as const) {
        const n = tx.nodes.get(id)!;
        tx.nodes.update({ ...n, spec: { ...n.spec!, annotations: { name: '', labels: { gpu } } } });
      }
    });
    await h.until('n2 only', () => onNodes(h, 'g').join() === 'n2');
  });

  it('restarts a failed task on the same node after the delay, and removes tasks with the service', async () => {
    await h.store.update((tx) => {
      tx.nodes.create(makeNode('n1'));
      tx.services.create(makeService('g', 'agent', { global: true }));
    });
    h.start(new GlobalOrchestrator(h.store, h.clock, { logger: quiet }));
    await h.until('task', () => onNodes(h, 'g').length === 1);
    const first = h.tasks('g')[0]!;
    await h.store.update((tx) => tx.tasks.update(withState(tx.tasks.get(first.id)!, TaskState.FAILED)));
    await h.until('shut down', (tx) => tx.tasks.get(first.id)?.desiredState === TaskState.SHUTDOWN);
    expect(onNodes(h, 'g')).toEqual([]);
    await h.clock.advance(5_000);
    await h.until('restarted on n1', () => onNodes(h, 'g').join() === 'n1');
    await h.store.update((tx) => tx.services.delete('g'));
    await h.until('all told to go', () => h.tasks('g').every((t) => t.desiredState === TaskState.REMOVE));
  });
});
