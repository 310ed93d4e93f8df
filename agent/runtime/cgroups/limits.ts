// Validation of CgroupLimits and their translation into control-file writes for v1 and v2.
// Pure functions: the managers decide which candidate files exist and do the writing.
import { readFileSync } from 'node:fs';
import { CgroupLimitError } from './errors.js';
import type { CgroupLimits } from './types.js';

import { CFS_PERIOD_US, cpuLimitProblem, MIN_CFS_QUOTA_US, MIN_MEMORY_BYTES, memoryLimitProblem } from '../../../rules/resources.js';

// The bounds are rules/resources.ts: the control API refuses services with the same ones.
export { CFS_PERIOD_US, MIN_MEMORY_BYTES };

/** CPUs and memory nodes that exist on this machine. */
export interface MachineTopology {
  cpus: Set<number>;
  mems: Set<number>;
}

/** Parses the kernel's list syntax ("0-3,5"); null when malformed. */
export function parseCpuList(list: string): Set<number> | null {
  const out = new Set<number>();
  const text = list.trim();
  if (text === '') return out;
  for (const part of text.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return null;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo || hi > 65535) return null;
    for (let i = lo; i <= hi; i++) out.add(i);
  }
  return out;
}

function readList(path: string, fallback: string): Set<number> {
  try {
    return parseCpuList(readFileSync(path, 'utf8')) ?? parseCpuList(fallback)!;
  } catch {
    return parseCpuList(fallback)!;
  }
}

export function readMachineTopology(): MachineTopology {
  return {
    cpus: readList('/sys/devices/system/cpu/online', '0'),
    // Kernels without NUMA have no node directory: everything is node 0.
    mems: readList('/sys/devices/system/node/online', '0'),
  };
}

function requireInteger(field: string, v: number, lo: number, hi: number, hint: string): void {
  if (!Number.isSafeInteger(v) || v < lo || v > hi) {
    throw new CgroupLimitError(field, `${v} is out of range: ${hint}`);
  }
}

function checkList(field: string, list: string, have: Set<number>, what: string): void {
  const want = parseCpuList(list);
  if (want === null || want.size === 0) {
    throw new CgroupLimitError(field, `${JSON.stringify(list)} is not a ${what} list: write it like "0-1,3"`);
  }
  const missing = [...want].filter((c) => !have.has(c));
  if (missing.length > 0) {
    throw new CgroupLimitError(
      field,
      `${what} ${missing.join(',')} not present on this host (it has ${[...have].join(',')}): choose from those`,
    );
  }
}

/** Throws CgroupLimitError for the first limit that cannot be applied on this machine. */
export function validateLimits(limits: CgroupLimits, machine: MachineTopology): void {
  const { memoryBytes: mem, memorySwapBytes: swap } = limits;
  if (mem !== undefined) {
    const problem = memoryLimitProblem(mem);
    if (problem) throw new CgroupLimitError('memoryBytes', problem);
  }
  if (swap !== undefined) {
    if (mem === undefined) {
      throw new CgroupLimitError('memorySwapBytes', 'needs memoryBytes too: the swap total includes the memory limit');
    }
    if (swap !== -1) {
      requireInteger('memorySwapBytes', swap, mem, Number.MAX_SAFE_INTEGER, `memory+swap must be at least memoryBytes (${mem}), or -1 for unlimited swap`);
    }
  }
  if (limits.cpuShares !== undefined) {
    requireInteger('cpuShares', limits.cpuShares, 2, 262144, 'use 2..262144 (1024 is the default weight)');
  }
  if (limits.cpuQuotaCores !== undefined) {
    const problem = cpuLimitProblem(limits.cpuQuotaCores, machine.cpus.size);
    if (problem) throw new CgroupLimitError('cpuQuotaCores', problem);
  }
  if (limits.cpusetCpus !== undefined) checkList('cpusetCpus', limits.cpusetCpus, machine.cpus, 'CPU');
  if (limits.cpusetMems !== undefined) checkList('cpusetMems', limits.cpusetMems, machine.mems, 'memory node');
  if (limits.pidsMax !== undefined && limits.pidsMax !== -1) {
    requireInteger('pidsMax', limits.pidsMax, 1, 4194304, 'use a positive number of processes, or -1 for unlimited');
  }
  if (limits.blkioWeight !== undefined) {
    requireInteger('blkioWeight', limits.blkioWeight, 10, 1000, 'use 10..1000 (500 is the default)');
  }
}

