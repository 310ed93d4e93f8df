// `down` with real containers in a host (the runtime of agent/runtime, the busybox test image):
// a running one and an exited one that was never removed; nothing of either may be left.
import { existsSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Lab } from '../../deploy/lab/lab.js';
import { testImagePath } from '../helpers/images.js';
import { alive, mountPoints, residueOf, tempDirs } from './lab-helpers.js';

const NAME = 'shoaltl-ctr';
const dirs = tempDirs('ctr');
const repo = join(import.meta.dirname, '../..');
// The fixture's runtime uses the default cgroup parent `shoal` on purpose (down must find such
// containers through their records); the parent itself is this test's to remove if it made it.
const DEFAULT_PARENT = 'shoal';
const defaultParentBefore = cgroupDirs(DEFAULT_PARENT).length > 0;

afterAll(async () => {
  try {
    await Lab.down(NAME, { ...dirs, graceMs: 0 });
    expect(residueOf(NAME, dirs)).toEqual([]);
  } finally {
    dirs.cleanup();
    if (!defaultParentBefore) {
      for (const d of cgroupDirs(DEFAULT_PARENT)) {
        try {
          rmdirSync(d); // empty once down removed the containers' cgroups; refused otherwise
        } catch {}
      }
    }
  }
  if (!defaultParentBefore) expect(cgroupDirs(DEFAULT_PARENT)).toEqual([]);
});

/** Every directory of that cgroup name in any hierarchy. */
function cgroupDirs(name: string): string[] {
  const roots = readdirSync('/sys/fs/cgroup', { withFileTypes: true }).filter((e) => e.isDirectory());
  return roots.map((r) => join('/sys/fs/cgroup', r.name, name)).filter((d) => existsSync(d));
}

describe('lab down with containers in a host', () => {
  it('stops running containers (even one whose shim died) and removes their cgroups, and those of exited ones', async () => {
    const lab = await Lab.up({ name: NAME, hosts: 1, ...dirs });
    const fixture = join(import.meta.dirname, 'fixtures', 'host-containers.ts');
    const r = await lab.exec('h1', ['npx', 'tsx', fixture, testImagePath('busybox')], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { id: string; pid: number; cgroups: string[]; exitCode: number };
    expect(out.exitCode).toBe(0);
    expect(alive(out.pid)).toBe(true);
    // Its shim dies: the container's init is re-parented, in namespaces of its own; only its
    // cgroup still leads to it.
    const shimPid = Number(readFileSync(join(lab.hosts[0]!.run, 'containers', out.id, 'shim.pid'), 'utf8'));
    process.kill(shimPid, 'SIGKILL');
    for (let i = 0; i < 200 && alive(shimPid); i++) await sleep(10);
    expect(alive(shimPid)).toBe(false);
    expect(alive(out.pid)).toBe(true);
    for (const cg of out.cgroups) expect(cgroupDirs(cg).length).toBeGreaterThan(0);

    // `shoal container run -d` in the host: its cgroup goes under the host's SHOAL_CGROUP_PARENT
    const run = await lab.exec('h1', ['npx', 'tsx', join(repo, 'cli/main.ts'), 'container', 'run', '-d', '--memory', '32m', 'busybox', 'sleep', '600'], { cwd: repo, timeoutMs: 60_000 });
    expect(run.code, run.stderr).toBe(0);
    const id = run.stdout.trim().split('\n').at(-1)!;
    const parent = lab.hosts[0]!.cgroupParent;
    expect(parent).toBe(`shoal-${NAME}-h1`);
    expect(cgroupDirs(`${parent}/${id}`).length).toBeGreaterThan(0);

    const report = await lab.down({ graceMs: 500 });
    expect(report.residue).toEqual([]);
    expect(alive(out.pid)).toBe(false);
    for (const cg of out.cgroups) expect(cgroupDirs(cg)).toEqual([]);
    expect(cgroupDirs(parent)).toEqual([]);
    expect(mountPoints().filter((m) => m.startsWith(dirs.base))).toEqual([]);
    expect(residueOf(NAME, dirs)).toEqual([]);
  });
});
