// The dispatcher over real gRPC on loopback, with a MemoryStore and a fake clock: sessions
// register nodes, heartbeats keep them up, silence marks them down, assignments arrive COMPLETE
// then INCREMENTAL, and status reports are batched, ordered and checked for ownership.
import { status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { AssignmentChange_Action, AssignmentsType } from '../../../proto/gen/dispatcher.js';
import { Node, NodeRole, NodeStatus_State, Task, TaskState, TaskStatus } from '../../../proto/gen/types.js';
import { MemoryStore } from '../../../manager/store/index.js';
import { makeHarness, until, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function task(id: string, nodeId: string, state = TaskState.ASSIGNED, desiredState = TaskState.RUNNING): Task {
  return Task.fromPartial({
    id,
    nodeId,
    serviceId: 'svc1',
    slot: 1,
    desiredState,
    spec: { container: { image: 'busybox', args: ['sleep', '100'] } },
    status: { state, message: 'test' },
  });
}

function statusOf(state: TaskState, message = ''): TaskStatus {
  return TaskStatus.fromPartial({ state, message });
}

const nodeState = (hh: Harness, id: string): NodeStatus_State | undefined => hh.store.view((tx) => tx.nodes.get(id)?.status?.state);

async function open(hh: Harness, nodeId: string) {
  const c = hh.client(nodeId);
  const s = c.session(`host-${nodeId}`);
  await until(() => s.messages.length > 0 || s.ended, 'first session message');
  expect(s.error).toBeUndefined();
  return { c, s, sessionId: s.messages[0]!.sessionId };
}

describe('sessions and heartbeats', () => {
  it('registers a node READY with its description and address, and hands out the period', async () => {
    h = await makeHarness();
    h.start();
    const { s } = await open(h, 'n1');
    const first = s.messages[0]!;
    expect(first.nodeId).toBe('n1');
    expect(first.sessionId).toMatch(/^[0-9a-f]{24}$/);
    expect(first.heartbeatPeriod?.nanos).toBe(1_000_000_000n);
    const node = h.store.view((tx) => tx.nodes.get('n1'))!;
    expect(node.status).toMatchObject({ state: NodeStatus_State.READY, addr: '127.0.0.1' });
    expect(node.description?.hostname).toBe('host-n1');
    expect(node.role).toBe(NodeRole.WORKER);
    expect(first.node?.id).toBe('n1');
  });

  it('keeps a heartbeating node READY and marks a silent one DOWN after 3 periods', async () => {
    h = await makeHarness();
    h.start();
    const { c, sessionId } = await open(h, 'n1');
    for (let i = 0; i < 4; i++) {
      await h.clock.advance(2_000);
      expect(await c.heartbeat(sessionId)).toBe(1_000_000_000n);
    }
    expect(nodeState(h, 'n1')).toBe(NodeStatus_State.READY);
    await h.clock.advance(2_900);
    expect(nodeState(h, 'n1')).toBe(NodeStatus_State.READY);
    await h.clock.advance(200);
    await until(() => nodeState(h!, 'n1') === NodeStatus_State.DOWN, 'node down');
    expect(h.store.view((tx) => tx.nodes.get('n1')?.status?.message)).toBe('heartbeat failure');
    // the old session is gone: the agent must open a new one, which brings the node back
    await expect(c.heartbeat(sessionId)).rejects.toMatchObject({ code: status.NOT_FOUND });
    await open(h, 'n1');
    expect(nodeState(h, 'n1')).toBe(NodeStatus_State.READY);
  });

  it('marks a node down soon after its session stream closes, unless it comes back', async () => {
    h = await makeHarness({ disconnectGraceMs: 500 });
    h.start();
    const hh = h;
    // the server has seen the stream close once heartbeats on the session are refused
    const refused = async (c: { heartbeat(id: string): Promise<bigint> }, id: string): Promise<void> => {
      for (;;) {
        const ok = await c.heartbeat(id).then(() => true, (e: { code?: number }) => e.code !== status.NOT_FOUND);
        if (!ok) return;
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const a = await open(h, 'n1');
    a.s.stream.cancel(); // the agent process died: its connection closed
    await refused(a.c, a.sessionId);
    await h.clock.advance(600);
    await until(() => nodeState(hh, 'n1') === NodeStatus_State.DOWN, 'node down');
    expect(h.store.view((tx) => tx.nodes.get('n1')?.status?.message)).toBe('session closed');

    // an agent that restarts within the grace keeps its node up
    const b = await open(h, 'n2');
    b.s.stream.cancel();
    await refused(b.c, b.sessionId);
    await h.clock.advance(400);
    const again = await open(h, 'n2');
    for (let i = 0; i < 3; i++) {
      await h.clock.advance(1_000);
      await again.c.heartbeat(again.sessionId);
    }
    expect(nodeState(h, 'n2')).toBe(NodeStatus_State.READY);
  });

  it('registers nodes that connect together in shared proposals (group commit)', async () => {
    // a log that takes 20 ms to commit, as Raft with an fsync would
    let index = 0n;
    const store: MemoryStore = new MemoryStore({
      proposer: {
        propose: async (data) => {
          await new Promise((r) => setTimeout(r, 20));
          store.applyCommitted(data, ++index);
          return { index };
        },
      },
    });
    h = await makeHarness({}, store);
    h.start();
    const sessions = Array.from({ length: 20 }, (_, i) => h!.client(`n${i}`).session(`h${i}`));
    await until(() => sessions.every((s) => s.messages.length > 0), 'all sessions open', 20_000);
    expect(store.view((tx) => tx.nodes.all().filter((n) => n.status?.state === NodeStatus_State.READY)).length).toBe(20);
    expect(index).toBeLessThan(20n);
  });

  it('adds jitter to the period it hands out', async () => {
    h = await makeHarness({ heartbeatJitter: 0.5, random: () => 0.5 });
    h.start();
    const { c, sessionId } = await open(h, 'n1');
    expect(await c.heartbeat(sessionId)).toBe(1_250_000_000n);
  });

  it('gives every known node a grace period on a new leader, then marks the silent ones down', async () => {
    const store = new MemoryStore();
    await store.update((tx) => {
      for (const id of ['a', 'b']) tx.nodes.create(Node.fromPartial({ id, status: { state: NodeStatus_State.READY } }));
    });
    h = await makeHarness({}, store);
    h.start();
    await h.clock.advance(2_000);
    const { c, sessionId } = await open(h, 'a');
    await h.clock.advance(1_500);
    expect(nodeState(h, 'b')).toBe(NodeStatus_State.DOWN);
    await c.heartbeat(sessionId);
    expect(nodeState(h, 'a')).toBe(NodeStatus_State.READY);
  });

  it('refuses every call with "not leader: <addr>" when not running, and calls without identity', async () => {
    h = await makeHarness({ leaderAddr: () => '10.0.0.9:4243' });
    const c = h.client('n1');
    const s = c.session();
    await until(() => s.ended, 'refusal');
    expect(s.error).toMatchObject({ code: status.UNAVAILABLE, details: 'not leader: 10.0.0.9:4243' });
    await expect(c.heartbeat('x')).rejects.toMatchObject({ details: 'not leader: 10.0.0.9:4243' });
    h.start();
    c.md.remove('x-shoal-test-node');
    await expect(c.heartbeat('x')).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
  });

  it('refuses an unknown node when nodes are created by the CA, and ends a removed node\'s session', async () => {
    const store = new MemoryStore();
    await store.update((tx) => tx.nodes.create(Node.fromPartial({ id: 'n1', status: { state: NodeStatus_State.DOWN } })));
    h = await makeHarness({ registerUnknownNodes: false }, store);
    h.start();
    const stranger = h.client('n9').session();
    await until(() => stranger.ended, 'refusal');
    expect(stranger.error).toMatchObject({ code: status.PERMISSION_DENIED });
    expect(stranger.error?.details).toMatch(/node n9 is not a member of this cluster/);
    const { c, s, sessionId } = await open(h, 'n1');
    await h.store.update((tx) => tx.nodes.delete('n1'));
    await until(() => s.ended, 'session ended');
    await expect(c.heartbeat(sessionId)).rejects.toMatchObject({ code: status.NOT_FOUND });
  });

  it('serves again after a stop and a new run (leadership regained)', async () => {
    h = await makeHarness();
    h.start();
    await open(h, 'n1');
    h.dispatcher.stop();
    await until(() => !h!.dispatcher.isRunning, 'stopped');
    expect(h.dispatcher.sessionCount).toBe(0);
    void h.dispatcher.run();
    const { c, sessionId } = await open(h, 'n1');
    expect(await c.heartbeat(sessionId)).toBe(1_000_000_000n);
    h.dispatcher.stop();
  });

  it('ends the sessions when it stops (leadership lost)', async () => {
    h = await makeHarness({ leaderAddr: () => 'm2:4243' });
    h.start();
    const { c, s, sessionId } = await open(h, 'n1');
    const a = c.assignments(sessionId);
    await until(() => a.messages.length > 0, 'complete set');
    h.dispatcher.stop();
    await until(() => s.ended && a.ended, 'streams ended');
    expect(a.error?.details).toBe('not leader: m2:4243');
  });
});

describe('assignments', () => {
  it('sends the COMPLETE set, then only changes the agent acts on, as INCREMENTAL messages', async () => {
    const store = new MemoryStore();
    await store.update((tx) => {
      tx.tasks.create(task('t1', 'n1'));
      tx.tasks.create(task('t2', 'n1', TaskState.PENDING)); // not yet scheduled: not the node's
      tx.tasks.create(task('t3', 'n2'));
    });
    h = await makeHarness({}, store);
    h.start();
    const { c, sessionId } = await open(h, 'n1');
    const a = c.assignments(sessionId);
    await until(() => a.messages.length === 1, 'complete set');
    const complete = a.messages[0]!;
    expect(complete.type).toBe(AssignmentsType.COMPLETE);
    expect(complete.changes.map((x) => x.task!.id)).toEqual(['t1']);

    // the agent's own status report is not echoed back
    await store.update((tx) => tx.tasks.update({ ...tx.tasks.get('t1')!, status: statusOf(TaskState.RUNNING) }));
    // a new assignment and a desired-state change come in one INCREMENTAL message
    await store.update((tx) => {
      tx.tasks.update({ ...tx.tasks.get('t2')!, status: statusOf(TaskState.ASSIGNED) });
      tx.tasks.update({ ...tx.tasks.get('t1')!, desiredState: TaskState.SHUTDOWN });
    });
    await until(() => a.messages.length === 2, 'incremental');
    const inc = a.messages[1]!;
    expect(inc.type).toBe(AssignmentsType.INCREMENTAL);
    expect(inc.appliesTo).toBe(complete.resultsIn);
    expect(inc.changes.map((x) => [x.action, x.task!.id, x.task!.desiredState]).sort()).toEqual([
      [AssignmentChange_Action.UPDATE, 't1', TaskState.SHUTDOWN],
      [AssignmentChange_Action.UPDATE, 't2', TaskState.RUNNING],
    ]);
    // deleting a task, or moving it to another node, removes it
    await store.update((tx) => {
      tx.tasks.delete('t1');
      tx.tasks.update({ ...tx.tasks.get('t2')!, nodeId: 'n2' });
      tx.tasks.update({ ...tx.tasks.get('t3')!, desiredState: TaskState.SHUTDOWN }); // not n1's
    });
    await until(() => a.messages.length === 3, 'removals');
    const rm = a.messages[2]!;
    expect(rm.appliesTo).toBe(inc.resultsIn);
    expect(rm.changes.map((x) => [x.action, x.task!.id]).sort()).toEqual([
      [AssignmentChange_Action.REMOVE, 't1'],
      [AssignmentChange_Action.REMOVE, 't2'],
    ]);
  });
});

describe('task status reports', () => {
  async function withTasks(): Promise<{ hh: Harness; sessionId: string; c: ReturnType<Harness['client']> }> {
    const store = new MemoryStore();
    await store.update((tx) => {
      for (const id of ['t1', 't2', 't3']) tx.tasks.create(task(id, 'n1'));
      tx.tasks.create(task('other', 'n2'));
    });
    const hh = await makeHarness({ statusBatchMs: 20 }, store);
    hh.start();
    const { c, sessionId } = await open(hh, 'n1');
    return { hh, sessionId, c };
  }

  it('batches reports from several calls into one store transaction', async () => {
    const { hh, sessionId, c } = await withTasks();
    h = hh;
    const commits: bigint[] = [];
    const w = hh.store.watch({ filter: (e) => e.kind === 'task' });
    void (async () => {
      for await (const e of w) if (e.type === 'commit') commits.push(e.version);
    })();
    const calls = ['t1', 't2', 't3'].map((id) => c.updateStatus(sessionId, [{ taskId: id, status: statusOf(TaskState.RUNNING, 'started') }]));
    await until(() => hh.dispatcher.statusStats().queued === 3, 'three reports queued');
    expect(hh.dispatcher.statusStats().batches).toBe(0);
    await hh.clock.advance(20);
    await Promise.all(calls);
    w.close();
    expect(hh.dispatcher.statusStats().batches).toBe(1);
    expect(commits).toHaveLength(1);
    for (const id of ['t1', 't2', 't3']) expect(hh.store.view((tx) => tx.tasks.get(id)?.status?.state)).toBe(TaskState.RUNNING);
  });

  it('drops a report that would move a task backwards', async () => {
    const { hh, sessionId, c } = await withTasks();
    h = hh;
    const send = async (state: TaskState): Promise<void> => {
      const p = c.updateStatus(sessionId, [{ taskId: 't1', status: statusOf(state) }]);
      await until(() => hh.dispatcher.statusStats().queued === 1, 'report queued');
      await hh.clock.advance(20);
      await p;
    };
    await send(TaskState.RUNNING);
    await send(TaskState.ACCEPTED);
    expect(hh.store.view((tx) => tx.tasks.get('t1')?.status?.state)).toBe(TaskState.RUNNING);
    expect(hh.dispatcher.statusStats().totals.stale).toBe(1);
  });

  it("refuses a report about another node's task and changes nothing", async () => {
    const { hh, sessionId, c } = await withTasks();
    h = hh;
    const p = c.updateStatus(sessionId, [
      { taskId: 't1', status: statusOf(TaskState.RUNNING) },
      { taskId: 'other', status: statusOf(TaskState.FAILED) },
    ]);
    await expect(p).rejects.toMatchObject({ code: status.PERMISSION_DENIED, details: 'task other is not assigned to node n1' });
    await hh.clock.advance(50);
    expect(hh.store.view((tx) => tx.tasks.get('other')?.status?.state)).toBe(TaskState.ASSIGNED);
    expect(hh.store.view((tx) => tx.tasks.get('t1')?.status?.state)).toBe(TaskState.ASSIGNED);
  });

  it('refuses reports on an unknown session', async () => {
    const { hh, c } = await withTasks();
    h = hh;
    await expect(c.updateStatus('nope', [{ taskId: 't1', status: statusOf(TaskState.RUNNING) }])).rejects.toMatchObject({ code: status.NOT_FOUND });
  });
});