/** v1 shares to v2 cpu.weight, the same mapping runc and crun use so both hosts agree. */
export function sharesToWeight(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** Docker blkio weight (10..1000) to io.weight (1..10000). */
export function blkioToIoWeight(weight: number): number {
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

export function cfsQuotaUs(cores: number): number {
  return Math.max(MIN_CFS_QUOTA_US, Math.round(cores * CFS_PERIOD_US));
}

/** One limit to write: the first candidate file that exists wins. */
export interface ControlWrite {
  controller: string;
  candidates: { file: string; value: string }[];
  /** When no candidate exists: a warning to log (write skipped); absent = error. */
  skipWarning?: string;
}

const w = (controller: string, file: string, value: string | number): ControlWrite => ({
  controller,
  candidates: [{ file, value: String(value) }],
});

/** Writes for cgroup v1, in an order the kernel accepts (memory before memsw, period before quota). */
export function planV1(l: CgroupLimits): ControlWrite[] {
  const out: ControlWrite[] = [];
  if (l.memoryBytes !== undefined) out.push(w('memory', 'memory.limit_in_bytes', l.memoryBytes));
  if (l.memorySwapBytes !== undefined) {
    out.push({
      ...w('memory', 'memory.memsw.limit_in_bytes', l.memorySwapBytes),
      skipWarning: 'swap accounting is off on this kernel (boot with swapaccount=1): memorySwapBytes not enforced',
    });
  }
  if (l.cpuShares !== undefined) out.push(w('cpu', 'cpu.shares', l.cpuShares));
  if (l.cpuQuotaCores !== undefined) {
    out.push(w('cpu', 'cpu.cfs_period_us', CFS_PERIOD_US));
    out.push(w('cpu', 'cpu.cfs_quota_us', cfsQuotaUs(l.cpuQuotaCores)));
  }
  if (l.cpusetCpus !== undefined) out.push(w('cpuset', 'cpuset.cpus', l.cpusetCpus));
  if (l.cpusetMems !== undefined) out.push(w('cpuset', 'cpuset.mems', l.cpusetMems));
  if (l.pidsMax !== undefined) out.push(w('pids', 'pids.max', l.pidsMax === -1 ? 'max' : l.pidsMax));
  if (l.blkioWeight !== undefined) {
    out.push({
      controller: 'blkio',
      candidates: [
        { file: 'blkio.weight', value: String(l.blkioWeight) },
        { file: 'blkio.bfq.weight', value: String(l.blkioWeight) },
      ],
      skipWarning: 'no blkio weight file (CFQ/BFQ scheduler absent): blkioWeight not enforced',
    });
  }
  return out;
}

/** Writes for cgroup v2. */
export function planV2(l: CgroupLimits): ControlWrite[] {
  const out: ControlWrite[] = [];
  if (l.memoryBytes !== undefined) out.push(w('memory', 'memory.max', l.memoryBytes));
  if (l.memorySwapBytes !== undefined && l.memoryBytes !== undefined) {
    // v2 limits swap alone, v1 (and our API) memory+swap together.
    const swap = l.memorySwapBytes === -1 ? 'max' : String(l.memorySwapBytes - l.memoryBytes);
    out.push({
      ...w('memory', 'memory.swap.max', swap),
      skipWarning: 'swap accounting is off on this kernel: memorySwapBytes not enforced',
    });
  }
  if (l.cpuShares !== undefined) out.push(w('cpu', 'cpu.weight', sharesToWeight(l.cpuShares)));
  if (l.cpuQuotaCores !== undefined) {
    out.push(w('cpu', 'cpu.max', `${cfsQuotaUs(l.cpuQuotaCores)} ${CFS_PERIOD_US}`));
  }
  if (l.cpusetCpus !== undefined) out.push(w('cpuset', 'cpuset.cpus', l.cpusetCpus));
  if (l.cpusetMems !== undefined) out.push(w('cpuset', 'cpuset.mems', l.cpusetMems));
  if (l.pidsMax !== undefined) out.push(w('pids', 'pids.max', l.pidsMax === -1 ? 'max' : l.pidsMax));
  if (l.blkioWeight !== undefined) {
    out.push({
      controller: 'io',
      // BFQ ignores io.weight, so when BFQ is the scheduler its own file must carry the weight.
      candidates: [
        { file: 'io.bfq.weight', value: String(l.blkioWeight) },
        { file: 'io.weight', value: `default ${blkioToIoWeight(l.blkioWeight)}` },
      ],
      skipWarning: 'no io weight file (io controller without BFQ or iocost): blkioWeight not enforced',
    });
  }
  return out;
}

/** Controllers a v2 cgroup needs enabled for these limits. */
export function v2ControllersFor(l: CgroupLimits): Set<string> {
  return new Set(planV2(l).map((p) => p.controller));
}
