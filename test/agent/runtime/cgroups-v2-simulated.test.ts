// SIMULATION: this machine's cgroup2 mount has no controllers (they are bound to v1), so the
// v2 limit writes cannot reach a real kernel here. This test points the v2 manager at a plain
// directory laid out like a cgroup2 mount (control files pre-created, as the kernel would) to
// check which files get which values, the top-down subtree_control enabling, file fallbacks and
// stats parsing. What the kernel then does with the values is tested only on real v2 hosts
// (cgroups-v2.test.ts runs its limit test there).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { blkioToIoWeight, managerFor, sharesToWeight, type CgroupManager } from '../../../agent/runtime/cgroups/index.js';

const CONTROLLERS = 'cpuset cpu io memory hugetlb pids rdma misc';
const LEAF_FILES = [
  'cgroup.procs', 'cgroup.freeze', 'cgroup.events', 'cpu.weight', 'cpu.max', 'cpuset.cpus', 'cpuset.mems',
  'memory.max', 'memory.swap.max', 'pids.max', 'io.weight', 'cpu.stat', 'memory.current', 'memory.stat',
  'memory.events', 'pids.current',
];

let root = '';
let warnings: string[] = [];
let mgr: CgroupManager;

function fakeCgroup(dir: string, files: string[], controllers = CONTROLLERS): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'cgroup.controllers'), controllers);
  writeFileSync(join(dir, 'cgroup.subtree_control'), '');
  for (const f of files) writeFileSync(join(dir, f), '');
}
const read = (...p: string[]) => readFileSync(join(root, ...p), 'utf8').trim();

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'shoalcg-v2sim-'));
  fakeCgroup(root, []);
  fakeCgroup(join(root, 'shoal'), []);
  warnings = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line).msg) });
  mgr = managerFor({ version: 'v2', hybrid: false, v1: new Map(), unified: root }, log, { cpus: new Set([0, 1]), mems: new Set([0]) });
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('cgroup v2 manager on a simulated cgroup2 tree', () => {
  it('enables controllers top down and writes every limit to its v2 file', async () => {
    fakeCgroup(join(root, 'shoal', 'c1'), LEAF_FILES);
    const cg = await mgr.create('shoal/c1', {
      memoryBytes: 64 << 20,
      memorySwapBytes: 96 << 20,
      cpuShares: 512,
      cpuQuotaCores: 1.5,
      cpusetCpus: '1',
      cpusetMems: '0',
      pidsMax: 40,
      blkioWeight: 500,
    });
    expect(mgr.version).toBe('v2');
    expect(cg.paths).toEqual([join(root, 'shoal', 'c1')]);
    for (const dir of [[], ['shoal']]) {
      const enabled = read(...dir, 'cgroup.subtree_control').split(' ').sort();
      expect(enabled).toEqual(['+cpu', '+cpuset', '+io', '+memory', '+pids']);
    }
    expect(read('shoal/c1/memory.max')).toBe(String(64 << 20));
    expect(read('shoal/c1/memory.swap.max')).toBe(String(32 << 20));
    expect(read('shoal/c1/cpu.weight')).toBe(String(sharesToWeight(512)));
    expect(read('shoal/c1/cpu.max')).toBe('150000 100000');
    expect(read('shoal/c1/cpuset.cpus')).toBe('1');
    expect(read('shoal/c1/cpuset.mems')).toBe('0');
    expect(read('shoal/c1/pids.max')).toBe('40');
    expect(read('shoal/c1/io.weight')).toBe(`default ${blkioToIoWeight(500)}`);
    expect(warnings).toEqual([]);
  });

  it('prefers io.bfq.weight, and warns instead of failing when swap or io files are missing', async () => {
    fakeCgroup(join(root, 'shoal', 'bfq'), ['io.bfq.weight', 'io.weight']);
    await mgr.create('shoal/bfq', { blkioWeight: 300 });
    expect(read('shoal/bfq/io.bfq.weight')).toBe('300');
    expect(read('shoal/bfq/io.weight')).toBe('');
    fakeCgroup(join(root, 'shoal', 'noswap'), ['memory.max']);
    await mgr.create('shoal/noswap', { memoryBytes: 64 << 20, memorySwapBytes: -1, blkioWeight: 300 });
    expect(read('shoal/noswap/memory.max')).toBe(String(64 << 20));
    expect(warnings.some((w) => /swap accounting/.test(w))).toBe(true);
    expect(warnings.some((w) => /io weight/.test(w))).toBe(true);
  });

  it('enables only memory and pids for accounting when no limit is asked, and only what exists', async () => {
    writeFileSync(join(root, 'cgroup.controllers'), 'cpu memory');
    fakeCgroup(join(root, 'shoal', 'plain'), []);
    await mgr.create('shoal/plain', {});
    expect(read('cgroup.subtree_control')).toBe('+memory');
  });

  it('parses v2 stats and the OOM counter', async () => {
    fakeCgroup(join(root, 'shoal', 's'), LEAF_FILES);
    const cg = await mgr.create('shoal/s', {});
    const put = (f: string, v: string) => writeFileSync(join(root, 'shoal', 's', f), v);
    put('cpu.stat', 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n');
    put('memory.current', String(10 << 20));
    put('memory.stat', 'anon 4096\nfile 2097152\ninactive_file 1048576\n');
    put('memory.max', 'max');
    put('pids.current', '3');
    put('memory.events', 'low 0\nhigh 0\nmax 7\noom 2\noom_kill 1\n');
    expect(await cg.stats()).toEqual({ cpuUsageNs: 1_500_000n, memoryBytes: (10 << 20) - (1 << 20), memoryLimitBytes: null, pids: 3, oomKills: 1 });
    expect(await cg.oomKilled()).toBe(true);
    put('memory.max', String(64 << 20));
    expect((await cg.stats()).memoryLimitBytes).toBe(64 << 20);
  });
});
