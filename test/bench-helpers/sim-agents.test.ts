// The simulated agents of the scheduler-scale bench speak the real dispatcher protocol: ten of
// them, one real dispatcher on loopback gRPC, a 20-replica service; every task is reported
// through PREPARING to RUNNING over UpdateTaskStatus and lands in the manager's store.
import { afterEach, describe, expect, it } from 'vitest';
import { NodeStatus_State, Service, TaskState } from '../../proto/gen/types.js';
import { SimFleet, startSimManager, type SimManager } from '../bench/sim-agents/index.js';

function service(replicas: number): Service {
  const s = Service.fromPartial({
    id: 'svc-sim',
    specVersion: 1n,
    spec: { annotations: { name: 'svc-sim' }, task: { container: { image: 'busybox:latest', args: ['sleep', 'infinity'] } } },
  });
  s.spec!.mode = { $case: 'replicated', value: { replicas } };
  return s;
}

async function until(fn: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('simulated agents over the dispatcher protocol', () => {
  let manager: SimManager | undefined;
  let fleet: SimFleet | undefined;
  afterEach(async () => {
    fleet?.stop();
    await manager?.close();
    fleet = manager = undefined;
  });

  it('ten agents register, receive a 20-task service and report every task RUNNING', async () => {
    manager = await startSimManager({ dispatcher: { heartbeatPeriodMs: 1_000 } });
    const store = manager.store;
    fleet = new SimFleet({ addr: manager.addr, prefix: 'shoalss-', count: 10, connections: 3, startMs: 20 });
    await fleet.start();
    expect(fleet.connected).toBe(10);
    const nodes = store.view((tx) => tx.nodes.all());
    expect(nodes.map((n) => n.id).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `shoalss-${String(i).padStart(5, '0')}`));
    for (const n of nodes) {
      expect(n.status?.state).toBe(NodeStatus_State.READY);
      expect(n.description?.engineVersion).toBe('simulated');
    }

    // every state each task passes through in the store
    const seen = new Map<string, TaskState[]>();
    const w = store.watch({ filter: (e) => e.kind === 'task' });
    void (async () => {
      for await (const e of w) {
        if (e.type === 'commit' || e.type === 'reset' || e.type === 'delete' || e.kind !== 'task') continue;
        const s = e.object.status?.state;
        if (s === undefined) continue;
        const list = seen.get(e.object.id) ?? [];
        if (list.at(-1) !== s) list.push(s);
        seen.set(e.object.id, list);
      }
    })();

    await store.update((tx) => tx.services.create(service(20)));
    const running = (): number => store.view((tx) => tx.tasks.all().filter((t) => t.status?.state === TaskState.RUNNING).length);
    await until(() => running() === 20, '20 tasks RUNNING in the store');
    w.close();

    const tasks = store.view((tx) => tx.tasks.all());
    expect(tasks).toHaveLength(20);
    const perNode = new Map<string, number>();
    for (const t of tasks) {
      expect(t.status?.message).toBe('started (simulated: no container)');
      perNode.set(t.nodeId, (perNode.get(t.nodeId) ?? 0) + 1);
      // placed, then reported by the agent before RUNNING, in increasing order
      const states = seen.get(t.id)!;
      expect(states).toContain(TaskState.ASSIGNED);
      expect(states.some((s) => s > TaskState.ASSIGNED && s < TaskState.RUNNING)).toBe(true);
      expect(states.at(-1)).toBe(TaskState.RUNNING);
      expect([...states].sort((a, b) => a - b)).toEqual(states);
    }
    // spread over the ten nodes, and each agent holds exactly the tasks the store gives it
    expect([...perNode.values()].sort()).toEqual(Array(10).fill(2));
    for (const a of fleet.agents) expect(a.tasks.size).toBe(2);
    expect(fleet.runningReported).toBe(20);
    expect(fleet.agents.every((a) => a.sessionError === undefined)).toBe(true);
  });
});
