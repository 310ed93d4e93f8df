// Agent and the real dispatcher over real gRPC, with real containers: a secret and a config in
// the store reach the node with the task that uses them and appear in its container; a
// restarted agent re-adopts the running container and is sent them again; deleting the task
// removes its container, its tmpfs and the agent's copy of the secret.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Config, Secret, Task, TaskState } from '../../../proto/gen/types.js';
import { Agent } from '../../../agent/index.js';
import { taskContainers } from '../../../agent/executor/index.js';
import { mountsUnder } from '../../../agent/secrets/index.js';
import { collect } from '../runtime/helpers.js';
import { makeAgentFixture, type AgentFixture } from '../executor/fixture.js';
import { insecure, nodeMetadata, startManager, until, type TestManager } from '../session/manager.js';

let fx: AgentFixture;
let mgr: TestManager;
const agents: Agent[] = [];

beforeEach(async () => {
  fx = await makeAgentFixture('disp', 'shoalsa');
  mgr = await startManager();
  mgr.lead();
});
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
  await mgr.kill();
  expect(await fx.cleanup()).toEqual([]);
});

function newAgent(): Agent {
  const stateDir = join(fx.root, 'agent');
  mkdirSync(stateDir, { recursive: true });
  const a = new Agent({ runtime: fx.runtime, images: fx.images, managers: [mgr.addr], credentials: insecure, metadata: nodeMetadata('n1'), stateDir, logger: fx.logger, defaultNetwork: 'none', backoff: { initialMs: 20, maxMs: 200 } });
  agents.push(a);
  return a;
}

const stored = (id: string): TaskState | undefined => mgr.store.view((tx) => tx.tasks.get(id)?.status?.state);

describe('Agent with a dispatcher: secrets and configs', () => {
  it('runs a task with its secret and config, keeps them over an agent restart, and removes them with the task', async () => {
    const id = `shoalsaD1x${process.pid}`;
    await mgr.store.update((tx) => {
      tx.secrets.create(Secret.fromPartial({ id: 'shoalsa-sec', spec: { annotations: { name: 'token' }, data: Buffer.from('t0k3n') } }));
      tx.configs.create(Config.fromPartial({ id: 'shoalsa-cfg', spec: { annotations: { name: 'site.conf' }, data: Buffer.from('site=a') } }));
      tx.tasks.create(
        Task.fromPartial({
          id,
          serviceId: 'svc1',
          serviceName: 'app',
          slot: 1,
          nodeId: 'n1',
          desiredState: TaskState.RUNNING,
          status: { state: TaskState.ASSIGNED },
          spec: {
            container: {
              image: 'busybox',
              args: ['sh', '-c', 'cat /run/secrets/token /etc/site.conf; echo; stat -c "%a %u" /run/secrets/token; exec sleep 1000'],
              stopGracePeriod: { nanos: 200_000_000n },
              secrets: [{ secretId: 'shoalsa-sec', secretName: 'token', file: { name: 'token', uid: '1000', gid: '1000', mode: 0o400 } }],
              configs: [{ configId: 'shoalsa-cfg', configName: 'site.conf', file: { name: '/etc/site.conf', uid: '0', gid: '0', mode: 0o444 } }],
            },
          },
        }),
      );
    });
    const a = newAgent();
    await a.start();
    await until(() => stored(id) === TaskState.RUNNING, 'task running in the store');
    const c = (await taskContainers(fx.runtime)).get(id)!;
    await until(async () => (await collect(fx.runtime.logs(c.id))).map((e) => e.text).join('') === 't0k3nsite=a\n400 1000\n', 'the secret and config printed');
    expect(a.secrets.ids()).toEqual({ secrets: ['shoalsa-sec'], configs: ['shoalsa-cfg'] });

    // a new agent adopts the running container; the COMPLETE set brings the secret again
    await a.stop();
    agents.splice(agents.indexOf(a), 1);
    const b = newAgent();
    await b.start();
    await until(() => b.taskList().some((t) => t.task.id === id), 'task adopted');
    await until(() => b.secrets.ids().secrets.length === 1, 'secret sent again');
    expect((await taskContainers(fx.runtime)).get(id)).toMatchObject({ id: c.id, state: 'running' });

    await mgr.store.update((tx) => tx.tasks.delete(id));
    await until(async () => !(await taskContainers(fx.runtime)).has(id), 'container removed');
    await until(() => b.secrets.ids().secrets.length === 0 && b.secrets.ids().configs.length === 0, 'secret and config dropped after the last task');
    await until(() => mountsUnder(join(fx.root, 'run')).length === 0, 'task tmpfs unmounted');
  });

  it('receives more than gRPC\'s default 4 MiB of secrets in one assignments message', async () => {
    const id = `shoalsaD2x${process.pid}`;
    const n = 12; // 12 x 450 KiB: one COMPLETE message of about 5.4 MB
    for (let i = 0; i < n; i++) {
      // one secret per transaction: a proposal is limited to 1 MB
      await mgr.store.update((tx) => tx.secrets.create(Secret.fromPartial({ id: `shoalsa-big${i}`, spec: { annotations: { name: `big${i}` }, data: Buffer.alloc(450 * 1024, 97 + i) } })));
    }
    await mgr.store.update((tx) => {
      tx.tasks.create(
        Task.fromPartial({
          id,
          serviceId: 'svc2',
          serviceName: 'big',
          slot: 1,
          nodeId: 'n1',
          desiredState: TaskState.RUNNING,
          status: { state: TaskState.ASSIGNED },
          spec: {
            container: {
              image: 'busybox',
              args: ['sh', '-c', 'wc -c /run/secrets/big11; exec sleep 1000'],
              stopGracePeriod: { nanos: 200_000_000n },
              secrets: Array.from({ length: n }, (_, i) => ({ secretId: `shoalsa-big${i}`, secretName: `big${i}`, file: { name: `big${i}`, uid: '0', gid: '0', mode: 0o400 } })),
            },
          },
        }),
      );
    });
    const a = newAgent();
    await a.start();
    await until(() => stored(id) === TaskState.RUNNING, 'task running in the store');
    expect(a.secrets.ids().secrets).toHaveLength(n);
    const c = (await taskContainers(fx.runtime)).get(id)!;
    await until(async () => (await collect(fx.runtime.logs(c.id))).map((e) => e.text).join('').includes(`${450 * 1024} /run/secrets/big11`), 'the last secret whole in the container');
    await mgr.store.update((tx) => tx.tasks.delete(id));
    await until(async () => !(await taskContainers(fx.runtime)).has(id), 'container removed');
    // the tmpfs goes after the container: stopping the agent before that left it mounted
    await until(() => mountsUnder(join(fx.root, 'run')).length === 0, 'task tmpfs unmounted');
  });
});
