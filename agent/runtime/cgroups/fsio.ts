// Reading and writing cgroup control files. Kernel errors are rethrown naming file and value,
// since a bare EINVAL from a write says nothing about which limit was refused.
// These files live in memory and answer in microseconds, so the calls are synchronous: a trip
// through libuv's thread pool costs more than the call itself (a create() made ~20 of them).
// The exceptions block in the kernel: moving tasks (cgroup.procs, tasks, cgroup.threads) and
// enabling controllers (cgroup.subtree_control) take the global threadgroup lock, whose first
// writer waits for an RCU grace period (10-20 ms); those stay off the event loop.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';

export class CgroupFileError extends Error {
  constructor(
    readonly path: string,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'CgroupFileError';
  }
}

export function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

const MAY_BLOCK = new Set(['cgroup.procs', 'tasks', 'cgroup.threads', 'cgroup.subtree_control']);

export async function writeControl(path: string, value: string): Promise<void> {
  try {
    if (MAY_BLOCK.has(basename(path))) await writeFile(path, value);
    else writeFileSync(path, value);
  } catch (err) {
    throw new CgroupFileError(path, errCode(err), `writing ${JSON.stringify(value)} to ${path}: ${(err as Error).message}`);
  }
}

export async function readControl(path: string): Promise<string> {
  return readFileSync(path, 'utf8').trim();
}

/** The file's text, or null when the file does not exist (controller absent or not enabled). */
export async function readOptional(path: string): Promise<string | null> {
  try {
    return await readControl(path);
  } catch (err) {
    if (errCode(err) === 'ENOENT') return null;
    throw err;
  }
}

/** "key value" lines (memory.stat, cpu.stat, memory.events, memory.oom_control). */
export function parseKeyed(text: string | null): Map<string, bigint> {
  const out = new Map<string, bigint>();
  if (text === null) return out;
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v && /^\d+$/.test(v)) out.set(k, BigInt(v));
  }
  return out;
}

export function parsePidList(text: string | null): number[] {
  if (text === null || text === '') return [];
  return text.split('\n').filter((l) => l !== '').map(Number);
}

export function fileExists(path: string): boolean {
  return existsSync(path);
}

/** mkdir that reports whether it made the directory (false: it already existed). */
export async function makeDir(path: string): Promise<boolean> {
  try {
    mkdirSync(path);
    return true;
  } catch (err) {
    if (errCode(err) === 'EEXIST') return false;
    throw new CgroupFileError(path, errCode(err), `creating cgroup ${path}: ${(err as Error).message}`);
  }
}

/** rmdir; 'gone' if it did not exist, 'busy' if it still has processes or children. */
export async function removeDir(path: string): Promise<'removed' | 'gone' | 'busy'> {
  try {
    rmdirSync(path);
    return 'removed';
  } catch (err) {
    const code = errCode(err);
    if (code === 'ENOENT') return 'gone';
    if (code === 'EBUSY' || code === 'ENOTEMPTY' || code === 'EEXIST') return 'busy';
    throw new CgroupFileError(path, code, `removing cgroup ${path}: ${(err as Error).message}`);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
