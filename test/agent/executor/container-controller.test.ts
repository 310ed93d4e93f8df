// The container controller with the real runtime and the busybox test image: tasks run, exit 0
// or 3, are rejected for a missing image (or a volume without a driver), and stop with their
// stop signal and grace period.
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthConfig, Mount_Type, Task, TaskState, TaskStatus, type ContainerSpec } from '../../../proto/gen/types.js';
import { ContainerController, LABEL_TASK_ID, step, taskContainers } from '../../../agent/executor/index.js';
import { collect } from '../runtime/helpers.js';
import { makeAgentFixture, type AgentFixture } from './fixture.js';

let fx: AgentFixture;
beforeAll(async () => {
  fx = await makeAgentFixture('ctl');
});
afterAll(async () => {
  expect(await fx.cleanup()).toEqual([]);
});

let seq = 0;
function makeTask(container: Partial<ContainerSpec>, extra: Partial<Task> = {}): Task {
  return Task.fromPartial({
    id: `shoalagtask${++seq}`,
    serviceId: 'svc',
    serviceName: 'web',
    slot: seq,
    nodeId: 'node1',
    desiredState: TaskState.RUNNING,
    spec: { container: { image: 'busybox', ...container } },
    status: { state: TaskState.ASSIGNED },
    ...extra,
  });
}

function controller(t: Task): ContainerController {
  return new ContainerController(t, { runtime: fx.runtime, images: fx.images, hostname: hostname(), nodeId: 'node1', defaultNetwork: 'none', logger: fx.logger });
}

/** Steps until the status stops changing or reaches `until`; returns every state passed. */
async function drive(t: Task, ctl: ContainerController, from: TaskStatus, until?: TaskState): Promise<{ status: TaskStatus; states: TaskState[] }> {
  const states: TaskState[] = [];
  let cur = from;
  for (;;) {
    const next = await step(t, cur, ctl);
    if (next === cur) break;
    cur = next;
    states.push(cur.state);
    if (until !== undefined && cur.state === until) break;
  }
  return { status: cur, states };
}

async function waitForLine(containerId: string, text: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    for await (const e of fx.runtime.logs(containerId)) if (e.text === text) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`container never printed ${JSON.stringify(text)}`);
}

