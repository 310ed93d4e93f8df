// Finding and stopping the processes that live in a lab's hosts. A process belongs to a lab
// if its network or UTS namespace is one of the lab's, or if it descends from such a process
// (a container's init sits in a namespace of its own, under a shim that sits in the host's).
import { readFile, readdir, readlink, stat } from 'node:fs/promises';
import { hasCode } from '../../proto/undo.js';

interface ProcInfo {
  pid: number;
  ppid: number;
  state: string;
  /** Start time in clock ticks: tells a tracked process from a later one with its pid. */
  start: string;
}

async function readProc(pid: number): Promise<ProcInfo | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // comm may contain spaces and parentheses: fields resume after the last ')'.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { pid, ppid: Number(rest[1]), state: rest[0]!, start: rest[19]! };
  } catch (err) {
    if (!hasCode(err, ['ENOENT', 'ESRCH', 'EACCES'])) throw err; // gone, or not ours to inspect
    return undefined;
  }
}

async function allPids(): Promise<number[]> {
  const names = await readdir('/proc');
  return names.filter((n) => /^\d+$/.test(n)).map(Number);
}

/** Namespace inode of a bind-mounted namespace file (or undefined when it is gone). */
export async function nsInode(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).ino;
  } catch (err) {
    if (!hasCode(err, ['ENOENT'])) throw err;
    return undefined;
  }
}

async function nsOf(pid: number, kind: 'net' | 'uts'): Promise<number | undefined> {
  try {
    const link = await readlink(`/proc/${pid}/ns/${kind}`);
    const m = /\[(\d+)\]/.exec(link);
    return m ? Number(m[1]) : undefined;
  } catch (err) {
    if (!hasCode(err, ['ENOENT', 'ESRCH', 'EACCES'])) throw err; // gone, or not ours to inspect
    return undefined;
  }
}

/** Our own process and its ancestors: `shoal lab down` run from inside a host must not kill itself. */
async function selfAndAncestors(): Promise<Set<number>> {
  const keep = new Set<number>();
  let pid = process.pid;
  while (pid > 1 && !keep.has(pid)) {
    keep.add(pid);
    const info = await readProc(pid);
    if (!info) break;
    pid = info.ppid;
  }
  return keep;
}

/** What marks a process as the lab's: its namespaces, or a cgroup the lab's hosts own. */
export interface LabMarks {
  /** Inodes of the hosts' (and the switch's) network and UTS namespaces. */
  nsInodes: ReadonlySet<number>;
  /** cgroup names (relative to each hierarchy, no leading '/'): members of them or below them. */
  cgroups: readonly string[];
}

