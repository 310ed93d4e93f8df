// SIMULATION: v1 hosts differ in which optional files exist (memsw needs swapaccount=1,
// blkio.weight needs CFQ/BFQ) and which controllers are mounted; this machine has one fixed
// set. Here the v1 manager runs against plain directories laid out like v1 hierarchies to
// cover the other combinations: missing optional files warn, missing controllers fail cleanly,
// cpuset values are inherited. Kernel enforcement is tested in cgroups-v1.test.ts.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CgroupUnsupportedError, managerFor, type CgroupLayout } from '../../../agent/runtime/cgroups/index.js';

let root = '';
let warnings: string[] = [];

function fakeDir(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [f, v] of Object.entries(files)) writeFileSync(join(dir, f), v);
}

function manager(controllers: ('memory' | 'blkio' | 'cpuset' | 'cpu')[]) {
  const layout: CgroupLayout = { version: 'v1', hybrid: false, v1: new Map(controllers.map((c) => [c, join(root, c)])), unified: null };
  const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line).msg) });
  return managerFor(layout, log, { cpus: new Set([0, 1, 2, 3]), mems: new Set([0]) });
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'shoalcg-v1sim-'));
  warnings = [];
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('cgroup v1 manager on simulated hierarchies', () => {
  it('warns and skips memsw and blkio weight when the kernel lacks their files', async () => {
    fakeDir(join(root, 'memory', 'c'), { 'memory.limit_in_bytes': '' });
    fakeDir(join(root, 'blkio', 'c'), {});
    await manager(['memory', 'blkio']).create('c', { memoryBytes: 32 << 20, memorySwapBytes: 64 << 20, blkioWeight: 700 });
    expect(readFileSync(join(root, 'memory', 'c', 'memory.limit_in_bytes'), 'utf8')).toBe(String(32 << 20));
    expect(existsSync(join(root, 'memory', 'c', 'memory.memsw.limit_in_bytes'))).toBe(false);
    expect(warnings).toEqual([
      expect.stringMatching(/swap accounting is off.*swapaccount=1/),
      expect.stringMatching(/blkioWeight not enforced/),
    ]);
  });

  it('uses blkio.weight where CFQ provides it', async () => {
    fakeDir(join(root, 'blkio', 'c'), { 'blkio.weight': '', 'blkio.bfq.weight': '' });
    await manager(['blkio']).create('c', { blkioWeight: 700 });
    expect(readFileSync(join(root, 'blkio', 'c', 'blkio.weight'), 'utf8')).toBe('700');
    expect(readFileSync(join(root, 'blkio', 'c', 'blkio.bfq.weight'), 'utf8')).toBe('');
  });

  it('fails with a typed error, leaving nothing, when a needed controller is not mounted', async () => {
    fakeDir(join(root, 'memory'), {});
    const err = await manager(['memory']).create('shoal/c', { memoryBytes: 32 << 20, pidsMax: 5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CgroupUnsupportedError);
    expect((err as Error).message).toMatch(/v1 pids controller is not mounted/);
    expect(existsSync(join(root, 'memory', 'shoal'))).toBe(false);
  });

  it('copies cpuset.cpus and cpuset.mems down into new cgroups before applying the limit', async () => {
    fakeDir(join(root, 'cpuset'), { 'cpuset.cpus': '0-3', 'cpuset.mems': '0' });
    // The kernel creates these files empty in a new v1 cpuset cgroup.
    fakeDir(join(root, 'cpuset', 'shoal'), { 'cpuset.cpus': '', 'cpuset.mems': '' });
    fakeDir(join(root, 'cpuset', 'shoal', 'c'), { 'cpuset.cpus': '', 'cpuset.mems': '' });
    await manager(['cpuset']).create('shoal/c', { cpusetCpus: '2' });
    expect(readFileSync(join(root, 'cpuset', 'shoal', 'cpuset.cpus'), 'utf8')).toBe('0-3');
    expect(readFileSync(join(root, 'cpuset', 'shoal', 'cpuset.mems'), 'utf8')).toBe('0');
    expect(readFileSync(join(root, 'cpuset', 'shoal', 'c', 'cpuset.cpus'), 'utf8')).toBe('2');
    expect(readFileSync(join(root, 'cpuset', 'shoal', 'c', 'cpuset.mems'), 'utf8')).toBe('0');
  });
});
