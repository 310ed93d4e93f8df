// Agent and dispatcher in one process over real gRPC, with real containers: an assigned task
// ends RUNNING in the store; a new Agent re-adopts the running container (same pid); removing
// the assignment stops it; tasks replaced while the agent was away are stopped when it returns.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Task, TaskState, TaskStatus } from '../../../proto/gen/types.js';
import { Agent } from '../../../agent/index.js';
import { taskContainers } from '../../../agent/executor/index.js';
import type { ContainerRuntime } from '../../../agent/runtime/index.js';
import { makeAgentFixture, type AgentFixture } from '../executor/fixture.js';
import { insecure, nodeMetadata, startManager, until, type TestManager } from './manager.js';

let fx: AgentFixture;
let mgr: TestManager;
const agents: Agent[] = [];

beforeEach(async () => {
  fx = await makeAgentFixture('agent');
  mgr = await startManager();
  mgr.lead();
});
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
  await mgr.kill();
  expect(await fx.cleanup()).toEqual([]);
});

function newAgent(runtime: ContainerRuntime = fx.runtime): Agent {
  const stateDir = join(fx.root, 'agent');
  mkdirSync(stateDir, { recursive: true });
  const a = new Agent({
    runtime,
    images: fx.images,
    managers: [mgr.addr],
    credentials: insecure,
    metadata: nodeMetadata('n1'),
    stateDir,
    logger: fx.logger,
    defaultNetwork: 'none',
    backoff: { initialMs: 20, maxMs: 200 },
  });
  agents.push(a);
  return a;
}

let seq = 0;
async function assign(args: string[], extra: Partial<Task> = {}): Promise<string> {
  const id = `shoalagt${++seq}x${process.pid}`;
  await mgr.store.update((tx) =>
    tx.tasks.create(
      Task.fromPartial({
        id,
        serviceId: 'svc1',
        serviceName: 'sleepy',
        slot: seq,
        nodeId: 'n1',
        desiredState: TaskState.RUNNING,
        spec: { container: { image: 'busybox', args, stopGracePeriod: { nanos: 500_000_000n } } },
        status: { state: TaskState.ASSIGNED, message: 'scheduled' },
        ...extra,
      }),
    ),
  );
  return id;
}

const stored = (id: string): TaskStatus | undefined => mgr.store.view((tx) => tx.tasks.get(id)?.status) as TaskStatus | undefined;
const storedState = (id: string): TaskState | undefined => stored(id)?.state;
const setDesired = (id: string, desiredState: TaskState): Promise<void> =>
  mgr.store.update((tx) => tx.tasks.update({ ...tx.tasks.get(id)!, desiredState }));

