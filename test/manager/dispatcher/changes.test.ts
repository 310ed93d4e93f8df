// What counts as a change of an assigned task (sent to the agent) and what does not (its own
// status reports), now that the check compares fields by reference before encoding them.
import { afterEach, describe, expect, it } from 'vitest';
import { AssignmentChange_Action } from '../../../proto/gen/dispatcher.js';
import { NetworkAttachment, Task, TaskState, TaskStatus } from '../../../proto/gen/types.js';
import { MemoryStore } from '../../../manager/store/index.js';
import { makeHarness, until, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('the change check of assignments', () => {
  it('sends network, endpoint, spec and desired-state changes, and never a status-only write', async () => {
    const store = new MemoryStore();
    await store.update((tx) =>
      tx.tasks.create(
        Task.fromPartial({ id: 't1', nodeId: 'n1', serviceId: 's1', specVersion: 1n, slot: 1, desiredState: TaskState.RUNNING, spec: { container: { image: 'busybox' } }, status: { state: TaskState.ASSIGNED } }),
      ),
    );
    h = await makeHarness({}, store);
    h.start();
    const c = h.client('n1');
    const s = c.session('host-n1');
    await until(() => s.messages.length > 0, 'session');
    const a = c.assignments(s.messages[0]!.sessionId);
    await until(() => a.messages.length === 1, 'complete set');
    const write = (fn: (t: Task) => Task): Promise<void> => store.update((tx) => tx.tasks.update(fn({ ...(tx.tasks.get('t1') as Task) })));
    const status = (state: TaskState) => (t: Task): Task => ({ ...t, status: TaskStatus.fromPartial({ state }) });
    const steps: [string, (t: Task) => Task, boolean][] = [
      ['status ACCEPTED', status(TaskState.ACCEPTED), false],
      ['a network attachment', (t) => ({ ...t, networks: [NetworkAttachment.fromPartial({ networkId: 'net1', addresses: ['10.0.0.2/24'] })] }), true],
      ['status PREPARING', status(TaskState.PREPARING), false],
      ['another address', (t) => ({ ...t, networks: [NetworkAttachment.fromPartial({ networkId: 'net1', addresses: ['10.0.0.3/24'] })] }), true],
      ['an endpoint', (t) => ({ ...t, endpoint: { spec: undefined, ports: [{ name: '', protocol: 0, targetPort: 80, publishedPort: 8080, publishMode: 0 }], virtualIps: [] } }), true],
      ['status RUNNING', status(TaskState.RUNNING), false],
      ['a spec changed in place', (t) => ({ ...t, spec: { ...t.spec!, container: { ...t.spec!.container!, image: 'busybox:2' } } }), true],
      ['desired SHUTDOWN', (t) => ({ ...t, desiredState: TaskState.SHUTDOWN }), true],
      ['status SHUTDOWN', status(TaskState.SHUTDOWN), false],
    ];
    let expected = 1;
    for (const [what, fn, sent] of steps) {
      await write(fn);
      // A new task of n1 is always sent: once it arrives, the stream has caught up with the write.
      await store.update((tx) =>
        tx.tasks.create(Task.fromPartial({ id: `m-${expected}`, nodeId: 'n1', serviceId: 'm', slot: 1, desiredState: TaskState.RUNNING, status: { state: TaskState.ASSIGNED } })),
      );
      expected += 1;
      await until(() => a.messages.flatMap((m) => m.changes).some((x) => x.task?.id === `m-${expected - 1}`), `marker after ${what}`);
      const got = a.messages.slice(1).flatMap((m) => m.changes).filter((x) => x.task?.id === 't1' && x.action === AssignmentChange_Action.UPDATE);
      expect(got.length, what).toBe(steps.slice(0, steps.findIndex((x) => x[0] === what) + 1).filter((x) => x[2]).length);
    }
  });
});
