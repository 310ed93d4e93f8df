// The kernel operations of a lab, done through iproute2 and util-linux (present on every
// host shoal supports). Configuration of many hosts goes through `ip -batch`, one process per
// namespace rather than one per address or route.
import { spawnRunner, type CommandResult } from '../../overlay-net/kernel.js';
import { access, writeFile } from 'node:fs/promises';
import { LabCommandError } from './errors.js';

export type { CommandResult } from '../../overlay-net/kernel.js';

/** Runs argv (with LC_ALL=C: some failures are told apart by their English message, e.g. "not
 * mounted"); a command that exits early reports through its code. */
export function runCommand(argv: readonly string[], input?: string): Promise<CommandResult> {
  return spawnRunner(argv, input);
}

/** Runs a command that must succeed; throws LabCommandError with its stderr otherwise. */
export async function mustRun(argv: readonly string[], input?: string): Promise<string> {
  const r = await runCommand(argv, input);
  if (r.code !== 0) throw new LabCommandError(argv, r.code, r.stderr);
  return r.stdout;
}

export const NETNS_DIR = '/run/netns';

export function netnsPath(name: string): string {
  return `${NETNS_DIR}/${name}`;
}

export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

export async function addNetns(name: string): Promise<void> {
  await mustRun(['ip', 'netns', 'add', name]);
}

/** Deletes a named netns; a missing one is not an error (down is idempotent). */
export async function deleteNetns(name: string): Promise<void> {
  if (!(await exists(netnsPath(name)))) return;
  await mustRun(['ip', 'netns', 'del', name]);
}

/** Runs `ip` commands inside a named netns in one process; stops at the first failure. */
export async function ipBatch(netns: string, lines: readonly string[], force = false): Promise<void> {
  if (lines.length === 0) return;
  const argv = ['ip', '-n', netns, ...(force ? ['-force'] : []), '-batch', '-'];
  await mustRun(argv, lines.join('\n') + '\n');
}

/**
 * Makes a UTS namespace with its own hostname, kept alive by a bind mount on `path` (no
 * holder process to track): unshare mounts the namespace file there, then sets the name.
 */
export async function addUtsNamespace(path: string, hostname: string): Promise<void> {
  await writeFile(path, '', { flag: 'a' });
  await mustRun(['unshare', `--uts=${path}`, 'hostname', hostname]);
}

/** Unmounts a path if it is a mount point; quiet when it is not. */
export async function unmount(path: string): Promise<void> {
  const r = await runCommand(['umount', path]);
  if (r.code === 0) return;
  if (/not mounted|no mount point|not found|No such file/i.test(r.stderr)) return;
  // A busy mount is detached now and freed when its last user goes: the lab must not linger.
  await mustRun(['umount', '--lazy', path]);
}