describe('Agent with a dispatcher', () => {
  it('runs an assigned task to RUNNING in the store, and reports its exit', async () => {
    const a = newAgent();
    await a.start();
    const id = await assign(['sleep', '1000']);
    const quick = await assign(['sh', '-c', 'exit 3']);
    await until(() => storedState(id) === TaskState.RUNNING, 'task running in the store');
    const c = (await taskContainers(fx.runtime)).get(id)!;
    expect(c.state).toBe('running');
    expect(stored(id)).toMatchObject({ containerId: c.id, pid: c.pid });
    await until(() => storedState(quick) === TaskState.FAILED, 'failed task reported');
    expect(stored(quick)).toMatchObject({ exitCode: 3, err: 'task: non-zero exit (3)' });
    expect(mgr.store.view((tx) => tx.nodes.get('n1')?.description?.hostname)).toBeTruthy();
  });

  it('rejects a task whose image the node does not have', async () => {
    const a = newAgent();
    await a.start();
    const bad = `shoalagghost${process.pid}`;
    await mgr.store.update((tx) =>
      tx.tasks.create(Task.fromPartial({ id: bad, nodeId: 'n1', serviceName: 'ghost', desiredState: TaskState.RUNNING, spec: { container: { image: 'ghost:7', args: ['true'] } }, status: { state: TaskState.ASSIGNED } })),
    );
    await until(() => storedState(bad) === TaskState.REJECTED, 'rejection');
    expect(stored(bad)?.err).toMatch(/^image ghost:7 not found on node /);
  });

  it('re-adopts the running container after an agent restart (same pid), then stops it when unassigned', async () => {
    const a = newAgent();
    await a.start();
    const id = await assign(['sleep', '1000']);
    await until(() => storedState(id) === TaskState.RUNNING, 'running');
    const pid = stored(id)!.pid;
    await a.stop();
    agents.splice(agents.indexOf(a), 1);
    process.kill(pid, 0); // the container outlived its agent

    const b = newAgent(fx.newRuntime());
    await b.start();
    await b.waitConnected();
    await until(() => b.taskList().some((t) => t.task.id === id), 'task adopted');
    const cs = await taskContainers(fx.runtime);
    expect(cs.size).toBe(1);
    expect(cs.get(id)).toMatchObject({ state: 'running', pid });
    expect(storedState(id)).toBe(TaskState.RUNNING);

    await setDesired(id, TaskState.SHUTDOWN);
    await until(() => storedState(id) === TaskState.SHUTDOWN, 'shutdown reported');
    expect((await taskContainers(fx.runtime)).get(id)?.state).toBe('exited');
    await mgr.store.update((tx) => tx.tasks.delete(id));
    await until(async () => !(await taskContainers(fx.runtime)).has(id), 'container removed');
  });

  it('when it comes back, stops the tasks the managers replaced or dropped meanwhile (no duplicates)', async () => {
    const a = newAgent();
    await a.start();
    const replaced = await assign(['sleep', '1000']);
    const dropped = await assign(['sleep', '1000']);
    const kept = await assign(['sleep', '1000']);
    await until(() => [replaced, dropped, kept].every((id) => storedState(id) === TaskState.RUNNING), 'all running');
    await a.stop();
    agents.splice(agents.indexOf(a), 1);
    // while it was away: one task told to shut down (replaced elsewhere), one deleted
    await setDesired(replaced, TaskState.SHUTDOWN);
    await mgr.store.update((tx) => tx.tasks.delete(dropped));

    const b = newAgent(fx.newRuntime());
    await b.start();
    await until(() => storedState(replaced) === TaskState.SHUTDOWN, 'replaced task shut down');
    await until(async () => !(await taskContainers(fx.runtime)).has(dropped), 'dropped task removed');
    const cs = await taskContainers(fx.runtime);
    expect(cs.get(kept)?.state).toBe('running');
    expect(cs.get(replaced)?.state).toBe('exited');
    expect(storedState(kept)).toBe(TaskState.RUNNING);
  });

  it('serves task logs to the managers (all, tail, follow until the reader stops)', async () => {
    const a = newAgent();
    await a.start();
    const id = await assign(['sh', '-c', 'echo one; echo two >&2; echo three; i=0; while true; do i=$((i+1)); echo tick$i; sleep 0.1; done']);
    await until(() => storedState(id) === TaskState.RUNNING, 'running');
    const text = (l: { data: Buffer }): string => l.data.toString();
    let first: { stream: string; text: string }[] = [];
    await until(async () => {
      first = [];
      for await (const l of mgr.dispatcher.subscribeLogs({ taskIds: [id], follow: false, tail: -1 }).lines) first.push({ stream: l.stream, text: text(l) });
      // stderr may land after a few ticks: wait for it, and for two lines after it (the tail below)
      const two = first.findIndex((l) => l.text === 'two\n');
      return first.length >= 6 && two >= 0 && first.length - two > 2;
    }, 'some log lines');
    // stdout and stderr are copied apart: only each stream keeps its order
    expect(first.filter((l) => l.stream === 'stdout').slice(0, 2).map((l) => l.text)).toEqual(['one\n', 'three\n']);
    expect(first.filter((l) => l.stream === 'stderr').map((l) => l.text)).toEqual(['two\n']);
    const tail: string[] = [];
    for await (const l of mgr.dispatcher.subscribeLogs({ taskIds: [id], follow: false, tail: 2 }).lines) tail.push(text(l));
    expect(tail).toHaveLength(2);
    const ticks = tail.map((t) => Number(/^tick(\d+)\n$/.exec(t)?.[1]));
    expect(ticks[1]).toBe(ticks[0]! + 1);
    expect(ticks[0]).toBeGreaterThanOrEqual(first.length - 3 - 2);

    const ac = new AbortController();
    const followed: string[] = [];
    const handle = mgr.dispatcher.subscribeLogs({ taskIds: [id, 'not-a-task'], follow: true, tail: 0 }, ac.signal);
    expect(handle.unreachable).toEqual([]);
    for await (const l of handle.lines) {
      followed.push(text(l));
      if (followed.length === 3) ac.abort();
    }
    const n = followed.map((t) => Number(/^tick(\d+)\n$/.exec(t)![1]));
    expect(n[1]).toBe(n[0]! + 1);
    expect(n[2]).toBe(n[1]! + 1);

    // a task on a node without a session: named as unreachable, and the read ends at once
    const elsewhere = await assign(['true'], { nodeId: 'n2' });
    const gone = mgr.dispatcher.subscribeLogs({ taskIds: [elsewhere], follow: true, tail: -1 });
    expect(gone.unreachable).toEqual(['n2']);
    for await (const l of gone.lines) throw new Error(`unexpected line ${text(l)}`);
  });
});

