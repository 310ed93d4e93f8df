// The dispatcher with the real replicated orchestrator and scheduler: a node that stops
// heartbeating is marked DOWN, its task is replaced on the node still alive (which hears of it
// in an INCREMENTAL message), and when the dead node comes back its COMPLETE set tells it to stop
// the task that was replaced.
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { AssignmentChange_Action, AssignmentsType } from '../../../proto/gen/dispatcher.js';
import { NodeStatus_State, TaskState } from '../../../proto/gen/types.js';
import { ReplicatedOrchestrator } from '../../../manager/orchestrator/replicated/orchestrator.js';
import { Scheduler } from '../../../manager/scheduler/scheduler.js';
import { makeService } from '../store/fixtures.js';
import { makeHarness, until, type Harness } from './harness.js';

let h: Harness | undefined;
const stops: (() => void)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) s();
  await h?.close();
  h = undefined;
});

describe('a node that misses its heartbeats', () => {
  it('is marked down, its task replaced elsewhere, and told to stop it when it returns', async () => {
    h = await makeHarness();
    const hh = h;
    h.start();
    const quiet = pino({ level: 'silent' });
    const orch = new ReplicatedOrchestrator(h.store, h.clock, { logger: quiet });
    const sched = new Scheduler(h.store, h.clock, { logger: quiet });
    void orch.run();
    void sched.run();
    stops.push(() => orch.stop(), () => sched.stop());

    const n1 = h.client('n1');
    const n2 = h.client('n2');
    const s1 = n1.session('h1');
    const s2 = n2.session('h2');
    await until(() => s1.messages.length > 0 && s2.messages.length > 0, 'sessions');
    const a1 = n1.assignments(s1.messages[0]!.sessionId);
    const a2 = n2.assignments(s2.messages[0]!.sessionId);
    await until(() => a1.messages.length > 0 && a2.messages.length > 0, 'complete sets');

    await h.store.update((tx) => tx.services.create(makeService('svc', 'web', { replicas: 2 })));
    const onNode = (n: string) => hh.store.view((tx) => tx.tasks.find('node', n).filter((t) => t.desiredState === TaskState.RUNNING));
    await until(() => onNode('n1').length === 1 && onNode('n2').length === 1, 'one task per node');
    const lost = onNode('n2')[0]!;
    await until(() => a2.messages.some((m) => m.changes.some((c) => c.task?.id === lost.id)), 'n2 told of its task');

    // n1 keeps heartbeating, n2 goes silent
    for (let i = 0; i < 4; i++) {
      await h.clock.advance(1_000);
      await n1.heartbeat(s1.messages[0]!.sessionId);
    }
    await until(() => hh.store.view((tx) => tx.nodes.get('n2')?.status?.state) === NodeStatus_State.DOWN, 'n2 down');
    await until(() => onNode('n1').length === 2, 'task replaced on n1');
    expect(hh.store.view((tx) => tx.tasks.get(lost.id)?.desiredState)).toBeGreaterThan(TaskState.RUNNING);
    const replacement = onNode('n1').find((t) => t.slot === lost.slot)!;
    await until(() => a1.messages.some((m) => m.type === AssignmentsType.INCREMENTAL && m.changes.some((c) => c.task?.id === replacement.id)), 'n1 told');
    await until(() => a2.ended, 'n2 streams closed');

    // n2 returns: READY again, and its COMPLETE set carries the old task with a stop order
    const back = n2.session('h2');
    await until(() => back.messages.length > 0, 'n2 back');
    expect(h.store.view((tx) => tx.nodes.get('n2')?.status?.state)).toBe(NodeStatus_State.READY);
    const a2b = n2.assignments(back.messages[0]!.sessionId);
    await until(() => a2b.messages.length > 0, 'complete set on return');
    const complete = a2b.messages[0]!;
    expect(complete.type).toBe(AssignmentsType.COMPLETE);
    const old = complete.changes.find((c) => c.task?.id === lost.id);
    expect(old?.action).toBe(AssignmentChange_Action.UPDATE);
    expect(old?.task?.desiredState).toBeGreaterThan(TaskState.RUNNING);
    expect(complete.changes.filter((c) => (c.task?.desiredState ?? 0) <= TaskState.RUNNING)).toEqual([]);
  });
});
