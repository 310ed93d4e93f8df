// Pure parts of the cgroup layer: layout detection from mountinfo samples of v1, v2 and hybrid
// hosts, limit validation, and the v1 -> v2 conversions.
import { describe, expect, it } from 'vitest';
import {
  CgroupLimitError,
  CgroupUnsupportedError,
  blkioToIoWeight,
  layoutFrom,
  sharesToWeight,
  validateLimits,
} from '../../../agent/runtime/cgroups/index.js';
import { planV1, planV2, parseCpuList } from '../../../agent/runtime/cgroups/limits.js';

const V2_HOST = `
24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 24 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;
const V1_HOST = `
31 23 0:28 / /sys/fs/cgroup ro - tmpfs tmpfs ro,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer
40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
`;
const HYBRID_HOST = V1_HOST + '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n';
const PROC_CGROUPS = `#subsys_name\thierarchy\tnum_cgroups\tenabled
cpuset\t3\t1\t1
cpu\t1\t1\t1
cpuacct\t1\t1\t1
memory\t4\t18\t0
freezer\t6\t1\t1
`;

describe('layoutFrom', () => {
  it('recognises a pure v2 host', () => {
    const l = layoutFrom(V2_HOST, null);
    expect(l).toMatchObject({ version: 'v2', hybrid: false, unified: '/sys/fs/cgroup' });
    expect(l.v1.size).toBe(0);
  });

  it('maps co-mounted v1 controllers to their shared hierarchy and ignores name= hierarchies', () => {
    const l = layoutFrom(V1_HOST, null);
    expect(l.version).toBe('v1');
    expect(l.hybrid).toBe(false);
    expect(l.v1.get('cpu')).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(l.v1.get('cpuacct')).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(l.v1.get('memory')).toBe('/sys/fs/cgroup/memory');
    expect(l.v1.has('pids')).toBe(false);
  });

  it('detects hybrid and leaves out controllers /proc/cgroups marks disabled', () => {
    const l = layoutFrom(HYBRID_HOST, PROC_CGROUPS);
    expect(l).toMatchObject({ version: 'v1', hybrid: true, unified: '/sys/fs/cgroup/unified' });
    expect(l.v1.has('memory')).toBe(false);
    expect(l.v1.get('cpuset')).toBe('/sys/fs/cgroup/cpuset');
  });

  it('stays v2 when only a minor controller is also mounted as v1', () => {
    const stray = V2_HOST + '50 26 0:40 / /run/legacy-cpuset rw - cgroup cgroup rw,cpuset\n';
    expect(layoutFrom(stray, null)).toMatchObject({ version: 'v2', unified: '/sys/fs/cgroup' });
    expect(layoutFrom('50 26 0:40 / /run/legacy-cpuset rw - cgroup cgroup rw,cpuset\n', null).version).toBe('v1');
  });

  it('restricted to the unified mount, a hybrid host looks like v2', () => {
    const l = layoutFrom(HYBRID_HOST, null, '/sys/fs/cgroup/unified');
    expect(l).toMatchObject({ version: 'v2', unified: '/sys/fs/cgroup/unified' });
  });

  it('unescapes mount points and fails clearly without any cgroup mount', () => {
    const l = layoutFrom('26 24 0:23 / /mnt/my\\040cg rw - cgroup2 cgroup2 rw\n', null);
    expect(l.unified).toBe('/mnt/my cg');
    expect(() => layoutFrom('24 30 0:22 / /sys rw - sysfs sysfs rw\n', null)).toThrow(CgroupUnsupportedError);
  });
});

describe('limits', () => {
  const machine = { cpus: new Set([0, 1]), mems: new Set([0]) };
  const bad: [string, object][] = [
    ['memoryBytes', { memoryBytes: -1 }],
    ['memoryBytes', { memoryBytes: 1024 }],
    ['memoryBytes', { memoryBytes: 1.5e7 + 0.5 }],
    ['memorySwapBytes', { memorySwapBytes: 64 << 20 }],
    ['memorySwapBytes', { memoryBytes: 64 << 20, memorySwapBytes: 32 << 20 }],
    ['cpuShares', { cpuShares: 1 }],
    ['cpuQuotaCores', { cpuQuotaCores: 3 }],
    ['cpuQuotaCores', { cpuQuotaCores: 0 }],
    ['cpusetCpus', { cpusetCpus: '7' }],
    ['cpusetCpus', { cpusetCpus: '1-0' }],
    ['cpusetCpus', { cpusetCpus: 'abc' }],
    ['cpusetMems', { cpusetMems: '3' }],
    ['pidsMax', { pidsMax: 0 }],
    ['blkioWeight', { blkioWeight: 5 }],
  ];
  it.each(bad)('refuses a bad %s with a typed user error naming it', (field, limits) => {
    let caught: unknown;
    try {
      validateLimits(limits, machine);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CgroupLimitError);
    expect((caught as CgroupLimitError).userError).toBe(true);
    expect((caught as CgroupLimitError).field).toBe(field);
    expect((caught as Error).message).toContain(field);
  });

  it('accepts good limits', () => {
    expect(() =>
      validateLimits({ memoryBytes: 64 << 20, memorySwapBytes: -1, cpuShares: 512, cpuQuotaCores: 1.5, cpusetCpus: '0-1', cpusetMems: '0', pidsMax: -1, blkioWeight: 500 }, machine),
    ).not.toThrow();
  });

  it('converts shares and blkio weights as runc does', () => {
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(1024)).toBe(39);
    expect(sharesToWeight(262144)).toBe(10000);
    expect(blkioToIoWeight(10)).toBe(1);
    expect(blkioToIoWeight(500)).toBe(4950);
    expect(blkioToIoWeight(1000)).toBe(10000);
  });

  it('plans v2 swap as total minus memory and v1 period before quota', () => {
    const v2 = planV2({ memoryBytes: 100 << 20, memorySwapBytes: 150 << 20, cpuQuotaCores: 0.5 });
    const files = new Map(v2.map((w) => [w.candidates[0]!.file, w.candidates[0]!.value]));
    expect(files.get('memory.max')).toBe(String(100 << 20));
    expect(files.get('memory.swap.max')).toBe(String(50 << 20));
    expect(files.get('cpu.max')).toBe('50000 100000');
    expect(planV2({ memoryBytes: 100 << 20, memorySwapBytes: -1 })[1]!.candidates[0]!.value).toBe('max');
    const v1 = planV1({ cpuQuotaCores: 0.5, memoryBytes: 100 << 20, memorySwapBytes: -1 }).map((w) => w.candidates[0]!.file);
    expect(v1.indexOf('memory.limit_in_bytes')).toBeLessThan(v1.indexOf('memory.memsw.limit_in_bytes'));
    expect(v1.indexOf('cpu.cfs_period_us')).toBeLessThan(v1.indexOf('cpu.cfs_quota_us'));
  });

  it('parses kernel cpu lists', () => {
    expect([...parseCpuList('0-2,5')!]).toEqual([0, 1, 2, 5]);
    expect(parseCpuList('')!.size).toBe(0);
    expect(parseCpuList('2-1')).toBeNull();
  });
});
