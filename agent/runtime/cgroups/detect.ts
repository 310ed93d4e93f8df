// Which cgroup hierarchies the kernel offers, read from /proc/self/mountinfo and /proc/cgroups.
// Parsing is pure so that v1, v2 and hybrid layouts can be tested from sample text.
import { readFileSync } from 'node:fs';
import { CgroupUnsupportedError } from './errors.js';

/** The v1 controllers shoal uses for limits, accounting and freezing. */
export const V1_CONTROLLERS = [
  'cpu',
  'cpuacct',
  'cpuset',
  'memory',
  'pids',
  'blkio',
  'freezer',
] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

export interface CgroupLayout {
  version: 'v1' | 'v2';
  /** v1 controllers next to a cgroup2 mount (systemd's "hybrid" mode). */
  hybrid: boolean;
  /** v1: controller -> mount point of its hierarchy (co-mounted controllers share one). */
  v1: Map<V1Controller, string>;
  /** Mount point of the cgroup2 (unified) hierarchy, if any. */
  unified: string | null;
}

interface CgroupMount {
  mountPoint: string;
  fsType: 'cgroup' | 'cgroup2';
  superOptions: string[];
}

// mountinfo escapes space, tab, newline and backslash as octal.
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const before = line.slice(0, sep).split(' ');
    const after = line.slice(sep + 3).split(' ');
    const fsType = after[0];
    if ((fsType !== 'cgroup' && fsType !== 'cgroup2') || before.length < 5) continue;
    mounts.push({
      mountPoint: unescapeMountField(before[4]!),
      fsType,
      superOptions: (after[2] ?? '').split(','),
    });
  }
  return mounts;
}

/** Controllers the kernel has enabled (the last column of /proc/cgroups is 1). */
export function parseEnabledControllers(procCgroups: string): Set<string> {
  const enabled = new Set<string>();
  for (const line of procCgroups.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const cols = line.trim().split(/\s+/);
    if (cols.length >= 4 && cols[3] === '1') enabled.add(cols[0]!);
  }
  return enabled;
}

function isUnder(path: string, root: string): boolean {
  const r = root.endsWith('/') && root !== '/' ? root.slice(0, -1) : root;
  return path === r || path.startsWith(r === '/' ? '/' : r + '/');
}

/**
 * Decides the layout. v1 hierarchies carrying memory, cpu or pids make it v1 (hybrid if a
 * cgroup2 mount exists too, which then only serves membership, freeze and kill); otherwise a
 * cgroup2 mount makes it v2. Only mounts at or below `root` count.
 */
export function layoutFrom(mountinfo: string, procCgroups: string | null, root?: string): CgroupLayout {
  const enabled = procCgroups === null ? null : parseEnabledControllers(procCgroups);
  const v1 = new Map<V1Controller, string>();
  let unified: string | null = null;
  for (const m of parseCgroupMounts(mountinfo)) {
    if (root !== undefined && !isUnder(m.mountPoint, root)) continue;
    if (m.fsType === 'cgroup2') {
      unified ??= m.mountPoint;
      continue;
    }
    for (const c of V1_CONTROLLERS) {
      if (!m.superOptions.includes(c) || v1.has(c)) continue;
      if (enabled !== null && !enabled.has(c)) continue;
      v1.set(c, m.mountPoint);
    }
  }
  // A v2 host may still carry a stray v1 mount of a minor controller (cpuset for some legacy
  // tool): only the main resource controllers make the host v1.
  const mainV1 = v1.has('memory') || v1.has('cpu') || v1.has('pids');
  if (mainV1 || (v1.size > 0 && unified === null)) return { version: 'v1', hybrid: unified !== null, v1, unified };
  if (unified !== null) return { version: 'v2', hybrid: false, v1: new Map(), unified };
  throw new CgroupUnsupportedError(
    `no cgroup hierarchy is mounted${root ? ` under ${root}` : ''}: mount cgroup2 at /sys/fs/cgroup ` +
      `(or the v1 controllers below it) before starting the agent`,
  );
}

export function detectLayout(opts: { root?: string; mountinfoPath?: string; procCgroupsPath?: string } = {}): CgroupLayout {
  const mountinfo = readFileSync(opts.mountinfoPath ?? '/proc/self/mountinfo', 'utf8');
  let procCgroups: string | null = null;
  try {
    procCgroups = readFileSync(opts.procCgroupsPath ?? '/proc/cgroups', 'utf8');
  } catch {
    // /proc/cgroups is optional (deprecated on some v2-only kernels); mountinfo is enough.
  }
  return layoutFrom(mountinfo, procCgroups, opts.root);
}
