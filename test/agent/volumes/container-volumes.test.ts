// Named volumes in real containers: data written by one task is read by the next task on the
// same volume after the first was removed; a new volume starts with the image's files at the
// target (copy-up) unless volume_no_copy; read_only is honoured; a volume is not removed while a
// container mounts it; bad names are REJECTED before anything is made; a mount that names no
// volume gets one of the task's own, removed with it.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mount, Mount_Type, TaskState } from '../../../proto/gen/types.js';
import { anonymousVolumeName, LABEL_ANONYMOUS_VOLUME, taskContainers } from '../../../agent/executor/index.js';
import { VolumeInUseError } from '../../../agent/volumes/index.js';
import { makeHarness, type Harness } from '../secrets/harness.js';
import { loadSeedImage } from './image.js';

let h: Harness;
let seedImage: string;
beforeAll(async () => {
  h = await makeHarness('vols');
  seedImage = await loadSeedImage(h.fx.images, h.fx.root);
});
afterAll(async () => {
  expect(await h.fx.cleanup()).toEqual([]);
});

const volume = (source: string, target: string, extra: Partial<Mount> = {}): Mount => Mount.fromPartial({ type: Mount_Type.VOLUME, source, target, ...extra });

describe('named volumes in a container', () => {
  it('keeps what task 1 wrote for task 2 on the same node, after task 1 is gone', async () => {
    const t1 = h.task({ args: ['sh', '-c', 'echo from-task-1 > /data/hello && ls /data'], mounts: [volume('shoalsa-keep', '/data', { volumeLabels: { app: 'web' } })] });
    const r1 = await h.runToEnd(t1);
    expect(r1.status).toMatchObject({ state: TaskState.COMPLETE, exitCode: 0 });
    expect(r1.output).toBe('hello\n');
    await r1.ctl.remove();
    expect((await taskContainers(h.fx.runtime)).has(t1.id)).toBe(false);
    expect(h.volumes.inspect('shoalsa-keep')?.labels).toEqual({ app: 'web' });

    const t2 = h.task({ args: ['cat', '/srv/hello'], mounts: [volume('shoalsa-keep', '/srv')] });
    const r2 = await h.runToEnd(t2);
    expect(r2.status.state).toBe(TaskState.COMPLETE);
    expect(r2.output).toBe('from-task-1\n');
    await r2.ctl.remove();
  });

  it("starts a new volume with the image's files at the target, and not with volume_no_copy", async () => {
    const t = h.task({ image: seedImage, args: ['sh', '-c', 'ls /seed; stat -c "%a %u" /seed/c.txt; cat /seed/b.txt; echo'], mounts: [volume('shoalsa-copied', '/seed')] });
    const r = await h.runToEnd(t);
    expect(r.status.state).toBe(TaskState.COMPLETE);
    expect(r.output).toBe('b.txt\nc.txt\n600 1234\nb\n');
    expect(readdirSync(h.volumes.dataPath('shoalsa-copied')).sort()).toEqual(['b.txt', 'c.txt']);
    await r.ctl.remove();

    const bare = h.task({ image: seedImage, args: ['ls', '-a', '/seed'], mounts: [volume('shoalsa-nocopy', '/seed', { volumeNoCopy: true })] });
    const rb = await h.runToEnd(bare);
    expect(rb.output).toBe('.\n..\n');
    await rb.ctl.remove();
  });

  it('mounts a read-only volume read-only', async () => {
    const t = h.task({ args: ['sh', '-c', 'cat /ro/hello; (echo x > /ro/new) 2>/dev/null && echo written || echo read-only'], mounts: [volume('shoalsa-keep', '/ro', { readOnly: true })] });
    const r = await h.runToEnd(t);
    expect(r.output).toBe('from-task-1\nread-only\n');
    expect(existsSync(join(h.volumes.dataPath('shoalsa-keep'), 'new'))).toBe(false);
    await r.ctl.remove();
  });

  it('refuses to remove a volume that a container mounts, and removes it once unused', async () => {
    // sleep as pid 1 ignores SIGTERM: a short grace keeps the test quick
    const t = h.task({ args: ['sleep', '1000'], stopGracePeriod: { nanos: 200_000_000n }, mounts: [volume('shoalsa-busy', '/busy')] });
    const ctl = h.controller(t);
    const running = await h.drive(t, ctl, t.status!, TaskState.RUNNING);
    expect(running.state).toBe(TaskState.RUNNING);
    const name = (await h.fx.runtime.inspect(running.containerId)).name;
    const err = await h.volumes.remove('shoalsa-busy', await h.fx.runtime.list()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VolumeInUseError);
    expect((err as Error).message).toBe(`volume shoalsa-busy is in use by container ${name}: remove it first`);
    await ctl.shutdown();
    await ctl.remove();
    await h.volumes.remove('shoalsa-busy', await h.fx.runtime.list());
    expect(h.volumes.inspect('shoalsa-busy')).toBeUndefined();
  });

  it('rejects a volume name that could leave the volumes directory, making nothing', async () => {
    const before = h.volumes.list().map((v) => v.name);
    const bad = await h.runToEnd(h.task({ args: ['true'], mounts: [volume('../../etc', '/x')] }));
    expect(bad.status.state).toBe(TaskState.REJECTED);
    expect(bad.status.err).toMatch(/^mount of \/x: invalid volume name "..\/..\/etc"/);
    expect(h.volumes.list().map((v) => v.name)).toEqual(before);
  });

  it("gives a mount without a volume name a volume of the task's own (copied up), removed with the task", async () => {
    const t = h.task({ image: seedImage, args: ['sh', '-c', 'ls /opq; echo more > /opq/z.txt'], mounts: [volume('', '/opq')] });
    const r = await h.runToEnd(t);
    expect(r.status.state).toBe(TaskState.COMPLETE);
    expect(r.output).toBe('y.txt\n');
    const anon = h.volumes.list().filter((v) => v.labels[LABEL_ANONYMOUS_VOLUME] === t.id);
    expect(anon.map((v) => v.name)).toEqual([anonymousVolumeName(t.id, 0)]);
    expect(readdirSync(anon[0]!.mountpoint).sort()).toEqual(['y.txt', 'z.txt']);
    await r.ctl.remove();
    expect(h.volumes.inspect(anon[0]!.name)).toBeUndefined();
    // named volumes stay
    expect(h.volumes.inspect('shoalsa-keep')).toBeDefined();
  });
});
