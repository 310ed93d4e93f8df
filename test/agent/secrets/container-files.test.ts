// Secrets and configs in real containers: the bytes, mode and owner seen inside, read-only even
// for root, secrets on a tmpfs; after removal no mount and no file is left under SHOAL_RUN. A task
// naming a secret the node was not sent is REJECTED naming it, and a task whose container cannot
// be made leaves no files behind.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Config, Mount_Type, Secret, Task, TaskState } from '../../../proto/gen/types.js';
import { ContainerController, taskContainers } from '../../../agent/executor/index.js';
import { mountsUnder } from '../../../agent/secrets/index.js';
import { collect, leftoverMounts } from '../runtime/helpers.js';
import { makeHarness, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await makeHarness('files');
  h.secrets.replace(
    [Secret.fromPartial({ id: 'sec1', spec: { annotations: { name: 'db_password' }, data: Buffer.from('s3cr3t-value') } })],
    [Config.fromPartial({ id: 'cfg1', spec: { annotations: { name: 'app.conf' }, data: Buffer.from('listen 8080\n') } })],
  );
});
afterAll(async () => {
  // the fixture reports (and unmounts) any task files a test left behind
  expect(await h.fx.cleanup()).toEqual([]);
});

const runDir = (): string => `${h.fx.root}/run`;