async function inLabCgroup(pid: number, names: readonly string[]): Promise<boolean> {
  if (names.length === 0) return false;
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/cgroup`, 'utf8');
  } catch (err) {
    if (!hasCode(err, ['ENOENT', 'ESRCH', 'EACCES'])) throw err; // gone, or not ours to inspect
    return false;
  }
  return text.split('\n').some((line) => {
    const path = line.split(':').slice(2).join(':').replace(/^\/+/, '');
    return names.some((n) => path === n || path.startsWith(`${n}/`));
  });
}

/** pid -> start time of the processes a lab owns; kept across scans by stopLabProcesses. */
export type Tracked = Map<number, string>;

/**
 * Adds to `tracked` the live processes in any of the namespaces plus all their descendants,
 * drops tracked ones that have exited, and returns the live tracked pids. Tracking matters:
 * once a shim dies its container's init is re-parented and no longer looks like ours.
 */
export async function findLabProcesses(marks: LabMarks, tracked: Tracked = new Map()): Promise<number[]> {
  const { nsInodes } = marks;
  const keep = await selfAndAncestors();
  const infos = (await Promise.all((await allPids()).map(readProc))).filter(
    (p): p is ProcInfo => p !== undefined && p.state !== 'Z' && p.state !== 'X',
  );
  const live = new Map(infos.map((p) => [p.pid, p]));
  for (const [pid, start] of tracked) {
    if (live.get(pid)?.start !== start) tracked.delete(pid);
  }
  const children = new Map<number, ProcInfo[]>();
  for (const p of infos) {
    const list = children.get(p.ppid) ?? [];
    list.push(p);
    children.set(p.ppid, list);
  }
  const queue: ProcInfo[] = [];
  const add = (p: ProcInfo) => {
    if (keep.has(p.pid)) return;
    if (!tracked.has(p.pid)) tracked.set(p.pid, p.start);
    queue.push(p);
  };
  for (const p of infos) {
    if (tracked.has(p.pid)) {
      queue.push(p);
      continue;
    }
    const net = await nsOf(p.pid, 'net');
    const uts = await nsOf(p.pid, 'uts');
    if ((net !== undefined && nsInodes.has(net)) || (uts !== undefined && nsInodes.has(uts))) add(p);
    // A container whose shim died has been re-parented and has namespaces of its own: only
    // its cgroup (under a host's SHOAL_CGROUP_PARENT, or named in a container record) tells.
    else if (await inLabCgroup(p.pid, marks.cgroups)) add(p);
  }
  const visited = new Set<number>();
  while (queue.length > 0) {
    const p = queue.pop()!;
    if (visited.has(p.pid)) continue;
    visited.add(p.pid);
    for (const child of children.get(p.pid) ?? []) add(child);
  }
  return [...tracked.keys()].sort((a, b) => a - b);
}

let unified: string | undefined;

/** cgroup2 sits at /sys/fs/cgroup on v2 hosts and at /sys/fs/cgroup/unified on hybrid ones. */
async function unifiedMount(): Promise<string> {
  if (unified === undefined) {
    unified = (await stat('/sys/fs/cgroup/cgroup.controllers').then(() => true, () => false)) ? '' : 'unified';
  }
  return unified;
}

/** The cgroup directories (v1 and v2) a process is in, as paths under /sys/fs/cgroup. */
export async function cgroupDirsOf(pid: number): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/cgroup`, 'utf8');
  } catch (err) {
    if (!hasCode(err, ['ENOENT', 'ESRCH', 'EACCES'])) throw err; // gone, or not ours to inspect
    return [];
  }
  const dirs: string[] = [];
  for (const line of text.trim().split('\n')) {
    const [, controllers, path] = line.split(':', 3) as [string, string, string];
    if (!path || path === '/') continue;
    const mount = controllers === '' ? await unifiedMount() : controllers.replace(/^name=/, '');
    dirs.push(`/sys/fs/cgroup${mount ? `/${mount}` : ''}${path}`);
  }
  return dirs;
}

function signal(pids: readonly number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch (err) {
      if (!hasCode(err, ['ESRCH'])) throw err;
      // already gone
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface StoppedProcesses {
  pids: number[];
  /** cgroup directories those processes were in when first seen. */
  cgroups: string[];
}

/**
 * SIGTERM everything in the namespaces, wait up to graceMs, then SIGKILL until nothing is
 * left (a process may fork while we look).
 */
export async function stopLabProcesses(marks: LabMarks, graceMs: number): Promise<StoppedProcesses> {
  const tracked: Tracked = new Map();
  const seen = new Set<number>();
  const cgroups = new Set<string>();
  const scan = async () => {
    const pids = await findLabProcesses(marks, tracked);
    for (const pid of pids) {
      if (seen.has(pid)) continue;
      seen.add(pid);
      (await cgroupDirsOf(pid)).forEach((d) => cgroups.add(d));
    }
    return pids;
  };
  let pids = await scan();
  if (pids.length > 0) signal(pids, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pids.length > 0 && Date.now() < deadline) {
    await sleep(50);
    pids = await scan();
  }
  for (let round = 0; pids.length > 0 && round < 100; round++) {
    signal(pids, 'SIGKILL');
    await sleep(20);
    pids = await scan();
  }
  if (pids.length > 0) throw new Error(`processes ${pids.join(', ')} survived SIGKILL`);
  return { pids: [...seen], cgroups: [...cgroups] };
}
