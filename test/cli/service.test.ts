// `shoal service ...` end to end: the real CLI process against a control API on a unix socket,
// with the real orchestrator and scheduler and a fake agent running the tasks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState, TaskStatus } from '../../proto/gen/types.js';
import { expectOneLineError, startCli, type CliHarness } from './service-harness.js';

let h: CliHarness;
beforeAll(async () => {
  h = await startCli();
});
afterAll(async () => {
  await h?.close();
});

const running = (name: string): number =>
  h.control.store.view((tx) => {
    const s = tx.services.find('name', name)[0];
    return s ? tx.tasks.find('service', s.id).filter((t) => t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING).length : -1;
  });

describe('shoal service', () => {
  it('create waits for convergence and prints progress, then the id', async () => {
    const r = await h.shoal(['service', 'create', '--name', 'web', '--replicas', '3', '--reserve-memory', '64M', '-e', 'A=1', 'busybox', 'sleep', '1000']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/web: 3\/3 running/);
    expect(r.stdout).toMatch(/web\.1 {2}running/);
    const id = r.stdout.trim().split('\n').pop()!;
    expect(id).toMatch(/^[0-9a-z]{25}$/);
    expect(running('web')).toBe(3);
    const spec = h.control.store.view((tx) => tx.services.get(id)!.spec!);
    expect(spec.task!.container!.env).toEqual(['A=1']);
    expect(spec.task!.resources!.reservations!.memoryBytes).toBe(64n * 1024n * 1024n);
  });

  it('ls and ps print tables, and json with --format json', async () => {
    const ls = await h.shoal(['service', 'ls']);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toMatch(/^ID\s+NAME\s+MODE\s+REPLICAS\s+IMAGE\n/);
    expect(ls.stdout).toMatch(/web\s+replicated\s+3\/3\s+busybox/);
    const ps = await h.shoal(['service', 'ps', 'web']);
    expect(ps.code, ps.stderr).toBe(0);
    expect(ps.stdout).toMatch(/^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR\n/);
    expect(ps.stdout.split('\n').filter((l) => /web\.\d\s+busybox\s+(alpha|beta|gamma)\s+running\s+running .* ago/.test(l))).toHaveLength(3);
    const json = await h.shoal(['service', 'ls', '--format', 'json']);
    const parsed = JSON.parse(json.stdout) as { spec: { annotations: { name: string } }; replicas: string }[];
    expect(parsed.map((s) => [s.spec.annotations.name, s.replicas])).toEqual([['web', '3/3']]);
    const inspect = await h.shoal(['service', 'inspect', 'web']);
    expect((JSON.parse(inspect.stdout) as { spec: { mode: unknown } }[])[0]!.spec).toMatchObject({ replicated: { replicas: 3 } });
  });

  it('scale waits for the new count; --detach returns at once', async () => {
    const r = await h.shoal(['service', 'scale', 'web=1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/web scaled to 1\n[\s\S]*web: 1\/1 running/);
    expect(running('web')).toBe(1);
    h.control.pauseAgent();
    const d = await h.shoal(['service', 'create', '--detach', '--name', 'idle', '--replicas', '2', 'busybox']);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout.trim()).toMatch(/^[0-9a-z]{25}$/);
  });

  it('takes everything after the image as the container command, options included (as docker service create)', async () => {
    const spec = (name: string) => h.control.store.view((tx) => tx.services.find('name', name)[0]!.spec!.task!.container!);
    const a = await h.shoal(['service', 'create', '-d', '--name', 'argsa', 'busybox', 'sh', '-c', 'echo hi', '--name', 'x', '-e', 'A=1']);
    expect(a.code, a.stderr).toBe(0);
    expect(spec('argsa')).toMatchObject({ command: [], args: ['sh', '-c', 'echo hi', '--name', 'x', '-e', 'A=1'], env: [] });
    // the older spelling with -- before the command
    const b = await h.shoal(['service', 'create', '-d', '--name', 'argsb', 'busybox', '--', 'ls', '-l']);
    expect(b.code, b.stderr).toBe(0);
    expect(spec('argsb').args).toEqual(['ls', '-l']);
    const rm = await h.shoal(['service', 'rm', 'argsa', 'argsb']);
    expect(rm.code, rm.stderr).toBe(0);
  });

  it('shows why tasks are stuck pending and gives up after --wait-timeout', async () => {
    const r = await h.shoal(['service', 'create', '--name', 'big', '--reserve-memory', '1000G', '--wait-timeout', '3s', 'busybox']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/big\.1 {2}pending: .*memory/i);
    expectOneLineError(r, /big: 0\/1 tasks running after 3s; the cluster keeps trying/);
  });

  it('rm removes services; errors are one line and exit 1, with state unchanged', async () => {
    const rm = await h.shoal(['service', 'rm', 'idle', 'big']);
    expect(rm.code, rm.stderr).toBe(0);
    const v = h.control.store.version;
    expectOneLineError(await h.shoal(['service', 'create', '--name', 'x', '--constraint', 'node.colour==red', 'busybox']), /invalid placement constraint "node.colour==red": unknown field/);
    expectOneLineError(await h.shoal(['service', 'create', '--name', 'x', '--replicas', '-1', 'busybox']), /--replicas must be a whole number >= 0, got -1/);
    expectOneLineError(await h.shoal(['service', 'create', '--name', 'x', '--mode', 'global', '--replicas', '2', 'busybox']), /--replicas applies to replicated services only/);
    expectOneLineError(await h.shoal(['service', 'create', '--name', 'x', '']), /needs an image/);
    expectOneLineError(await h.shoal(['service', 'scale', 'nope=2']), /service "nope" not found/);
    expectOneLineError(await h.shoal(['service', 'create', '--name', 'web', 'busybox']), /a service named "web" already exists/);
    expectOneLineError(await h.shoal(['service', 'logs', 'web']), /needs the log stream/);
    expect(h.control.store.version).toBe(v);
    expect(h.control.store.view((tx) => tx.services.all().map((s) => s.spec!.annotations!.name))).toEqual(['web']);
  });

  it('ps shows a slot\'s older tasks under the current one', async () => {
    // The fake agent is paused by now: tasks stop at ASSIGNED, so create detaches.
    const c = await h.shoal(['service', 'create', '--detach', '--name', 'flaky', '--restart-delay', '0s', 'busybox']);
    expect(c.code, c.stderr).toBe(0);
    await h.control.store.update((tx) => {
      const s = tx.services.find('name', 'flaky')[0]!;
      const t = tx.tasks.find('service', s.id)[0]!;
      tx.tasks.update({ ...t, status: TaskStatus.fromPartial({ state: TaskState.FAILED, err: 'exit code 3', timestampMs: BigInt(Date.now()) }) });
    });
    const assigned = (): number =>
      h.control.store.view((tx) => tx.tasks.find('service', tx.services.find('name', 'flaky')[0]!.id).filter((t) => t.status?.state === TaskState.ASSIGNED).length);
    for (let i = 0; i < 500 && assigned() !== 1; i++) await new Promise((r) => setTimeout(r, 20));
    const ps = await h.shoal(['service', 'ps', 'flaky']);
    const lines = ps.stdout.trim().split('\n').slice(1);
    expect(lines, ps.stdout).toHaveLength(2);
    expect(lines[0]).toMatch(/^\S+\s+flaky\.1\s+busybox\s+\S+\s+running\s+assigned/);
    expect(lines[1]).toMatch(/^\S+\s+\\_ flaky\.1\s+busybox\s+\S+\s+shutdown\s+failed .* ago\s+exit code 3$/);
  });

  it('says clearly when the daemon is not running', async () => {
    const r = await h.shoal(['service', 'ls'], { SHOAL_RUN: `${h.run}/nowhere` });
    expectOneLineError(r, /^shoal: cannot reach the shoal daemon at unix:\/\/.*\/nowhere\/shoal\.sock: is `shoal daemon` running\?/);
  });
});
