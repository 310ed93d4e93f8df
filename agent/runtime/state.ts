// The on-disk record of each container, under <stateDir>/<id>/. The shim writes shim.pid,
// init.pid, container.log* and exit.json; we write container.json. Any process can rebuild the
// whole picture from these files, which is what adoption after an agent restart relies on.
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { constants } from 'node:os';
import type { ContainerInfo, ContainerSpec, ContainerState, ExitStatus } from './types.js';
import { hasCode } from '../../proto/undo.js';

export interface ContainerRecord {
  id: string;
  name: string;
  createdAt: string;
  cgroup: string;
  /** v1 devices cgroup directory, when the host has that controller */
  devicesCgroup?: string;
  spec: ContainerSpec;
  startedAt?: string;
  pid?: number;
  /** /proc/PID/stat start time of the init, so a recycled pid is never mistaken for it */
  pidStart?: string;
}

export const files = {
  record: 'container.json',
  exit: 'exit.json',
  shimPid: 'shim.pid',
  initPid: 'init.pid',
  log: 'container.log',
  shimConfig: 'shim.conf',
  rootfs: 'rootfs',
  upper: 'upper',
  work: 'work',
} as const;

// Through the thread pool: reading these tiny files synchronously costs microseconds, but
// creating one waits for the disk's journal, milliseconds on a busy host, which the event loop
// should not spend blocked while it starts other containers.
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFile(`${path}.tmp`, JSON.stringify(value, null, 2) + '\n');
  await rename(`${path}.tmp`, path);
}

/**
 * container.json, completed with the start the supervisor recorded in init.pid ("PID
 * START_TICKS STARTED_AT"): rewriting container.json on every start replaced a file on the
 * host's disk, which ext4 follows with a flush of the new data (its rename-over-existing
 * heuristic) and which cost milliseconds of blocked event loop per start on a busy disk.
 * Records of older runtimes carry pid, pidStart and startedAt themselves.
 */
export async function readRecord(dir: string): Promise<ContainerRecord | null> {
  let rec: ContainerRecord;
  try {
    rec = JSON.parse(readFileSync(join(dir, files.record), 'utf8')) as ContainerRecord;
  } catch (err) {
    if (!hasCode(err, ['ENOENT', 'ENOTDIR', 'SyntaxError'])) throw err;
    return null;
  }
  if (rec.pid === undefined) {
    const init = readInitFile(dir);
    if (init) {
      rec.pid = init.pid;
      rec.pidStart = init.pidStart;
      rec.startedAt = init.startedAt;
    }
  }
  return rec;
}

/** init.pid when it has all three fields (older supervisors wrote the pid alone). */
function readInitFile(dir: string): { pid: number; pidStart: string; startedAt: string } | null {
  let text: string;
  try {
    text = readFileSync(join(dir, files.initPid), 'utf8');
  } catch (err) {
    if (!hasCode(err, ['ENOENT'])) throw err;
    return null;
  }
  const [pid, pidStart, startedAt] = text.trim().split(' ');
  const n = Number(pid);
  if (!Number.isSafeInteger(n) || n <= 0 || !pidStart || !startedAt) return null;
  // "-": the supervisor could not read the start time; the init is then not taken for alive
  return { pid: n, pidStart: pidStart === '-' ? 'unknown' : pidStart, startedAt };
}

const signalNames = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, num]) => [num, name as NodeJS.Signals]),
);

export async function readExit(dir: string): Promise<ExitStatus | null> {
  let raw: { code: number; signal: number; oomKilled: boolean; finishedAt: string };
  try {
    raw = JSON.parse(readFileSync(join(dir, files.exit), 'utf8')) as typeof raw;
  } catch (err) {
    if (!hasCode(err, ['ENOENT', 'SyntaxError'])) throw err;
    return null;
  }
  return {
    code: raw.code,
    signal: raw.signal ? (signalNames.get(raw.signal) ?? null) : null,
    oomKilled: raw.oomKilled,
    finishedAt: raw.finishedAt,
  };
}

/** Field 22 of /proc/PID/stat (start time in clock ticks), or null if there is no such process. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch (err) {
    if (!hasCode(err, ['ENOENT', 'ESRCH'])) throw err;
    return null;
  }
}

export async function readPidFile(dir: string, name: string): Promise<number | null> {
  try {
    // the first field: init.pid carries more after it
    const n = Number(readFileSync(join(dir, name), 'utf8').trim().split(' ')[0]);
    return Number.isSafeInteger(n) && n > 0 ? n : null;
  } catch (err) {
    if (!hasCode(err, ['ENOENT'])) throw err;
    return null;
  }
}

export function initAlive(rec: ContainerRecord): boolean {
  return rec.pid !== undefined && rec.pidStart !== undefined && processStartTime(rec.pid) === rec.pidStart;
}

export async function shimAlive(dir: string): Promise<boolean> {
  const pid = await readPidFile(dir, files.shimPid);
  if (pid === null) return false;
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes('shoal-shim') && cmd.includes(dir);
  } catch (err) {
    if (!hasCode(err, ['ENOENT', 'ESRCH'])) throw err;
    return false;
  }
}

/** The container as a caller sees it, derived from the files alone. */
export async function describe(dir: string, rec: ContainerRecord): Promise<ContainerInfo> {
  const exit = await readExit(dir);
  // init.pid is the supervisor's own record: it covers a starter that died before writing ours
  const pid = rec.pid ?? (await readPidFile(dir, files.initPid)) ?? undefined;
  let state: ContainerState = 'created';
  if (exit) state = 'exited';
  else if (pid !== undefined) state = (rec.pid !== undefined && initAlive(rec)) || (await shimAlive(dir)) ? 'running' : 'exited';
  return {
    id: rec.id,
    name: rec.name,
    state,
    pid: state === 'running' ? (pid ?? null) : null,
    createdAt: rec.createdAt,
    startedAt: rec.startedAt ?? null,
    exit: exit ?? (state === 'exited' ? lostExit() : null),
    cgroup: rec.cgroup,
    spec: rec.spec,
  };
}

/** A container whose supervisor died without recording the exit (e.g. it was SIGKILLed). */
export function lostExit(): ExitStatus {
  return { code: 255, signal: null, oomKilled: false, finishedAt: new Date().toISOString() };
}
