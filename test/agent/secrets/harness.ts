// Drives tasks through the real container controller with a secret store, task files and a
// volume driver under the fixture's temp root (everything named shoalsa-*).
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Task, TaskState, type ContainerSpec, type DeepPartial, type TaskStatus } from '../../../proto/gen/types.js';
import { ContainerController, step } from '../../../agent/executor/index.js';
import { SecretStore, TaskFiles } from '../../../agent/secrets/index.js';
import { LocalVolumes } from '../../../agent/volumes/index.js';
import { collect } from '../runtime/helpers.js';
import { makeAgentFixture, type AgentFixture } from '../executor/fixture.js';

export interface Harness {
  fx: AgentFixture;
  secrets: SecretStore;
  taskFiles: TaskFiles;
  volumes: LocalVolumes;
  task(container: DeepPartial<ContainerSpec>): Task;
  controller(t: Task): ContainerController;
  /** Steps the task until its status stops changing (or reaches `until`). */
  drive(t: Task, ctl: ContainerController, from?: TaskStatus, until?: TaskState): Promise<TaskStatus>;
  /** Runs the task to its end and returns its status and what it printed. */
  runToEnd(t: Task): Promise<{ status: TaskStatus; output: string; ctl: ContainerController }>;
}

export async function makeHarness(tag: string): Promise<Harness> {
  const fx = await makeAgentFixture(tag, 'shoalsa');
  const secrets = new SecretStore();
  const taskFiles = new TaskFiles({ secretsDir: join(fx.root, 'run', 'secrets'), configsDir: join(fx.root, 'run', 'configs'), logger: fx.logger });
  const volumes = new LocalVolumes({ root: join(fx.root, 'volumes'), logger: fx.logger });
  let seq = 0;
  const h: Harness = {
    fx,
    secrets,
    taskFiles,
    volumes,
    task: (container) =>
      Task.fromPartial({
        id: `shoalsa${tag}${++seq}x${process.pid}`,
        serviceId: 'svc',
        serviceName: 'files',
        slot: seq,
        nodeId: 'node1',
        desiredState: TaskState.RUNNING,
        spec: { container: { image: 'busybox', ...container } },
        status: { state: TaskState.ASSIGNED },
      }),
    controller: (t) =>
      new ContainerController(t, { runtime: fx.runtime, images: fx.images, hostname: hostname(), nodeId: 'node1', defaultNetwork: 'none', logger: fx.logger, secrets, taskFiles, volumes }),
    async drive(t, ctl, from = t.status!, until) {
      let cur = from;
      for (;;) {
        const next = await step(t, cur, ctl);
        if (next === cur) return cur;
        cur = next;
        if (until !== undefined && cur.state === until) return cur;
      }
    },
    async runToEnd(t) {
      const ctl = h.controller(t);
      const status = await h.drive(t, ctl);
      const output = status.containerId ? (await collect(fx.runtime.logs(status.containerId))).map((e) => e.text).join('') : '';
      return { status, output, ctl };
    },
  };
  return h;
}
