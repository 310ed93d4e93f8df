// Removing a lab: exactly the objects its state file records, in an order that cannot leave
// anything behind: processes first (they pin namespaces, mounts and cgroups), then the
// cgroups they held, mounts under the lab's directories, then links, namespaces, cgroup
// parents and directories, newest first. README.md lists the steps.
import { readFile, rm, rmdir } from 'node:fs/promises';
import type { Logger } from 'pino';
import { containerCgroups, removeCgroupTree, removeContainerCgroups } from './containers.js';
import { deleteNetns, exists, ipBatch, mustRun, netnsPath, unmount } from './kernel.js';
import { LabCommandError } from './errors.js';
import { nsInode, stopLabProcesses } from './procs.js';
import type { LabObject, LabState } from './state.js';

export interface TeardownReport {
  /** Processes that were still running in the lab's hosts and were stopped. */
  killed: number;
  /** Recorded objects that were removed (or found already gone). */
  removed: number;
  /** Objects that could not be removed, with the reason; empty on success. */
  residue: string[];
}

export async function teardown(state: LabState, log: Logger, graceMs = 2000): Promise<TeardownReport> {
  const residue: string[] = [];
  const inodes = new Set<number>();
  for (const obj of state.objects) {
    const path = obj.kind === 'netns' ? netnsPath(obj.name) : obj.kind === 'uts' ? obj.path : undefined;
    const ino = path ? await nsInode(path) : undefined;
    // A path that is not (or no longer) a namespace mount has an ordinary inode: skip it.
    if (ino !== undefined && path && (await isNsfs(path))) inodes.add(ino);
  }
  const recorded = await containerCgroups(state.hosts.map((h) => h.run));
  const parents = state.objects.flatMap((o) => (o.kind === 'cgroup' ? [o.name] : []));
  const marks = { nsInodes: inodes, cgroups: [...parents, ...recorded] };
  // A process stuck in the kernel (D state) can outlive SIGKILL for a while; the rest of the
  // lab is still removed and the process is reported, so `down` again can finish the job.
  const stopped = await stopLabProcesses(marks, graceMs).catch((err: Error) => {
    residue.push(err.message);
    return { pids: [], cgroups: [] };
  });
  if (stopped.pids.length > 0) log.info({ lab: state.name, pids: stopped.pids }, 'stopped lab processes');
  await removeShoalCgroups(stopped.cgroups, log);
  await removeContainerCgroups(recorded, log);

  const dirs = state.objects.filter((o): o is Extract<LabObject, { kind: 'dir' }> => o.kind === 'dir');
  await unmountUnder(dirs.map((d) => d.path), residue);

  // Links go in one batch per namespace; -force keeps going past ones already gone.
  const links = new Map<string, string[]>();
  for (const o of state.objects) {
    if (o.kind === 'link') links.set(o.netns, [...(links.get(o.netns) ?? []), `link del ${o.name}`]);
  }
  for (const [ns, lines] of links) {
    if (!(await exists(netnsPath(ns)))) continue;
    await ipBatch(ns, lines, true).catch((err: unknown) => {
      // missing links are fine; anything else is a leak the report below will show: say why
      const real = err instanceof LabCommandError ? err.stderr.split('\n').filter((l) => l.trim() && !/Cannot find device|No such device|Command failed/.test(l)) : [String(err)];
      if (real.length > 0) log.warn({ lab: state.name, netns: ns, err: real.join('; ') }, 'teardown: could not delete links');
    });
  }

  let removed = 0;
  for (const obj of [...state.objects].reverse()) {
    try {
      await removeObject(obj, log);
      removed++;
    } catch (err) {
      residue.push(`${describe(obj)}: ${(err as Error).message}`);
    }
  }
  log.info({ lab: state.name, removed, residue }, 'lab removed');
  return { killed: stopped.pids.length, removed, residue };
}

async function removeObject(obj: LabObject, log: Logger): Promise<void> {
  switch (obj.kind) {
    case 'link':
      return; // removed in the batch above, or with its namespace
    case 'cgroup':
      return removeCgroupTree(obj.name, log);
    case 'netns':
      return deleteNetns(obj.name);
    case 'uts':
      if (!(await exists(obj.path))) return;
      await unmount(obj.path);
      await rm(obj.path, { force: true });
      return;
    case 'dir':
      if (!(await exists(obj.path))) return;
      // --one-file-system: never follow into a mount we failed to detach.
      await mustRun(['rm', '-rf', '--one-file-system', '--', obj.path]);
      return;
  }
}

export function describe(obj: LabObject): string {
  switch (obj.kind) {
    case 'dir':
      return `directory ${obj.path}`;
    case 'netns':
      return `netns ${obj.name}`;
    case 'uts':
      return `uts namespace mount ${obj.path}`;
    case 'link':
      return `link ${obj.name} in ${obj.netns}`;
    case 'cgroup':
      return `cgroup tree ${obj.name}`;
  }
}

async function isNsfs(path: string): Promise<boolean> {
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  const escaped = path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return mounts.split('\n').some((l) => l.split(' ')[4] === escaped && / - nsfs /.test(l));
}

/** Mounts that hosts' daemons left under the lab's directories (overlay rootfs, binds), deepest first. */
async function unmountUnder(roots: readonly string[], residue: string[]): Promise<void> {
  if (roots.length === 0) return;
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8'))
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => roots.some((r) => p === r || p.startsWith(`${r}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    try {
      await unmount(m);
    } catch (err) {
      residue.push(`mount ${m}: ${(err as Error).message}`);
    }
  }
}

/**
 * Containers started in a host leave cgroups behind when their shim is killed. Only cgroups
 * named for shoal that held one of the lab's processes are removed, and rmdir refuses any
 * that still has processes or children, so nobody else's cgroup can go.
 */
async function removeShoalCgroups(dirs: readonly string[], log: Logger): Promise<void> {
  const ours = dirs.filter((d) => /shoal/.test(d.slice('/sys/fs/cgroup/'.length)));
  for (const dir of ours.sort((a, b) => b.length - a.length)) {
    try {
      await rmdir(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') log.debug({ dir, code }, 'cgroup left in place');
    }
  }
}
