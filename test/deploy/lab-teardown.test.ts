// `down` and failed `up` remove exactly what the lab made: processes, namespaces, mounts,
// directories; and bad input is refused before anything is made.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Lab } from '../../deploy/lab/lab.js';
import { LabConfigError, LabUpError } from '../../deploy/lab/errors.js';
import { alive, netnsNames, residueOf, tempDirs } from './lab-helpers.js';

const dirs = tempDirs('down');
const made: string[] = []; // every lab name used here, for the safety net below

afterAll(async () => {
  try {
    for (const name of made) await Lab.down(name, { ...dirs, graceMs: 0 });
    for (const name of made) expect(residueOf(name, dirs)).toEqual([]);
  } finally {
    dirs.cleanup();
  }
});

function use(name: string): string {
  made.push(name);
  return name;
}

describe('lab down', () => {
  it('stops every process in the hosts and leaves nothing, twice', async () => {
    const name = use('shoaltl-down');
    const lab = await Lab.up({ name, hosts: 2, ...dirs });
    // One process ignores SIGTERM; its child is started in the background so that, once the
    // parent dies, the child is re-parented and only tracking finds it.
    const stubborn = lab.spawn('h1', ['sh', '-c', 'trap "" TERM; sleep 600 & echo $!; wait'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const plain = lab.spawn('h2', ['sleep', '600'], { stdio: 'ignore' });
    const childPid = await new Promise<number>((resolve) => stubborn.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
    expect(alive(stubborn.pid!)).toBe(true);
    expect(alive(childPid)).toBe(true);
    expect(alive(plain.pid!)).toBe(true);
    const hostDirs = lab.hosts.map((h) => h.root);

    const report = await lab.down({ graceMs: 300 });
    expect(report.residue).toEqual([]);
    expect(report.killed).toBeGreaterThanOrEqual(3);
    expect(alive(stubborn.pid!)).toBe(false);
    expect(alive(childPid)).toBe(false);
    expect(alive(plain.pid!)).toBe(false);
    expect(residueOf(name, dirs)).toEqual([]);
    for (const d of hostDirs) expect(existsSync(d)).toBe(false);
    expect(await Lab.list(dirs)).toEqual([]);

    const second = await Lab.down(name, dirs);
    expect(second).toEqual({ killed: 0, removed: 0, residue: [] });
  });

  it('removes the shoal cgroups its processes were in', async () => {
    const name = use('shoaltl-cg');
    const lab = await Lab.up({ name, hosts: 1, ...dirs });
    const cg = `/sys/fs/cgroup/pids/shoaltl-cg-${process.pid}`;
    mkdirSync(cg);
    try {
      const p = lab.spawn('h1', ['sh', '-c', `echo $$ > ${cg}/cgroup.procs && exec sleep 600`], { stdio: 'ignore' });
      for (let i = 0; i < 200 && readFileSync(`${cg}/cgroup.procs`, 'utf8').trim() === ''; i++) await sleep(10);
      expect(readFileSync(`${cg}/cgroup.procs`, 'utf8').trim()).toBe(String(p.pid));
      await lab.down({ graceMs: 0 });
      expect(alive(p.pid!)).toBe(false);
      expect(existsSync(cg)).toBe(false);
    } finally {
      if (existsSync(cg)) rmdirSync(cg);
    }
  });

  it('removes the cgroups of containers that exited in a host but were never removed', async () => {
    const name = use('shoaltl-cgrec');
    const lab = await Lab.up({ name, hosts: 1, ...dirs });
    const cgName = `shoaltl-ctr-${process.pid}/${'c1'.padEnd(64, '0')}`; // the runtime's <parent>/<id>
    const made = ['/sys/fs/cgroup/pids', '/sys/fs/cgroup/memory'].map((h) => join(h, cgName));
    try {
      for (const d of made) mkdirSync(d, { recursive: true });
      // the runtime's record (agent/runtime/state.ts) of an exited container
      const recordDir = join(lab.hosts[0]!.run, 'containers', 'c1');
      mkdirSync(recordDir, { recursive: true });
      writeFileSync(join(recordDir, 'container.json'), JSON.stringify({ id: 'c1', cgroup: cgName }));
      await lab.down({ graceMs: 0 });
      for (const d of made) expect(existsSync(d)).toBe(false);
      expect(residueOf(name, dirs)).toEqual([]);
    } finally {
      for (const d of made) for (const p of [d, dirname(d)]) if (existsSync(p)) rmdirSync(p);
    }
  });

  it('lists a lab whose host namespace was deleted by hand as degraded, and still removes it', async () => {
    const name = use('shoaltl-degr');
    const lab = await Lab.up({ name, hosts: 2, ...dirs });
    expect((await Lab.list(dirs)).find((l) => l.name === name)?.status).toBe('up');
    execFileSync('ip', ['netns', 'del', lab.hosts[1]!.netns]);
    expect((await Lab.list(dirs)).find((l) => l.name === name)?.status).toBe('degraded');
    expect((await lab.down()).residue).toEqual([]);
    expect(residueOf(name, dirs)).toEqual([]);
  });

  it('can be run from inside one of its own hosts without killing itself', async () => {
    const name = use('shoaltl-self');
    const lab = await Lab.up({ name, hosts: 2, ...dirs });
    const sleeper = lab.spawn('h2', ['sleep', '600'], { stdio: 'ignore' });
    const repo = join(import.meta.dirname, '../..');
    const env = { SHOAL_LAB_STATE_DIR: dirs.stateDir, SHOAL_LAB_DATA_DIR: dirs.dataDir };
    const r = await lab.exec('h1', ['npx', 'tsx', join(repo, 'cli/main.ts'), 'lab', 'down', '--name', name], { env, cwd: repo, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/removed/);
    expect(alive(sleeper.pid!)).toBe(false);
    expect(residueOf(name, dirs)).toEqual([]);
  });

  it('refuses to guess when the state file is damaged', async () => {
    const name = use('shoaltl-corrupt');
    mkdirSync(join(dirs.stateDir, name), { recursive: true });
    writeFileSync(join(dirs.stateDir, name, 'state.json'), '{"truncated');
    try {
      await expect(Lab.down(name, dirs)).rejects.toThrow(/state\.json is not valid JSON; remove it/);
      await expect(Lab.up({ name, hosts: 1, ...dirs })).rejects.toThrow(/already exists \(state unreadable\)/);
      expect((await Lab.list(dirs)).find((l) => l.name === name)?.status).toBe('broken');
    } finally {
      rmSync(join(dirs.stateDir, name), { recursive: true, force: true });
    }
    expect(residueOf(name, dirs)).toEqual([]);
  });

  it('removes mounts a host left under its directories', async () => {
    const name = use('shoaltl-mnt');
    const lab = await Lab.up({ name, hosts: 1, ...dirs });
    const target = join(lab.hosts[0]!.run, 'ctr', 'rootfs');
    const r = await lab.exec('h1', ['sh', '-c', `mkdir -p ${target} && mount -t tmpfs shoaltl-mnt ${target} && touch ${target}/x`]);
    expect(r.code, r.stderr).toBe(0);
    await lab.down();
    expect(residueOf(name, dirs)).toEqual([]);
  });
});

describe('lab up failures', () => {
  it('refuses bad host counts, subnets and names before making anything', async () => {
    const name = use('shoaltl-bad');
    for (const hosts of [0, 300, 'abc', '-1', '2.5', '']) {
      await expect(Lab.up({ name, hosts, ...dirs })).rejects.toThrow(LabConfigError);
    }
    await expect(Lab.up({ name, hosts: 'abc', ...dirs })).rejects.toThrow(/--hosts "abc": give a whole number from 1 to 250/);
    await expect(Lab.up({ name, hosts: 9, subnet: '10.1.2.0/29', ...dirs })).rejects.toThrow(/from 1 to 5 \(what fits in 10.1.2.0\/29\)/);
    await expect(Lab.up({ name, hosts: 2, subnet: '10.1.2.3/24', ...dirs })).rejects.toThrow(/did you mean --subnet 10.1.2.0\/24/);
    await expect(Lab.up({ name, hosts: 2, subnet: '8.8.8.0/24', ...dirs })).rejects.toThrow(LabConfigError);
    await expect(Lab.up({ name, hosts: 2, subnet: 'banana', ...dirs })).rejects.toThrow(LabConfigError);
    await expect(Lab.up({ name: 'Bad/Name', hosts: 2, ...dirs })).rejects.toThrow(LabConfigError);
    expect(residueOf(name, dirs)).toEqual([]);
    expect(existsSync(dirs.stateDir) ? await Lab.list(dirs) : []).toEqual([]);
  });

  it('refuses a name whose namespace is taken by someone else, and leaves theirs alone', async () => {
    const name = use('shoaltl-taken');
    const foreign = `shoal-${name}-h2`;
    execFileSync('ip', ['netns', 'add', foreign]);
    try {
      const err = await Lab.up({ name, hosts: 3, ...dirs }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LabUpError);
      expect((err as Error).message).toMatch(/network namespace shoal-shoaltl-taken-h2 already exists .*ip netns del/);
      expect(netnsNames()).toContain(foreign);
      expect(residueOf(name, dirs).filter((r) => !r.includes(foreign))).toEqual([]);
    } finally {
      spawnSync('ip', ['netns', 'del', foreign]);
    }
    expect(residueOf(name, dirs)).toEqual([]);
  });

  it('rolls back when aborted (what Ctrl-C does in the CLI)', async () => {
    const name = use('shoaltl-abort');
    const err = await Lab.up({ name, hosts: 2, signal: AbortSignal.abort(), ...dirs }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LabUpError);
    expect((err as Error).message).toMatch(/rolled back: interrupted/);
    expect((err as LabUpError).rolledBack).toBe(5); // two directories, two hosts' cgroup parents, the switch netns
    expect(residueOf(name, dirs)).toEqual([]);
  });

  it('rolls back a failure halfway through (after namespaces, mounts and directories exist)', async () => {
    const name = use('shoaltl-half');
    // h2's UTS namespace file is occupied by a directory: up fails after the switch, h1 and
    // h2's netns and h1's UTS mount are made.
    mkdirSync(join(dirs.stateDir, name, 'uts', 'h2'), { recursive: true });
    const err = await Lab.up({ name, hosts: 3, ...dirs }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LabUpError);
    expect((err as Error).message).toMatch(/lab up --name shoaltl-half failed and was rolled back: .*uts\/h2 appeared/);
    // 2 directories, 3 cgroup parents, the switch, h1's netns and UTS mount, h2's netns:
    // it really was halfway
    expect((err as LabUpError).rolledBack).toBe(8);
    expect(residueOf(name, dirs)).toEqual([]);
    // and the name is free again
    const lab = await Lab.up({ name, hosts: 3, ...dirs });
    expect(lab.hosts.length).toBe(3);
    await lab.down();
    expect(residueOf(name, dirs)).toEqual([]);
  });
});
