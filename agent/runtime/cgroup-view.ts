// What a container sees under /sys/fs/cgroup: each hierarchy its cgroup lives in, mounted the
// way the host mounts it (so v1, v2 and hybrid hosts all work). The shim mounts them read-only
// inside the container's cgroup namespace, which roots each one at the container's own cgroup.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

export interface CgroupMount {
  dir: string;
  fstype: string;
  options: string;
}

// mount options that describe the hierarchy, as opposed to per-mount flags
const NOT_HIERARCHY = new Set(['rw', 'ro', 'clone_children', 'noprefix', 'xattr', 'nsdelegate', 'memory_recursiveprot', 'memory_localevents', 'favordynmods']);

export function cgroupMountsFor(paths: string[], mountinfo = '/proc/self/mountinfo'): CgroupMount[] {
  const mounts = readFileSync(mountinfo, 'utf8')
    .split('\n')
    .map((l) => {
      const [pre, post] = l.split(' - ');
      if (!pre || !post) return null;
      const [fstype = '', , superOpts = ''] = post.split(' ');
      return { point: pre.split(' ')[4] ?? '', fstype, superOpts };
    })
    .filter((m): m is { point: string; fstype: string; superOpts: string } => m !== null && (m.fstype === 'cgroup' || m.fstype === 'cgroup2'));
  const out: CgroupMount[] = [];
  for (const p of paths) {
    const m = mounts.filter((x) => p === x.point || p.startsWith(`${x.point}/`)).sort((a, b) => b.point.length - a.point.length)[0];
    if (!m) continue;
    const options = m.superOpts.split(',').filter((o) => !NOT_HIERARCHY.has(o) && !o.startsWith('release_agent')).join(',');
    // a pure v2 host mounts cgroup2 at /sys/fs/cgroup itself; the container sees it the same way
    const dir = m.fstype === 'cgroup2' && m.point === '/sys/fs/cgroup' ? '' : basename(m.point);
    if (!out.some((o) => o.dir === dir)) out.push({ dir, fstype: m.fstype, options: m.fstype === 'cgroup2' ? '' : options });
  }
  return out;
}
