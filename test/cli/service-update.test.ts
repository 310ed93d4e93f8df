// `shoal service update|rollback`: the real CLI process against a control API on a unix socket,
// with the real orchestrators, scheduler and updater, and a fake agent running the tasks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceSpec, TaskState, TaskStatus, UpdateStatus_State } from '../../proto/gen/types.js';
import { applyTaskStatus } from '../../manager/store/index.js';
import { withConnection } from '../../cli/client/index.js';
import { applyUpdateFlags, writeService } from '../../cli/commands/service-update.js';
import { expectOneLineError, startCli, type CliHarness } from './service-harness.js';

let h: CliHarness;
const ac = new AbortController();
beforeAll(async () => {
  h = await startCli();
  // tasks of the image "busybox:bad" exit 1 as soon as they run (an image whose command fails)
  void (async () => {
    for await (const e of h.control.store.watch({ signal: ac.signal, filter: (ev) => ev.kind === 'task' })) {
      if (e.type !== 'commit') continue;
      await h.control.store
        .update((tx) => {
          for (const t of tx.tasks.all()) {
            if (t.spec?.container?.image === 'busybox:bad' && t.status?.state === TaskState.RUNNING && t.desiredState === TaskState.RUNNING) {
              applyTaskStatus(tx, t.id, TaskStatus.fromPartial({ state: TaskState.FAILED, timestampMs: BigInt(Date.now()), err: 'task: non-zero exit (1)' }));
            }
          }
        })
        .catch(() => undefined);
    }
  })().catch(() => undefined);
});
afterAll(async () => {
  ac.abort();
  await h?.close();
});

const service = (name: string) => h.control.store.view((tx) => tx.services.find('name', name)[0]!);
const liveImages = (name: string): string[] =>
  h.control.store.view((tx) =>
    tx.tasks
      .find('service', service(name).id)
      .filter((t) => t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING)
      .map((t) => t.spec!.container!.image)
      .sort(),
  );

describe('shoal service update', () => {
  it('replaces every task with the new image, showing progress, and completes', async () => {
    const c = await h.shoal(['service', 'create', '--name', 'web', '--replicas', '4', 'busybox:1', 'sleep', '1000']);
    expect(c.code, c.stderr).toBe(0);
    const r = await h.shoal(['service', 'update', '--image', 'busybox:2', '--update-parallelism', '2', '--update-monitor', '100ms', '--env-add', 'A=1', 'web']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/web: updated 4\/4/);
    expect(r.stdout).toMatch(/update completed/);
    expect(liveImages('web')).toEqual(['busybox:2', 'busybox:2', 'busybox:2', 'busybox:2']);
    const s = service('web');
    expect(s.updateStatus?.state).toBe(UpdateStatus_State.COMPLETED);
    expect(s.spec!.update).toMatchObject({ parallelism: 2, monitor: { nanos: 100_000_000n } });
    expect(s.spec!.task!.container!.env).toEqual(['A=1']);
  });

  it('rollback goes back to the previous image and ends with the rollback completed', async () => {
    const r = await h.shoal(['service', 'rollback', 'web']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/rollback completed/);
    expect(liveImages('web')).toEqual(['busybox:1', 'busybox:1', 'busybox:1', 'busybox:1']);
    expect(service('web').updateStatus?.state).toBe(UpdateStatus_State.ROLLBACK_COMPLETED);
  });

  it('a failing image with failure action rollback exits 1 and leaves the old spec running', async () => {
    const r = await h.shoal(['service', 'update', '--image', 'busybox:bad', '--update-failure-action', 'rollback', '--update-monitor', '1s', '--rollback-monitor', '100ms', 'web']);
    expectOneLineError(r, /web: the update failed and was rolled back/);
    expect(service('web').spec!.task!.container!.image).toBe('busybox:1');
    // the slot whose new task failed gets its old-spec task back after the restart delay
    await expect.poll(() => liveImages('web'), { timeout: 20_000, interval: 200 }).toEqual(['busybox:1', 'busybox:1', 'busybox:1', 'busybox:1']);
  });

  it('a failing image with failure action pause exits 1 naming the pause', async () => {
    const r = await h.shoal(['service', 'update', '--image', 'busybox:bad', '--update-failure-action', 'pause', '--update-monitor', '1s', 'web']);
    expectOneLineError(r, /web: update paused: .*non-zero exit \(1\)/);
    expect(service('web').updateStatus?.state).toBe(UpdateStatus_State.PAUSED);
  });

  it('a replicas-only change replaces nothing and returns once converged', async () => {
    await h.shoal(['service', 'update', '--image', 'busybox:1', '--update-monitor', '100ms', 'web']);
    const r = await h.shoal(['service', 'update', '--replicas', '2', 'web']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/web: converged/);
    expect(liveImages('web')).toHaveLength(2);
  });

  it('a stale version is one clear error', async () => {
    const before = service('web');
    await h.control.store.update((tx) => {
      const s = tx.services.get(before.id)!;
      tx.services.update({ ...s, spec: { ...s.spec!, annotations: { name: 'web', labels: { touched: '1' } } } });
    });
    const prev = process.env.SHOAL_RUN;
    process.env.SHOAL_RUN = h.run;
    try {
      const spec = applyUpdateFlags(before.spec as ServiceSpec, { labelAdd: ['x=1'] });
      await expect(withConnection({}, (c) => writeService(c, before as never, spec, false))).rejects.toThrow(/^service web changed meanwhile, run again$/);
    } finally {
      process.env.SHOAL_RUN = prev;
    }
  });

  it('flags are checked before anything is written', async () => {
    expectOneLineError(await h.shoal(['service', 'update', '--update-order', 'sideways', 'web']), /--update-order is stop-first, start-first, not "sideways"/);
    expectOneLineError(await h.shoal(['service', 'update', '--no-healthcheck', '--health-cmd', 'true', 'web']), /--no-healthcheck conflicts/);
    expectOneLineError(await h.shoal(['service', 'update', '--image', 'x', 'nosuch']), /nosuch/);
  });
});

describe('applyUpdateFlags', () => {
  const base = ServiceSpec.fromPartial({
    annotations: { name: 's', labels: { a: '1' } },
    task: { container: { image: 'i', env: ['A=1', 'B=2'] }, placement: { constraints: ['node.role==worker'] } },
    mode: { $case: 'replicated', value: { replicas: 1 } },
  });
  it('adds, replaces and removes; leaves the input alone', () => {
    const s = applyUpdateFlags(base, {
      envAdd: ['A=9'], envRm: ['B'], labelRm: ['a'], labelAdd: ['b=2'], constraintRm: ['node.role==worker'], constraintAdd: ['node.labels.z==1'],
      limitMemory: '64M', healthCmd: 'true', healthRetries: '2', restartCondition: 'none', rollbackParallelism: '3', force: true,
    });
    expect(s.task!.container!.env).toEqual(['A=9']);
    expect(s.annotations!.labels).toEqual({ b: '2' });
    expect(s.task!.placement!.constraints).toEqual(['node.labels.z==1']);
    expect(s.task!.resources!.limits!.memoryBytes).toBe(64n << 20n);
    expect(s.task!.container!.healthcheck).toMatchObject({ test: ['CMD-SHELL', 'true'], retries: 2 });
    expect(s.rollback!.parallelism).toBe(3);
    expect(s.task!.forceUpdate).toBe(1n);
    expect(base.task!.container!.env).toEqual(['A=1', 'B=2']);
  });
});
