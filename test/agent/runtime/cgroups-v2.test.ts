// cgroup v2 code paths against the real unified hierarchy. On a pure v2 host that is
// /sys/fs/cgroup with controllers; on a hybrid host (this CI machine) it is the controller-less
// cgroup2 mount, where membership, cpu.stat, cgroup.freeze and cgroup.kill still work and
// limits must be refused clearly.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  CgroupUnsupportedError,
  detectCgroups,
  detectLayout,
  sharesToWeight,
  type Cgroup,
  type CgroupManager,
} from '../../../agent/runtime/cgroups/index.js';

const unified = detectLayout().unified;
const PREFIX = `shoalcg-${process.pid}`;
const made: Cgroup[] = [];
const children: ChildProcess[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const read = (dir: string, f: string) => readFileSync(join(dir, f), 'utf8').trim();

/** `setup` runs before the shell joins the cgroup (a trap must be in place before it can be signalled). */
async function runIn(cg: Cgroup, script: string, setup = ':'): Promise<ChildProcess> {
  const joinCmd = cg.procsFiles().map((f) => `echo $$ > ${f}`).join('; ');
  const child = spawn('sh', ['-c', `${setup}; ${joinCmd}; ${script}`], { stdio: 'ignore' });
  children.push(child);
  for (let i = 0; i < 500 && !(await cg.pids()).includes(child.pid!); i++) await sleep(10);
  expect(await cg.pids()).toContain(child.pid);
  return child;
}

afterEach(async () => {
  for (const cg of made.splice(0)) {
    await cg.killAll().catch(() => undefined);
    await cg.remove().catch(() => undefined);
  }
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

afterAll(() => {
  const rmTree = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rmTree(join(dir, e.name));
    rmdirSync(dir);
  };
  if (unified) rmTree(join(unified, PREFIX));
});

describe.skipIf(unified === null)('cgroup v2', () => {
  const mgr: CgroupManager = detectCgroups({ root: unified ?? '/nonexistent', logger: pino({ level: 'silent' }) });
  const available = new Set(unified ? read(unified, 'cgroup.controllers').split(/\s+/) : []);
  const create = async (leaf: string, limits = {}) => {
    const cg = await mgr.create(`${PREFIX}/${leaf}`, limits);
    made.push(cg);
    return cg;
  };

  it('is chosen for a cgroup2 root and places processes in it', async () => {
    expect(mgr.version).toBe('v2');
    const cg = await create('member');
    expect(cg.paths).toEqual([join(unified!, PREFIX, 'member')]);
    const child = await runIn(cg, 'exec sleep 300');
    expect(read(cg.paths[0]!, 'cgroup.procs')).toBe(String(child.pid));
    expect(readFileSync(`/proc/${child.pid}/cgroup`, 'utf8')).toContain(`0::/${PREFIX}/member`);
    expect((await cg.stats()).pids).toBe(1);
  });

  it('counts cpu time from cpu.stat', async () => {
    const cg = await create('cpu');
    await runIn(cg, 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 300');
    let st = await cg.stats();
    for (let i = 0; i < 500 && st.cpuUsageNs < 50_000_000n; i++) {
      await sleep(10);
      st = await cg.stats();
    }
    expect(st.cpuUsageNs).toBeGreaterThanOrEqual(50_000_000n);
  });

  it('killAll empties a process tree with cgroup.kill (SIGKILL) and with freeze + SIGTERM', async () => {
    for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
      const cg = await create(`kill-${signal}`);
      await runIn(cg, 'sh -c "sleep 300 & sleep 300 & wait" & sleep 300 & wait');
      for (let i = 0; i < 300 && (await cg.pids()).length < 5; i++) await sleep(10);
      expect((await cg.pids()).length).toBeGreaterThanOrEqual(5);
      await cg.killAll(signal);
      expect(await cg.pids()).toEqual([]);
      expect(read(cg.paths[0]!, 'cgroup.freeze')).toBe('0');
      expect(read(cg.paths[0]!, 'cgroup.events')).toMatch(/populated 0/);
      await cg.remove();
      expect(existsSync(cg.paths[0]!)).toBe(false);
    }
  });

  it('killAll gives up with a typed error when a process outlives the signal', async () => {
    const cg = await create('stubborn');
    const dir = mkdtempSync(join(tmpdir(), 'shoalcg-term-'));
    const log = join(dir, 'terms');
    try {
      // The shell counts the SIGTERMs it gets and keeps running; its short sleeps die and are
      // replaced, so killAll sees new processes every round.
      await runIn(cg, 'while :; do sleep 0.05; done', `trap 'echo term >> ${log}' TERM`);
      await expect(cg.killAll('SIGTERM', 1500)).rejects.toThrow(/still has processes/);
      expect(readFileSync(log, 'utf8')).toBe('term\n'); // one SIGTERM, never a second
      await cg.killAll();
      expect(await cg.pids()).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(available.has('memory'))('refuses limits whose controller this hierarchy lacks, leaving nothing', async () => {
    await expect(mgr.create(`${PREFIX}/nolimit`, { memoryBytes: 64 << 20 })).rejects.toBeInstanceOf(CgroupUnsupportedError);
    await expect(mgr.create(`${PREFIX}/nolimit`, { pidsMax: 10 })).rejects.toThrow(/pids controller/);
    expect(existsSync(join(unified!, PREFIX))).toBe(false);
  });

  // Runs only on a host whose cgroup2 mount has the controllers (production v2 hosts).
  it.skipIf(!['memory', 'cpu', 'pids'].every((c) => available.has(c)))('writes v2 limits and reads them back', async () => {
    const cg = await create('limits', { memoryBytes: 64 << 20, memorySwapBytes: 96 << 20, cpuShares: 512, cpuQuotaCores: 0.5, pidsMax: 33 });
    const dir = cg.paths[0]!;
    expect(read(dir, 'memory.max')).toBe(String(64 << 20));
    if (existsSync(join(dir, 'memory.swap.max'))) expect(read(dir, 'memory.swap.max')).toBe(String(32 << 20));
    expect(read(dir, 'cpu.weight')).toBe(String(sharesToWeight(512)));
    expect(read(dir, 'cpu.max')).toBe('50000 100000');
    expect(read(dir, 'pids.max')).toBe('33');
    expect(read(join(dir, '..'), 'cgroup.subtree_control')).toMatch(/memory/);
    expect((await cg.stats()).memoryLimitBytes).toBe(64 << 20);
  });
});