describe('secrets and configs in a container', () => {
  it('shows the data with its mode and owner, read-only, and leaves nothing mounted after removal', async () => {
    const script = [
      'cat /run/secrets/db; echo',
      'stat -c "secret %a %u %g" /run/secrets/db',
      'cat /etc/app.conf',
      'stat -c "config %a %u %g" /etc/app.conf',
      'cat /app.conf',
      '(echo x > /run/secrets/db) 2>/dev/null && echo secret-written || echo secret-read-only',
      '(echo x > /etc/app.conf) 2>/dev/null && echo config-written || echo config-read-only',
      '(rm /run/secrets/db) 2>/dev/null && echo secret-removed || echo secret-kept',
      'grep " /run/secrets/db " /proc/self/mountinfo | grep -q " - tmpfs shoal-secrets " && echo secret-on-tmpfs',
    ].join('; ');
    const t = h.task({
      args: ['sh', '-c', script],
      secrets: [{ secretId: 'sec1', secretName: 'db_password', file: { name: 'db', uid: '1000', gid: '1000', mode: 0o400 } }],
      configs: [
        { configId: 'cfg1', configName: 'app.conf', file: { name: '/etc/app.conf', uid: '0', gid: '0', mode: 0 } },
        { configId: 'cfg1', configName: 'app.conf' },
      ],
    });
    const ctl = h.controller(t);
    const running = await h.drive(t, ctl, t.status!, TaskState.RUNNING);
    expect(running.state).toBe(TaskState.RUNNING);
    // while it runs, the secrets are on a tmpfs under SHOAL_RUN/secrets/<task id>
    expect(mountsUnder(`${runDir()}/secrets`)).toEqual([h.taskFiles.secretsPath(t.id)]);
    const end = await h.drive(t, ctl, running);
    const output = (await collect(h.fx.runtime.logs(running.containerId))).map((e) => e.text).join('');
    expect(end).toMatchObject({ state: TaskState.COMPLETE, exitCode: 0 });
    expect(output.split('\n')).toEqual([
      's3cr3t-value',
      'secret 400 1000 1000',
      'listen 8080',
      'config 444 0 0',
      'listen 8080',
      'secret-read-only',
      'config-read-only',
      'secret-kept',
      'secret-on-tmpfs',
      '',
    ]);
    await ctl.remove();
    expect((await taskContainers(h.fx.runtime)).has(t.id)).toBe(false);
    expect(leftoverMounts(h.fx.root)).toEqual([]);
    expect(existsSync(h.taskFiles.secretsPath(t.id))).toBe(false);
    expect(existsSync(h.taskFiles.configsPath(t.id))).toBe(false);
  });

  it('gives a non-root task only the secrets it owns, also on a read-only root filesystem', async () => {
    const t = h.task({
      user: '1000:1000',
      readOnly: true,
      args: ['sh', '-c', 'id -u; cat /run/secrets/mine; echo; cat /run/secrets/roots 2>/dev/null || echo denied'],
      secrets: [
        { secretId: 'sec1', secretName: 'db_password', file: { name: 'mine', uid: '1000', gid: '1000', mode: 0o400 } },
        { secretId: 'sec1', secretName: 'db_password', file: { name: 'roots', uid: '0', gid: '0', mode: 0o400 } },
      ],
    });
    const { status, output, ctl } = await h.runToEnd(t);
    expect(status.state).toBe(TaskState.COMPLETE);
    expect(output).toBe('1000\ns3cr3t-value\ndenied\n');
    await ctl.remove();
    expect(leftoverMounts(h.fx.root)).toEqual([]);
  });

  it("removes a running task's secrets through a controller that knows only the task id (a leftover, or a node leaving)", async () => {
    const t = h.task({ args: ['sleep', '1000'], stopGracePeriod: { nanos: 200_000_000n }, secrets: [{ secretId: 'sec1', secretName: 'db_password' }] });
    const running = await h.drive(t, h.controller(t), t.status!, TaskState.RUNNING);
    expect(running.state).toBe(TaskState.RUNNING);
    expect(mountsUnder(h.taskFiles.secretsPath(t.id))).toHaveLength(1);
    // as daemon/leave-tasks.ts and the task set's leftover sweep build it: no task files given
    const bare = new ContainerController(Task.fromPartial({ id: t.id }), { runtime: h.fx.runtime, images: h.fx.images, hostname: 'h', nodeId: '', defaultNetwork: 'none', logger: h.fx.logger });
    await bare.shutdown();
    await bare.remove();
    expect((await taskContainers(h.fx.runtime)).has(t.id)).toBe(false);
    expect(leftoverMounts(h.fx.root)).toEqual([]);
    expect(existsSync(h.taskFiles.secretsPath(t.id))).toBe(false);
  });

  it('rejects a task that refers to a secret the node does not have, naming it, and makes nothing', async () => {
    const t = h.task({ args: ['true'], secrets: [{ secretId: 'nosuch', secretName: 'api_token' }] });
    const { status } = await h.runToEnd(t);
    expect(status.state).toBe(TaskState.REJECTED);
    expect(status.err).toBe('secret "api_token" (id nosuch) was not sent to this node: the task cannot start without it');
    expect((await taskContainers(h.fx.runtime)).has(t.id)).toBe(false);
    expect(leftoverMounts(h.fx.root)).toEqual([]);
  });

  it('removes the task files again when the container cannot be made', async () => {
    const t = h.task({
      args: ['true'],
      secrets: [{ secretId: 'sec1', secretName: 'db_password' }],
      mounts: [{ type: Mount_Type.BIND, source: `${h.fx.root}/no-such-dir`, target: '/mnt' }],
    });
    const { status } = await h.runToEnd(t);
    expect(status.state).toBe(TaskState.REJECTED);
    expect(status.err).toMatch(/no-such-dir does not exist/);
    expect(leftoverMounts(h.fx.root)).toEqual([]);
    expect(existsSync(h.taskFiles.secretsPath(t.id))).toBe(false);
  });

  it('removes the files of a task whose container failed to start when the task is removed', async () => {
    const t = h.task({ args: ['/no/such/binary'], secrets: [{ secretId: 'sec1', secretName: 'db_password' }] });
    const { status, ctl } = await h.runToEnd(t);
    expect(status.state).toBe(TaskState.FAILED);
    expect(mountsUnder(h.taskFiles.secretsPath(t.id))).toHaveLength(1);
    await ctl.remove();
    expect(leftoverMounts(h.fx.root)).toEqual([]);
    expect(existsSync(h.taskFiles.secretsPath(t.id))).toBe(false);
  });
});
