// Hardening that must hold inside every container: capabilities, no_new_privs, seccomp,
// masked and read-only kernel paths, read-only rootfs, non-root users.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerSpec } from '../../../agent/runtime/index.js';
import { collect, leftoverCgroups, makeFixture, type Fixture } from './helpers.js';
import { devicesMount } from '../../../agent/runtime/devices.js';

let fx: Fixture;
beforeAll(() => {
  fx = makeFixture('sec');
});
afterAll(async () => {
  await fx.cleanup();
  expect(leftoverCgroups(fx.cgroupParent)).toEqual([]);
});

async function sh(script: string, extra: Partial<ContainerSpec> = {}) {
  const c = await fx.runtime.run({ rootfs: { layers: [fx.layer] }, args: ['/bin/sh', '-c', script], ...extra });
  const exit = await fx.runtime.wait(c.id);
  const logs = await collect(fx.runtime.logs(c.id));
  await fx.runtime.remove(c.id);
  return {
    code: exit.code,
    out: logs.filter((l) => l.stream === 'stdout').map((l) => l.text).join(''),
    err: logs.filter((l) => l.stream === 'stderr').map((l) => l.text).join(''),
  };
}

// Docker's default set: chown dac_override fowner fsetid kill setgid setuid setpcap
// net_bind_service net_raw sys_chroot mknod audit_write setfcap
const DOCKER_CAPS = '00000000a80425fb';

describe('container hardening', () => {
  it('keeps only the default capabilities, clears ambient ones, sets no_new_privs', async () => {
    const r = await sh('grep -E "^(Cap|NoNewPrivs|Seccomp:)" /proc/self/status');
    expect(r.out).toContain(`CapEff:\t${DOCKER_CAPS}`);
    expect(r.out).toContain(`CapPrm:\t${DOCKER_CAPS}`);
    expect(r.out).toContain(`CapBnd:\t${DOCKER_CAPS}`);
    expect(r.out).toContain('CapAmb:\t0000000000000000');
    expect(r.out).toContain('NoNewPrivs:\t1');
    expect(r.out).toContain('Seccomp:\t2');
  });

  it('cannot create network links (no CAP_NET_ADMIN)', async () => {
    const r = await sh('ip link add shoalrt0 type dummy; echo rc=$?');
    expect(r.out).toContain('rc=2');
    expect(r.err).toMatch(/Operation not permitted/);
  });

  it('seccomp refuses unshare with EPERM (user namespaces need no capability, so only the filter stops it)', async () => {
    const r = await sh('unshare -U true; echo rc=$?');
    expect(r.out).not.toContain('rc=0');
    expect(r.err).toMatch(/Operation not permitted/);
  });

  it('masks kernel files and makes /proc/sys read-only', async () => {
    const r = await sh(
      'wc -c < /proc/keys; wc -c < /proc/timer_list; ls /sys/firmware | wc -l; ' +
        'echo shoalrt > /proc/sys/kernel/domainname; echo rc=$?; grep " /proc/sys " /proc/self/mountinfo',
    );
    const lines = r.out.split('\n');
    expect(lines.slice(0, 3).map((l) => l.trim())).toEqual(['0', '0', '0']);
    expect(r.out).toContain('rc=1');
    expect(r.out).toMatch(/ \/proc\/sys ro,/);
    expect(r.err).toMatch(/Read-only file system/);
  });

  it('mounts /dev with the standard nodes, ptmx and pts', async () => {
    const r = await sh('ls /dev | tr "\\n" " "; echo; ls -l /dev/ptmx; head -c 4 /dev/zero | wc -c; echo ok > /dev/null');
    for (const n of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'ptmx', 'pts', 'shm', 'mqueue', 'fd', 'stdin', 'stdout', 'stderr']) {
      expect(r.out.split('\n')[0]!.split(' ')).toContain(n);
    }
    expect(r.out).toMatch(/ptmx -> pts\/ptmx/);
    expect(r.code).toBe(0);
  });

  it.skipIf(devicesMount() === null)('may create device nodes but not open them beyond the standard set (v1 devices cgroup)', async () => {
    // /dev/fuse (10:229) opens for any root process that has a node for it, unless the cgroup says no
    const r = await sh('mknod /tmp/shoalrt-fuse c 10 229 && echo made; (exec 3</tmp/shoalrt-fuse) && echo opened; head -c 1 /dev/zero | wc -c');
    expect(r.out).toBe('made\n1\n');
    expect(r.err).toMatch(/Operation not permitted/);
  });

  it('read-only rootfs refuses writes except on tmpfs mounts', async () => {
    const r = await sh('touch /etc/x; echo rc=$?; touch /scratch/y && echo tmpfs-ok', {
      readOnly: true,
      mounts: [{ type: 'tmpfs', target: '/scratch', options: 'size=1m' }],
    });
    expect(r.out).toContain('rc=1');
    expect(r.out).toContain('tmpfs-ok');
  });

  it('runs as a named user with its groups and no effective capabilities', async () => {
    const r = await sh('id -u; id -g; id -G; grep CapEff /proc/self/status', { user: 'app' });
    const [uid, gid, groups, capEff] = r.out.split('\n');
    expect(uid).toBe('1000');
    expect(gid).toBe('1000');
    expect(groups!.split(' ')).toContain('2000');
    expect(capEff).toBe('CapEff:\t0000000000000000');
    const n = await sh('id -u; id -g', { user: '4242:4343' });
    expect(n.out).toBe('4242\n4343\n');
  });

  it('refuses an unknown user name with a clear error and no residue', async () => {
    const before = (await fx.runtime.list()).length;
    await expect(sh('true', { user: 'nosuchuser' })).rejects.toMatchObject({ userError: true, message: expect.stringMatching(/nosuchuser/) });
    expect((await fx.runtime.list()).length).toBe(before);
  });
});
