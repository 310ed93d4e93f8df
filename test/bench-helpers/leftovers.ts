// Kernel objects a benchmark could leave behind: network namespaces (every lab host is one) and
// top-level cgroups named shoal* (lab hosts' and the runtime bench's parents). smoke-all.ts
// compares them before and after each benchmark.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface Leftovers {
  netns: string[];
  /** `<hierarchy>/<name>` under /sys/fs/cgroup. */
  cgroups: string[];
}

const CGROUP_ROOT = '/sys/fs/cgroup';

function dirs(path: string): string[] {
  try {
    return readdirSync(path, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export function listLeftovers(): Leftovers {
  const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n !== '');
  // cgroup v1 has one hierarchy per controller (memory, pids, ...), v2 one tree: look at both
  const hierarchies = ['', ...dirs(CGROUP_ROOT)];
  const cgroups = hierarchies.flatMap((h) => dirs(join(CGROUP_ROOT, h)).filter((n) => n.startsWith('shoal')).map((n) => (h ? `${h}/${n}` : n)));
  return { netns: netns.sort(), cgroups: [...new Set(cgroups)].sort() };
}
