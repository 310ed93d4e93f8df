// Which device nodes a container may open. On cgroup v1 the `devices` controller holds the
// allow-list: the standard /dev nodes and ptys only; creating nodes stays allowed (as Docker
// does) but opening any other device fails with EPERM, so CAP_MKNOD cannot reach host disks.
// The cgroup layer does not manage this controller, so the runtime does, beside it. On a v2
// host the shim attaches the same allow-list as a BPF program (native/shim/devices.c).
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { hasCode, undoFailed } from '../../proto/undo.js';

const ALLOWED = [
  'c *:* m', // mknod of any node, as Docker allows; opening is what the list guards
  'b *:* m',
  'c 1:3 rwm', // null
  'c 1:5 rwm', // zero
  'c 1:7 rwm', // full
  'c 1:8 rwm', // random
  'c 1:9 rwm', // urandom
  'c 5:0 rwm', // tty
  'c 5:1 rwm', // console
  'c 5:2 rwm', // ptmx
  'c 136:* rwm', // pts/*
];

/** The v1 devices hierarchy's mount point, or null when there is none (v2 hosts). */
export function devicesMount(mountinfo = '/proc/self/mountinfo'): string | null {
  for (const line of readFileSync(mountinfo, 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const [fstype, , opts = ''] = post.split(' ');
    if (fstype === 'cgroup' && opts.split(',').includes('devices')) return pre.split(' ')[4] ?? null;
  }
  return null;
}

/** Creates `<mount>/<name>` with the allow-list; returns its directory. */
export async function createDeviceCgroup(mount: string, name: string): Promise<string> {
  const dir = join(mount, name);
  for (let attempt = 0; ; attempt++) {
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'devices.deny'), 'a');
      break;
    } catch (err) {
      // another container's removal may take the shared parent away mid-way: try again
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 3) throw err;
    }
  }
  // one rule per write is what the kernel accepts; these are in-memory files, so stay synchronous
  for (const rule of ALLOWED) writeFileSync(join(dir, 'devices.allow'), rule);
  return dir;
}

/** Removes the container's devices cgroup and its parent if that is now empty; idempotent. */
export async function removeDeviceCgroup(dir: string): Promise<void> {
  for (let i = 0; i < 50 && existsSync(dir); i++) {
    try {
      rmdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EBUSY') throw err;
      await new Promise((r) => setTimeout(r, 5)); // tasks of the container still exiting
    }
  }
  try {
    rmdirSync(dirname(dir)); // the shared parent: fails while other containers use it
  } catch (err) {
    if (!hasCode(err, ['EBUSY', 'ENOTEMPTY', 'ENOENT'])) undoFailed(err, { what: `remove devices cgroup parent ${dirname(dir)}` });
  }
}
