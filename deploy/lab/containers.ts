// Cgroups of containers that hosts ran and never removed. Once a container has exited nothing
// of the lab is in its cgroup any more, so the only way there is the runtime's own record:
// container.json (agent/runtime/state.ts) under a host's SHOAL_RUN, whose `cgroup` field is a
// path relative to every hierarchy's root.
import { readFile, readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';

const CGROUP_ROOT = '/sys/fs/cgroup';
const SAFE_NAME = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;

async function findRecords(dir: string, depth: number, out: string[]): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
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
      if (SAFE_NAME.test(name) && !name.split('/').includes('..')) names.add(name);
    } catch {
      // a record half-written when its writer was killed: nothing to learn from it
    }
  }
  return [...names];
}

/** rmdir each named cgroup in every hierarchy; rmdir refuses any that is still in use. */
export async function removeContainerCgroups(names: readonly string[], log: Logger): Promise<void> {
  if (names.length === 0) return;
  const hierarchies = [CGROUP_ROOT];
  for (const e of await readdir(CGROUP_ROOT, { withFileTypes: true }).catch(() => [])) {
    if (e.isDirectory()) hierarchies.push(join(CGROUP_ROOT, e.name));
  }
  for (const name of names) {
    for (const h of hierarchies) {
      try {
        await rmdir(join(h, name));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR') log.debug({ cgroup: join(h, name), code }, 'cgroup left in place');
      }
    }
  }
}
