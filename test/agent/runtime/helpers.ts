// Shared set-up of the runtime tests: a busybox layer made from the host's static busybox, a
// runtime with its own temp state dir and a `shoalrt-*` cgroup parent, and a teardown that
// removes every container and checks nothing is left behind.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, copyFileSync, symlinkSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { pino } from 'pino';
import { ContainerRuntime } from '../../../agent/runtime/index.js';
import { detectCgroups } from '../../../agent/runtime/cgroups/index.js';

export interface Fixture {
  root: string;
  layer: string;
  stateDir: string;
  cgroupParent: string;
  runtime: ContainerRuntime;
  cleanup(): Promise<void>;
}

/** A layer dir holding /bin/busybox and its applet links, plus /etc/passwd and /etc/group. */
export function makeBusyboxLayer(dir: string): string {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'etc'));
  mkdirSync(join(dir, 'tmp'), { mode: 0o1777 });
  copyFileSync('/bin/busybox', join(dir, 'bin', 'busybox'));
  execFileSync('chmod', ['755', join(dir, 'bin', 'busybox')]);
  const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
  for (const a of applets) symlinkSync('busybox', join(dir, 'bin', a));
  execFileSync('sh', ['-c', `printf 'root:x:0:0:root:/root:/bin/sh\\nnobody:x:65534:65534:nobody:/:/bin/sh\\napp:x:1000:1000::/home/app:/bin/sh\\n' > ${dir}/etc/passwd`]);
  execFileSync('sh', ['-c', `printf 'root:x:0:\\nnogroup:x:65534:\\napp:x:1000:\\nextra:x:2000:app\\n' > ${dir}/etc/group`]);
  return dir;
}

export function makeFixture(tag: string): Fixture {
  const root = mkdtempSync(join(tmpdir(), `shoalrt-${tag}-`));
  const layer = makeBusyboxLayer(join(root, 'layer'));
  const stateDir = join(root, 'state');
  const cgroupParent = `shoalrt-${tag}-${process.pid}`;
  const logger = pino({ level: 'warn' });
  const cgroups = detectCgroups({ logger });
  const runtime = new ContainerRuntime({ stateDir, cgroupParent, cgroups, logger });
  return {
    root,
    layer,
    stateDir,
    cgroupParent,
    runtime,
    async cleanup() {
      for (const c of await runtime.list()) await runtime.remove(c.id, { force: true }).catch(() => undefined);
      // containers' cgroups go with them; the shared parent stays in production, not here
      await cgroups.open(cgroupParent)?.remove();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Cgroup directories named after `parent` anywhere under /sys/fs/cgroup. */
export function leftoverCgroups(parent: string): string[] {
  const found: string[] = [];
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const base = join('/sys/fs/cgroup', h);
    const check = (d: string): void => {
      if (existsSync(join(d, parent))) found.push(join(d, parent));
    };
    check(base);
    // the test itself may sit in a nested cgroup (e.g. memory:/process_api/...)
    try {
      const self = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.split(':')[1]?.split(',').includes(h));
      if (self) check(join(base, self.split(':')[2]!));
    } catch {
      // not a v1 controller name
    }
  }
  return [...new Set(found)];
}

/** Mounts whose source or target mentions `needle`. */
export function leftoverMounts(needle: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(needle));
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
