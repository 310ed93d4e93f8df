// Bind and tmpfs mounts, and the failure paths of bad mount or command input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { collect, leftoverCgroups, leftoverMounts, makeFixture, type Fixture } from './helpers.js';
import type { ContainerSpec } from '../../../agent/runtime/index.js';

let fx: Fixture;
beforeAll(() => {
  fx = makeFixture('mnt');
});
afterAll(async () => {
  await fx.cleanup();
  expect(leftoverCgroups(fx.cgroupParent)).toEqual([]);
  expect(leftoverMounts(fx.root)).toEqual([]);
});

async function sh(script: string, extra: Partial<ContainerSpec> = {}) {
  const c = await fx.runtime.run({ rootfs: { layers: [fx.layer] }, args: ['/bin/sh', '-c', script], ...extra });
  const exit = await fx.runtime.wait(c.id);
  const logs = await collect(fx.runtime.logs(c.id));
  await fx.runtime.remove(c.id);
  return { code: exit.code, out: logs.map((l) => l.text).join('') };
}

function containerDirs(): string[] {
  return existsSync(fx.stateDir) ? readdirSync(fx.stateDir).filter((e) => /^[0-9a-f]{64}$/.test(e)) : [];
}

describe('mounts', () => {
  it('binds host dirs read-write and read-only, and single files', async () => {
    const rw = join(fx.root, 'rw');
    const ro = join(fx.root, 'ro');
    mkdirSync(rw);
    mkdirSync(ro);
    writeFileSync(join(ro, 'data'), 'from-host\n');
    writeFileSync(join(fx.root, 'single'), 'one-file\n');
    const r = await sh('echo written > /data/rw/out; cat /data/ro/data; echo no > /data/ro/x; echo rc=$?; cat /etc/single', {
      mounts: [
        { type: 'bind', source: rw, target: '/data/rw' },
        { type: 'bind', source: ro, target: '/data/ro', readOnly: true },
        { type: 'bind', source: join(fx.root, 'single'), target: '/etc/single', readOnly: true },
      ],
    });
    expect(readFileSync(join(rw, 'out'), 'utf8')).toBe('written\n');
    expect(r.out).toContain('from-host');
    expect(r.out).toContain('rc=1');
    expect(r.out).toContain('one-file');
    expect(existsSync(join(ro, 'x'))).toBe(false);
  });

  it('resolves mount targets inside the container root, never through a symlink to the host', async () => {
    const hostDir = join(fx.root, 'victim');
    mkdirSync(hostDir);
    const evil = join(fx.root, 'evil-layer');
    mkdirSync(evil);
    symlinkSync(hostDir, join(evil, 'escape'));
    const src = join(fx.root, 'src');
    mkdirSync(src);
    // inside the container the link dangles, so the start fails: the host dir must stay empty
    for (const m of [{ type: 'bind' as const, source: src, target: '/escape/m' }, { type: 'tmpfs' as const, target: '/escape/t' }]) {
      await expect(fx.runtime.run({ rootfs: { layers: [fx.layer, evil] }, args: ['/bin/true'], mounts: [m] })).rejects.toThrow(
        /escape.*No such file/,
      );
    }
    expect(readdirSync(hostDir)).toEqual([]);
  });

  it('stacks many layers under long paths, top-most last in the list winning', async () => {
    // 70 layers of ~120-byte paths: past the one-page limit of mount(2) options
    const layers = [fx.layer];
    for (let i = 0; i < 70; i++) {
      const dir = join(fx.root, 'many', `${'l'.repeat(100)}-${String(i).padStart(3, '0')}`);
      mkdirSync(join(dir, 'etc'), { recursive: true });
      writeFileSync(join(dir, 'etc', 'layer'), `${i}\n`);
      writeFileSync(join(dir, 'etc', `only-${i}`), '');
      layers.push(dir);
    }
    expect(layers.join(':').length).toBeGreaterThan(4096);
    const c = await fx.runtime.run({ rootfs: { layers }, args: ['/bin/sh', '-c', 'cat /etc/layer; ls /etc | grep -c "^only-"'] });
    await fx.runtime.wait(c.id);
    const out = (await collect(fx.runtime.logs(c.id))).map((l) => l.text).join('');
    await fx.runtime.remove(c.id);
    expect(out).toBe('69\n70\n');
  });

  it('mounts tmpfs with the given options', async () => {
    const r = await sh('grep " /scratch " /proc/self/mountinfo', { mounts: [{ type: 'tmpfs', target: '/scratch', options: 'size=2m,mode=1777' }] });
    expect(r.out).toMatch(/ \/scratch rw,nosuid,nodev,noexec.* tmpfs .*size=2048k/);
  });

  it('refuses a missing bind source before creating anything', async () => {
    const spec: ContainerSpec = { rootfs: { layers: [fx.layer] }, args: ['/bin/true'], mounts: [{ type: 'bind', source: join(fx.root, 'nope'), target: '/x' }] };
    await expect(fx.runtime.create(spec)).rejects.toMatchObject({ userError: true, message: expect.stringMatching(/bind mount source .*nope does not exist/) });
    expect(containerDirs()).toEqual([]);
    expect(leftoverCgroups(fx.cgroupParent).filter((d) => readdirSync(d).some((e) => /^[0-9a-f]{64}$/.test(e)))).toEqual([]);
  });

  it('reports a command missing from the image and cleans up', async () => {
    const c = await fx.runtime.create({ rootfs: { layers: [fx.layer] }, args: ['no-such-cmd'] });
    await expect(fx.runtime.start(c.id)).rejects.toMatchObject({ userError: true, message: expect.stringMatching(/no-such-cmd not found in \$PATH/) });
    expect((await fx.runtime.inspect(c.id)).state).toBe('created');
    expect(leftoverMounts(c.id)).toEqual([]);
    await fx.runtime.remove(c.id);
    expect(containerDirs()).toEqual([]);
    await expect(fx.runtime.run({ rootfs: { layers: [fx.layer] }, args: ['/bin/nope'] })).rejects.toThrow(/\/bin\/nope not found/);
    expect(containerDirs()).toEqual([]);
  });

  it('reports a mount the kernel refuses, with nothing left behind', async () => {
    await expect(
      fx.runtime.run({ rootfs: { layers: [fx.layer] }, args: ['/bin/true'], mounts: [{ type: 'tmpfs', target: '/t', options: 'size=banana' }] }),
    ).rejects.toMatchObject({ userError: true, message: expect.stringMatching(/mount tmpfs on \/t: Invalid argument/) });
    expect(containerDirs()).toEqual([]);
    expect(leftoverMounts(fx.root)).toEqual([]);
  });

  it('reports a bad working directory', async () => {
    await expect(fx.runtime.run({ rootfs: { layers: [fx.layer] }, args: ['/bin/true'], cwd: '/does/not/exist' })).rejects.toThrow(
      /working directory \/does\/not\/exist/,
    );
    expect(containerDirs()).toEqual([]);
  });

  it('refuses bad env, relative targets and missing layers', async () => {
    const base = { rootfs: { layers: [fx.layer] }, args: ['/bin/true'] };
    await expect(fx.runtime.create({ ...base, env: ['NOEQUALS'] })).rejects.toThrow(/KEY=VALUE/);
    await expect(fx.runtime.create({ ...base, mounts: [{ type: 'tmpfs', target: 'rel' }] })).rejects.toThrow(/absolute/);
    await expect(fx.runtime.create({ ...base, rootfs: { layers: [join(fx.root, 'gone')] } })).rejects.toThrow(/does not exist/);
    expect(containerDirs()).toEqual([]);
  });
});
