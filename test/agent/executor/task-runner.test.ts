// The task runner over the real container controller and runtime (busybox test image): the
// statuses it persists and reports (states on the way to RUNNING only once they lasted), and the
// container of a task to be removed going as soon as the task stopped, before the managers send
// the removal.
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Task, TaskState, type TaskStatus } from '../../../proto/gen/types.js';
import { ContainerController, TaskRunner, taskContainers } from '../../../agent/executor/index.js';
import { makeAgentFixture, type AgentFixture } from './fixture.js';

let fx: AgentFixture;
beforeAll(async () => {
  fx = await makeAgentFixture('runner');
});
afterAll(async () => {
  expect(await fx.cleanup()).toEqual([]);
});

let seq = 0;
function makeTask(extra: Partial<Task> = {}): Task {
  seq++;
  return Task.fromPartial({
    id: `shoalagrunner${seq}`,
    serviceId: 'svc',
    serviceName: 'web',
    slot: seq,
    nodeId: 'node1',
    desiredState: TaskState.RUNNING,
    // exits on SIGTERM, as a service's process should (a TERM before the trap is set is ignored
    // by the namespace's init: the short grace bounds that race)
    spec: { container: { image: 'busybox', args: ['sh', '-c', 'trap "exit 0" TERM; sleep 100000 & wait'], stopGracePeriod: { nanos: 1_000_000_000n } } },
    status: { state: TaskState.ASSIGNED },
    ...extra,
  });
}

function run(t: Task, o: { prepareDelayMs?: number; passingReportMs?: number } = {}): { runner: TaskRunner; reported: TaskStatus[]; until(state: TaskState): Promise<void> } {
  const reported: TaskStatus[] = [];
  const waiters: { state: TaskState; resolve(): void }[] = [];
  const ctl = new ContainerController(t, { runtime: fx.runtime, images: fx.images, hostname: hostname(), nodeId: 'node1', defaultNetwork: 'none', logger: fx.logger });
  if (o.prepareDelayMs) {
    // the real prepare, after a wait: a slow image pull or volume copy, as the runner sees it
    const prepare = ctl.prepare.bind(ctl);
    ctl.prepare = async () => {
      await new Promise((r) => setTimeout(r, o.prepareDelayMs));
      await prepare();
    };
  }
  const runner = new TaskRunner(t, t.status!, ctl, (_task, s) => {
    reported.push(s);
    for (const w of waiters.filter((x) => x.state === s.state)) w.resolve();
  }, fx.logger, { passingReportMs: o.passingReportMs ?? 60_000 });
  const until = (state: TaskState): Promise<void> =>
    reported.some((s) => s.state === state) ? Promise.resolve() : new Promise((resolve) => waiters.push({ state, resolve }));
  return { runner, reported, until };
}

describe('TaskRunner', () => {
  it('reports RUNNING alone when the states before it pass within the report delay', async () => {
    const t = makeTask();
    const r = run(t);
    await r.until(TaskState.RUNNING);
    expect(r.reported.map((s) => s.state)).toEqual([TaskState.RUNNING]);
    expect(r.runner.current.status.state).toBe(TaskState.RUNNING);
    await r.runner.remove();
    expect((await taskContainers(fx.runtime)).has(t.id)).toBe(false);
  });

  it('reports PREPARING when preparing lasts', async () => {
    const t = makeTask();
    // reported after 50 ms; the prepare lasts at least 500 (its timer is set after the report's,
    // so it cannot fire first however loaded the machine is)
    const r = run(t, { prepareDelayMs: 500, passingReportMs: 50 });
    await r.until(TaskState.RUNNING);
    // STARTING is reported too when the start itself lasts 50 ms, which depends on the machine's
    // load: whether it shows is not what this test is about
    expect(r.reported.map((s) => s.state).filter((s) => s !== TaskState.STARTING)).toEqual([TaskState.PREPARING, TaskState.RUNNING]);
    await r.runner.remove();
  });

  it('keeps the container of a task shut down (history), removes that of a task to be removed', async () => {
    const kept = makeTask();
    const gone = makeTask();
    const a = run(kept);
    const b = run(gone);
    await Promise.all([a.until(TaskState.RUNNING), b.until(TaskState.RUNNING)]);
    a.runner.update({ ...kept, desiredState: TaskState.SHUTDOWN });
    b.runner.update({ ...gone, desiredState: TaskState.REMOVE });
    await Promise.all([a.until(TaskState.SHUTDOWN), b.until(TaskState.SHUTDOWN)]);
    // the removal follows the SHUTDOWN report without anyone calling remove(): wait for it (as
    // long as a loaded machine needs; the test's own timeout bounds it)
    while ((await taskContainers(fx.runtime)).has(gone.id)) await new Promise((res) => setTimeout(res, 20));
    const left = await taskContainers(fx.runtime);
    expect(left.has(gone.id)).toBe(false);
    expect(left.get(kept.id)?.state).toBe('exited');
    // the managers' removal afterwards finds nothing left to do
    await b.runner.remove();
    await a.runner.remove();
    expect((await taskContainers(fx.runtime)).size).toBe(0);
  });
});