describe('ContainerController', () => {
  it('runs a task to RUNNING, labelled with its id, and to COMPLETE when it exits 0', async () => {
    const t = makeTask({ command: ['/bin/sh', '-c'], args: ['sleep 0.3; exit 0'] });
    t.spec!.resources = { limits: { nanoCpus: 0n, memoryBytes: 64n << 20n, generic: [], pids: 0n }, reservations: undefined };
    const ctl = controller(t);
    const running = await drive(t, ctl, t.status!, TaskState.RUNNING);
    expect(running.states).toEqual([TaskState.ACCEPTED, TaskState.PREPARING, TaskState.STARTING, TaskState.RUNNING]);
    expect(running.status.pid).toBeGreaterThan(0);
    const c = (await taskContainers(fx.runtime)).get(t.id)!;
    expect(c.spec.labels?.[LABEL_TASK_ID]).toBe(t.id);
    expect(c.name).toBe(`web.${t.slot}.${t.id}`);
    expect(c.id).toBe(running.status.containerId);
    expect((await fx.runtime.stats(c.id)).memoryLimitBytes).toBe(64 * 1024 * 1024);
    const done = await drive(t, ctl, running.status);
    expect(done.states).toEqual([TaskState.COMPLETE]);
    expect(done.status.exitCode).toBe(0);
    await ctl.remove();
    expect((await taskContainers(fx.runtime)).has(t.id)).toBe(false);
  });

  it('reports FAILED with the exit code when the task exits 3', async () => {
    const t = makeTask({ args: ['sh', '-c', 'exit 3'] });
    const ctl = controller(t);
    const r = await drive(t, ctl, t.status!);
    expect(r.status).toMatchObject({ state: TaskState.FAILED, exitCode: 3, err: 'task: non-zero exit (3)' });
    await ctl.remove();
  });

  it('reports FAILED with oom_killed when the task exceeds its memory limit', async () => {
    const t = makeTask({ args: ['/bin/dd', 'if=/dev/zero', 'of=/dev/null', 'bs=256M', 'count=1'] });
    t.spec!.resources = { limits: { nanoCpus: 0n, memoryBytes: 32n << 20n, generic: [], pids: 0n }, reservations: undefined };
    const ctl = controller(t);
    const r = await drive(t, ctl, t.status!);
    expect(r.status).toMatchObject({ state: TaskState.FAILED, oomKilled: true, exitCode: 137 });
    expect(r.status.err).toMatch(/OOM/);
    await ctl.remove();
  });

  it('rejects a task whose image is not on the node, creating nothing', async () => {
    const t = makeTask({ image: 'nope:1', args: ['true'] });
    const r = await drive(t, controller(t), t.status!);
    expect(r.status).toMatchObject({ state: TaskState.REJECTED, err: `image nope:1 not found on node ${hostname()}` });
    expect((await taskContainers(fx.runtime)).has(t.id)).toBe(false);
  });

  it('rejects a volume mount when the controller has no volume driver', async () => {
    const t = makeTask({ args: ['true'], mounts: [{ type: Mount_Type.VOLUME, source: 'data', target: '/data', readOnly: false, consistency: '', bindPropagation: '', volumeLabels: {}, volumeNoCopy: false, tmpfsSizeBytes: 0n, tmpfsMode: 0 }] });
    const r = await drive(t, controller(t), t.status!);
    expect(r.status.state).toBe(TaskState.REJECTED);
    expect(r.status.err).toBe('mount of /data: volume data is not available on this node (no volume driver)');
  });

  it('stops a task with its stop signal, within the grace period', async () => {
    const t = makeTask({ args: ['sh', '-c', 'trap "echo got INT; exit 5" INT; echo ready; while true; do sleep 0.05; done'], stopSignal: 'INT', stopGracePeriod: { nanos: 20_000_000_000n } });
    const ctl = controller(t);
    const running = await drive(t, ctl, t.status!, TaskState.RUNNING);
    // a signal sent before the trap is set would be ignored (the shell is the namespace's init)
    await waitForLine(running.status.containerId, 'ready\n');
    const stopped = await drive({ ...t, desiredState: TaskState.SHUTDOWN }, ctl, running.status);
    expect(stopped.states).toEqual([TaskState.SHUTDOWN]);
    const c = await fx.runtime.inspect(running.status.containerId);
    expect(c.exit).toMatchObject({ code: 5, signal: null });
    expect((await collect(fx.runtime.logs(c.id))).map((e) => e.text)).toContain('got INT\n');
    await ctl.remove();
  });

  it('stops an unhealthy container with the task\'s stop signal, not the runtime\'s default', async () => {
    // TERM is ignored: only the task's INT ends it; the runtime's default (TERM, then KILL after
    // 10 s) would end it with 137
    const t = makeTask({
      args: ['sh', '-c', 'trap "" TERM; trap "echo got INT; exit 6" INT; echo ready; while true; do sleep 0.05; done'],
      stopSignal: 'INT',
      stopGracePeriod: { nanos: 20_000_000_000n },
      healthcheck: HealthConfig.fromPartial({ test: ['CMD', 'false'], interval: { nanos: 100_000_000n }, timeout: { nanos: 1_000_000_000n }, retries: 1 }),
    });
    const ctl = controller(t);
    const running = await drive(t, ctl, t.status!, TaskState.RUNNING);
    await waitForLine(running.status.containerId, 'ready\n');
    const ended = await drive(t, ctl, running.status);
    expect(ended.status.state).toBe(TaskState.FAILED);
    expect(ended.status.err).toMatch(/unhealthy/);
    const c = await fx.runtime.inspect(running.status.containerId);
    expect(c.exit).toMatchObject({ code: 6, signal: null });
    await ctl.remove();
  });

  it('kills a task that ignores its stop signal once the grace period is over', async () => {
    const t = makeTask({ args: ['sh', '-c', 'trap "" TERM; while true; do sleep 0.05; done'], stopGracePeriod: { nanos: 300_000_000n } });
    const ctl = controller(t);
    const running = await drive(t, ctl, t.status!, TaskState.RUNNING);
    await drive({ ...t, desiredState: TaskState.SHUTDOWN }, ctl, running.status);
    const c = await fx.runtime.inspect(running.status.containerId);
    expect(c.state).toBe('exited');
    expect(c.exit?.code).toBe(137);
    await ctl.remove();
  });
});
