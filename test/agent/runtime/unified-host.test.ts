// The runtime over a pure cgroup2 manager. This host is hybrid, so the cgroup layer is pointed
// at the unified mount (no controllers there: no limits, but membership, namespace and kill
// work as on a v2 host).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ContainerRuntime } from '../../../agent/runtime/index.js';
import { detectCgroups } from '../../../agent/runtime/cgroups/index.js';
import { collect, leftoverCgroups, makeBusyboxLayer } from './helpers.js';

const unified = '/sys/fs/cgroup/unified';
const hasUnified = existsSync(join(unified, 'cgroup.procs'));
const parent = `shoalrt-v2-${process.pid}`;
let root: string;
let rt: ContainerRuntime;
let layer: string;
const cgroups = hasUnified ? detectCgroups({ root: unified, logger: pino({ level: 'warn' }) }) : null;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'shoalrt-v2-'));
  layer = makeBusyboxLayer(join(root, 'layer'));
  if (cgroups) {
    // as on a v2 host: no v1 devices cgroup, device access goes through the BPF filter
    rt = new ContainerRuntime({ stateDir: join(root, 'state'), cgroupParent: parent, cgroups, logger: pino({ level: 'error' }), deviceControl: 'bpf' });
  }
});
afterAll(async () => {
  if (rt) for (const c of await rt.list()) await rt.remove(c.id, { force: true }).catch(() => undefined);
  await cgroups?.open(parent)?.remove();
  rmSync(root, { recursive: true, force: true });
  expect(leftoverCgroups(parent)).toEqual([]);
});

describe.skipIf(!hasUnified)('runtime on a cgroup2 manager', () => {
  it('puts the container in its v2 cgroup, shows it as / through cgroup2, and stops it with the cgroup kill', async () => {
    expect(cgroups!.version).toBe('v2');
    const c = await rt.run({ rootfs: { layers: [layer] }, args: ['/bin/sh', '-c', 'cat /proc/self/cgroup | grep "^0::"; grep " /sys/fs/cgroup/unified " /proc/self/mountinfo; exec sleep 100'] });
    for (let i = 0; i < 100 && (await collect(rt.logs(c.id))).length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    const out = (await collect(rt.logs(c.id))).map((l) => l.text).join('');
    expect(out).toMatch(/^0::\/\n/);
    // the host mounts cgroup2 at /sys/fs/cgroup/unified, so the container sees it there too
    expect(out).toMatch(/ \/sys\/fs\/cgroup\/unified ro,.* - cgroup2 /);
    expect((await rt.stats(c.id)).pids).toBe(1);
    const exit = await rt.stop(c.id, { graceMs: 100 });
    expect(exit?.signal).toBe('SIGKILL');
    await rt.remove(c.id);
    expect(cgroups!.open(`${parent}/${c.id}`)).toBeNull();
  });

  it('limits device access with the BPF filter: nodes may be made, only the standard ones opened', async () => {
    const c = await rt.run({
      rootfs: { layers: [layer] },
      args: ['/bin/sh', '-c', 'mknod /tmp/shoalrt-fuse c 10 229 && echo made; (exec 3</tmp/shoalrt-fuse) && echo opened; head -c 1 /dev/zero | wc -c; echo x > /dev/null && echo null-ok'],
    });
    await rt.wait(c.id);
    const logs = await collect(rt.logs(c.id));
    await rt.remove(c.id);
    expect(logs.filter((l) => l.stream === 'stdout').map((l) => l.text).join('')).toBe('made\n1\nnull-ok\n');
    expect(logs.filter((l) => l.stream === 'stderr').map((l) => l.text).join('')).toMatch(/Operation not permitted/);
  });
});
