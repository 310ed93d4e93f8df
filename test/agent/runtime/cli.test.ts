// `shoal container ...` end to end: real CLI processes over an image imported into a temp store.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageStore } from '../../../agent/images/index.js';
import { detectCgroups } from '../../../agent/runtime/cgroups/index.js';
import { leftoverCgroups, leftoverMounts, makeBusyboxLayer } from './helpers.js';

const repo = join(import.meta.dirname, '../../..');
let root: string;
let shoalRoot: string;
let shoalRun: string;
const cgroupParent = `shoalrt-cli-${process.pid}`;

function shoal(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(repo, 'cli/main.ts'), 'container', ...args], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, SHOAL_ROOT: shoalRoot, SHOAL_RUN: shoalRun, SHOAL_CGROUP_PARENT: cgroupParent },
    timeout: 60_000,
  });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

const containerDirs = (): string[] =>
  existsSync(join(shoalRun, 'containers')) ? readdirSync(join(shoalRun, 'containers')).filter((e) => /^[0-9a-f]{64}$/.test(e)) : [];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'shoalrt-cli-'));
  shoalRoot = join(root, 'root');
  shoalRun = join(root, 'run');
  mkdirSync(shoalRoot, { mode: 0o700 }); // as the CLI makes it (an open one is corrected with a warning on stderr)
  const layer = makeBusyboxLayer(join(root, 'layer'));
  spawnSync('tar', ['-C', layer, '-cf', join(root, 'bb.tar'), '.']);
  await new ImageStore({ root: join(shoalRoot, 'images') }).importRootfs(join(root, 'bb.tar'), 'shoalrt-bb:1', { cmd: ['/bin/sh'] });
});

afterAll(async () => {
  for (const id of containerDirs()) shoal('rm', '-f', id);
  await detectCgroups().open(cgroupParent)?.remove();
  expect(leftoverCgroups(cgroupParent)).toEqual([]);
  rmSync(root, { recursive: true, force: true });
  expect(leftoverMounts(root)).toEqual([]);
});

describe('shoal container CLI', () => {
  it('run streams output, exits with the container code, and --rm removes it', () => {
    const r = shoal('run', '--rm', '--memory', '64m', '--pids-limit', '32', '--hostname', 'shoalrt-h', 'shoalrt-bb:1',
      'sh', '-c', 'hostname; cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; echo problem >&2; exit 3');
    expect(r.code).toBe(3);
    expect(r.out).toBe('shoalrt-h\n67108864\n32\n');
    expect(r.err).toBe('problem\n');
    expect(containerDirs()).toEqual([]);
  });

  it('runs detached, lists, execs, stats, stops and removes', () => {
    const run = shoal('run', '-d', '--name', 'shoalrt-d', 'shoalrt-bb:1', 'sleep', '300');
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^[0-9a-f]{64}\n$/);
    const ls = shoal('ls', '--format', 'json');
    const list = JSON.parse(ls.out) as { name: string; state: string }[];
    expect(list).toEqual([expect.objectContaining({ name: 'shoalrt-d', state: 'running' })]);
    const ex = shoal('exec', 'shoalrt-d', 'sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "; exit 4');
    expect(ex.code).toBe(4);
    expect(ex.out).toBe('sleep 300 ');
    const st = JSON.parse(shoal('stats', '--format', 'json', 'shoalrt-d').out) as { pids: number }[];
    expect(st[0]!.pids).toBe(1);
    expect(shoal('rm', 'shoalrt-d')).toMatchObject({ code: 1, err: expect.stringMatching(/is running: stop it first/) });
    expect(shoal('stop', '-t', '1', 'shoalrt-d').code).toBe(0);
    const insp = JSON.parse(shoal('inspect', 'shoalrt-d').out) as { state: string; exit: { signal: string } }[];
    expect(insp[0]).toMatchObject({ state: 'exited' });
    expect(shoal('rm', 'shoalrt-d').code).toBe(0);
    expect(containerDirs()).toEqual([]);
    expect(detectCgroups().open(`${cgroupParent}/${run.out.trim()}`)).toBeNull();
  });

  it('gives one clear line and no residue for bad input', () => {
    const cases: [string[], RegExp][] = [
      [['run', '--memory', 'banana', 'shoalrt-bb:1', 'true'], /invalid --memory value "banana"/],
      [['run', 'shoalrt-nope:1', 'true'], /image .*shoalrt-nope:1.* not found/],
      [['run', '-v', join(root, 'missing') + ':/x', 'shoalrt-bb:1', 'true'], /bind mount source .*missing does not exist/],
      [['run', 'shoalrt-bb:1', 'no-such-command'], /no-such-command not found/],
      [['run', '--network', 'bogus', 'shoalrt-bb:1', 'true'], /invalid --network/],
      [['logs', 'shoalrt-nothing'], /no such container: shoalrt-nothing/],
    ];
    for (const [args, re] of cases) {
      const r = shoal(...args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.err).toMatch(re);
      expect(r.err).not.toMatch(/\n\s+at /);
    }
    expect(containerDirs()).toEqual([]);
  });

  it('refuses a name in use', () => {
    expect(shoal('run', '-d', '--name', 'shoalrt-n', 'shoalrt-bb:1', 'sleep', '100').code).toBe(0);
    const r = shoal('run', '--name', 'shoalrt-n', 'shoalrt-bb:1', 'true');
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/name "shoalrt-n" is already in use/);
    expect(containerDirs()).toHaveLength(1);
    expect(shoal('rm', '-f', 'shoalrt-n').code).toBe(0);
    expect(containerDirs()).toEqual([]);
  });
});
