// Cgroups of containers that hosts ran and never removed. Once a container has exited nothing
// of the lab is in its cgroup any more, so the only way there is the runtime's own record:
// container.json (agent/runtime/state.ts) under a host's SHOAL_RUN, whose `cgroup` field is a
// path relative to every hierarchy's root.
import { readFile, readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { hasCode } from '../../proto/undo.js';

const SAFE_NAME = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;

async function findRecords(dir: string, depth: number, out: string[]): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (!hasCode(err, ['ENOENT', 'ENOTDIR'])) throw err;
    return;
  }
  for (const e of entries) {
    if (e.isFile() && e.name === 'container.json') out.push(join(dir, e.name));
    // Dirent says what the entry itself is, so symlinks are never followed.
    else if (e.isDirectory() && depth > 0 && e.name !== 'rootfs') await findRecords(join(dir, e.name), depth - 1, out);
  }
}

/** cgroup names recorded by containers under the given run directories. */
export async function containerCgroups(runDirs: readonly string[]): Promise<string[]> {
  const records: string[] = [];
  for (const d of runDirs) await findRecords(d, 4, records);
  const names = new Set<string>();
  for (const file of records) {
    try {
      const cg = (JSON.parse(await readFile(file, 'utf8')) as { cgroup?: unknown }).cgroup;
      const name = typeof cg === 'string' ? cg.replace(/^\/+/, '') : '';
      // The runtime names a container's cgroup <parent>/<64-hex id>; anything else is not
      // trusted, since these names decide which processes down kills.
      if (SAFE_NAME.test(name) && /\/[0-9a-f]{64}$/.test(name) && !name.split('/').includes('..')) names.add(name);
    } catch (err) {
      if (!hasCode(err, ['ENOENT', 'SyntaxError'])) throw err;
      // a record half-written when its writer was killed: nothing to learn from it
    }
  }
  return [...names];
}

/** Mount points of every cgroup hierarchy (v1 controllers and cgroup2), from mountinfo. */
export async function cgroupHierarchies(): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const points = new Set<string>();
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    const fstype = right?.split(' ')[0];
    if (fstype === 'cgroup' || fstype === 'cgroup2') points.add(left!.split(' ')[4]!);
  }
  return [...points];
}

/**
 * rmdir a cgroup; EBUSY right after its last process was killed is retried for a while,
 * since the kernel releases exiting tasks lazily. Returns false if it is still there.
 */
async function rmdirCgroup(dir: string, log: Logger): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rmdir(dir);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return true;
      if (code !== 'EBUSY' || attempt >= 40) {
        log.debug({ cgroup: dir, code }, 'cgroup left in place');
        return false;
      }
      await sleep(50);
    }
  }
}

/** rmdir each named cgroup in every hierarchy; rmdir refuses any that is still in use. */
export async function removeContainerCgroups(names: readonly string[], log: Logger): Promise<void> {
  if (names.length === 0) return;
  const hierarchies = await cgroupHierarchies();
  for (const name of names) for (const h of hierarchies) await rmdirCgroup(join(h, name), log);
}

/**
 * Removes a cgroup subtree the lab owns (a host's SHOAL_CGROUP_PARENT) in every hierarchy,
 * children first. Cgroup directories hold only control files, which rmdir ignores.
 */
export async function removeCgroupTree(name: string, log: Logger): Promise<void> {
  const left: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory()) await walk(join(dir, e.name));
    if (!(await rmdirCgroup(dir, log))) left.push(dir);
  };
  for (const h of await cgroupHierarchies()) await walk(join(h, name));
  if (left.length > 0) throw new Error(`cgroups still in use: ${left.join(', ')}`);
}
