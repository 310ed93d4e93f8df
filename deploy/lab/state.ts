// The lab's state file: every kernel object and directory is written here BEFORE it is made,
// so `down` (or a failed `up`) removes exactly what this lab made and nothing else.
import { mkdir, open, readFile, readdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LabConflictError, LabExistsError } from './errors.js';

export type LabObject =
  | { kind: 'dir'; path: string }
  | { kind: 'netns'; name: string }
  | { kind: 'uts'; path: string; host: string }
  | { kind: 'link'; netns: string; name: string }
  /** A cgroup parent handed to a host's runtime (SHOAL_CGROUP_PARENT); made by the runtime. */
  | { kind: 'cgroup'; name: string };

export interface HostRecord {
  name: string;
  addr: string;
  netns: string;
  uts: string;
  root: string;
  run: string;
  /** SHOAL_CGROUP_PARENT of the host: its containers' cgroups go under it. */
  cgroupParent: string;
}

export interface LabState {
  version: 1;
  name: string;
  subnet: string;
  switchNetns: string;
  switchAddr: string;
  /** creating: `up` is under way (or died); up: ready; broken: a removal failed. */
  status: 'creating' | 'up' | 'broken';
  createdAt: string;
  hosts: HostRecord[];
  objects: LabObject[];
}

export interface LabDirs {
  /** Volatile: state files and UTS namespace bind mounts. Default /run/shoal/lab. */
  stateDir: string;
  /** Per-host SHOAL_ROOT / SHOAL_RUN trees. Default /var/lib/shoal-lab. */
  dataDir: string;
}

export function defaultDirs(env: NodeJS.ProcessEnv = process.env): LabDirs {
  return {
    stateDir: env.SHOAL_LAB_STATE_DIR || '/run/shoal/lab',
    dataDir: env.SHOAL_LAB_DATA_DIR || '/var/lib/shoal-lab',
  };
}

export function labStateDir(dirs: LabDirs, lab: string): string {
  return join(dirs.stateDir, lab);
}

function stateFile(dirs: LabDirs, lab: string): string {
  return join(labStateDir(dirs, lab), 'state.json');
}

/** Creates the state file exclusively: the one place that decides "this lab already exists". */
export async function createState(dirs: LabDirs, state: LabState): Promise<void> {
  await mkdir(labStateDir(dirs, state.name), { recursive: true });
  let handle;
  try {
    handle = await open(stateFile(dirs, state.name), 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      const old = await readState(dirs, state.name).catch(() => undefined);
      const what = old ? `${old.hosts.length} host(s), ${old.status}` : 'state unreadable';
      throw new LabExistsError(
        `lab ${state.name} already exists (${what}); run \`shoal lab down --name ${state.name}\` ` +
          `first, or pick another --name`,
      );
    }
    throw err;
  }
  try {
    await handle.writeFile(JSON.stringify(state, null, 2));
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Rewrites the state atomically (rename), so a crash leaves the old or the new record. */
export async function saveState(dirs: LabDirs, state: LabState): Promise<void> {
  const file = stateFile(dirs, state.name);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(state, null, 2));
  await rename(tmp, file);
}

/** Appends objects to the record and persists it before the caller makes them. */
export async function record(dirs: LabDirs, state: LabState, ...objects: LabObject[]): Promise<void> {
  state.objects.push(...objects);
  await saveState(dirs, state);
}

export async function readState(dirs: LabDirs, lab: string): Promise<LabState | undefined> {
  let text: string;
  try {
    text = await readFile(stateFile(dirs, lab), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as LabState;
  } catch {
    // Written by rename only, so this is damage from outside; say what to clean up by hand.
    throw new LabConflictError(
      `state file ${stateFile(dirs, lab)} is not valid JSON; remove it, then remove the lab's ` +
        `namespaces (ip netns list | grep shoal-${lab}-) and directories by hand`,
    );
  }
}

export async function removeState(dirs: LabDirs, lab: string): Promise<void> {
  await rm(labStateDir(dirs, lab), { recursive: true, force: true });
  // The roots belong to the labs: once the last lab is gone, leave no empty directory behind.
  for (const root of [dirs.stateDir, dirs.dataDir]) {
    await rmdir(root).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT' && err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
    });
  }
}

export async function listLabNames(dirs: LabDirs): Promise<string[]> {
  try {
    const entries = await readdir(dirs.stateDir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
