// The Agent consuming secrets and configs from its assignment stream (real gRPC, real
// containers): a COMPLETE set brings a secret, a config and the task that uses them; REMOVE of
// the task then of the secret (by id only) removes the container, the tmpfs and the secret from
// memory; a later task that refers to the removed secret is REJECTED naming it; files no task
// owns are swept when a COMPLETE set arrives.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, Metadata } from '@grpc/grpc-js';
import { AssignmentChange_Action, AssignmentsType } from '../../../proto/gen/dispatcher.js';
import { Config, Secret, Task, TaskState } from '../../../proto/gen/types.js';
import { Agent } from '../../../agent/index.js';
import { taskContainers } from '../../../agent/executor/index.js';
import { mountsUnder } from '../../../agent/secrets/index.js';
import { collect } from '../runtime/helpers.js';
import { makeAgentFixture, type AgentFixture } from '../executor/fixture.js';
import { startScriptedDispatcher, type ScriptedDispatcher } from './scripted-dispatcher.js';

let fx: AgentFixture;
let disp: ScriptedDispatcher;
let agent: Agent;

beforeAll(async () => {
  fx = await makeAgentFixture('agent', 'shoalsa');
  disp = await startScriptedDispatcher('shoalsa-node');
  const stateDir = join(fx.root, 'agent');
  mkdirSync(stateDir, { recursive: true });
  agent = new Agent({ runtime: fx.runtime, images: fx.images, managers: [disp.addr], credentials: credentials.createInsecure(), metadata: new Metadata(), stateDir, logger: fx.logger, defaultNetwork: 'none', backoff: { initialMs: 20, maxMs: 200 } });
  await agent.start();
  await agent.waitConnected();
  await disp.assignmentsOpen();
});
afterAll(async () => {
  await agent?.stop();
  await disp?.close();
  expect(await fx.cleanup()).toEqual([]);
});

async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 1500; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const secret = Secret.fromPartial({ id: 'shoalsa-s1', spec: { annotations: { name: 'db_password' }, data: Buffer.from('pa55') } });
const config = Config.fromPartial({ id: 'shoalsa-c1', spec: { annotations: { name: 'app.conf' }, data: Buffer.from('debug=1') } });

function task(id: string): Task {
  return Task.fromPartial({
    id,
    serviceId: 'svc',
    serviceName: 'withsecrets',
    slot: 1,
    nodeId: 'shoalsa-node',
    desiredState: TaskState.RUNNING,
    status: { state: TaskState.ASSIGNED },
    spec: {
      container: {
        image: 'busybox',
        args: ['sh', '-c', 'cat /run/secrets/db_password /app.conf; echo; exec sleep 1000'],
        stopGracePeriod: { nanos: 200_000_000n },
        secrets: [{ secretId: secret.id, secretName: 'db_password', file: { name: 'db_password', uid: '0', gid: '0', mode: 0o400 } }],
        configs: [{ configId: config.id, configName: 'app.conf' }],
      },
    },
  });
}

describe('Agent: secrets and configs from the assignment stream', () => {
  it('mounts what a COMPLETE set sent, removes it with the task, and rejects a task after the secret is gone', async () => {
    const t1 = task(`shoalsaT1x${process.pid}`);
    disp.send({ type: AssignmentsType.COMPLETE, changes: [{ action: AssignmentChange_Action.UPDATE, secret }, { action: AssignmentChange_Action.UPDATE, config }, { action: AssignmentChange_Action.UPDATE, task: t1 }] });
    await until(() => disp.statuses.get(t1.id)?.state === TaskState.RUNNING, 'task 1 running');
    expect(agent.secrets.ids()).toEqual({ secrets: [secret.id], configs: [config.id] });
    const c = (await taskContainers(fx.runtime)).get(t1.id)!;
    await until(async () => (await collect(fx.runtime.logs(c.id))).some((e) => e.text === 'pa55debug=1\n'), 'the task printing its secret and config');
    const secretsDir = join(fx.root, 'run', 'secrets');
    expect(mountsUnder(secretsDir)).toEqual([join(secretsDir, t1.id)]);

    // the task goes, then the secret that only it used (only its id is sent)
    disp.send({
      type: AssignmentsType.INCREMENTAL,
      changes: [
        { action: AssignmentChange_Action.REMOVE, task: Task.fromPartial({ id: t1.id }) },
        { action: AssignmentChange_Action.REMOVE, secret: Secret.fromPartial({ id: secret.id }) },
      ],
    });
    await until(async () => !(await taskContainers(fx.runtime)).has(t1.id), 'task 1 container removed');
    // the container goes first, then its files
    await until(() => !existsSync(join(fx.root, 'run', 'configs', t1.id)), 'the task files removed');
    expect(mountsUnder(secretsDir)).toEqual([]);
    expect(existsSync(join(secretsDir, t1.id))).toBe(false);
    expect(agent.secrets.ids()).toEqual({ secrets: [], configs: [config.id] });

    const t2 = task(`shoalsaT2x${process.pid}`);
    disp.send({ type: AssignmentsType.INCREMENTAL, changes: [{ action: AssignmentChange_Action.UPDATE, task: t2 }] });
    await until(() => disp.statuses.get(t2.id)?.state === TaskState.REJECTED, 'task 2 rejected');
    expect(disp.statuses.get(t2.id)?.err).toBe(`secret "db_password" (id ${secret.id}) was not sent to this node: the task cannot start without it`);

    // a COMPLETE set without the config forgets it
    disp.send({ type: AssignmentsType.COMPLETE, changes: [] });
    await until(() => agent.secrets.ids().configs.length === 0, 'the config forgotten');
    await agent.assignmentsApplied();
  });

  it('removes task files that no task of the node owns when a COMPLETE set arrives', async () => {
    const orphan = `shoalsaOrphan${process.pid}`;
    await agent.taskFiles.materialize(orphan, [{ kind: 'secret', id: 'x', name: 'x', target: '/run/secrets/x', uid: 0, gid: 0, mode: 0o400, data: Buffer.from('left') }]);
    expect(mountsUnder(join(fx.root, 'run', 'secrets'))).toHaveLength(1);
    disp.send({ type: AssignmentsType.COMPLETE, changes: [] });
    await until(() => agent.taskFiles.taskIds().length === 0, 'the leftover task files swept');
    expect(mountsUnder(join(fx.root, 'run'))).toEqual([]);
  });
});
