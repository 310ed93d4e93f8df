// Mounts the agent makes in the host's mount namespace (a tmpfs per task for secrets, a
// temporary overlay for a volume's copy-up). Node has no mount(2): the util-linux tools do it,
// once per task, which costs a few milliseconds next to a container start.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points in this process's mount namespace at `path` or below it. */
export function mountsUnder(path: string): string[] {
  const root = resolve(path);
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (mp === undefined) continue;
    const p = unescape(mp);
    if (p === root || p.startsWith(`${root}/`)) out.push(p);
  }
  return out;
}

export function isMountPoint(path: string): boolean {
  const root = resolve(path);
  return mountsUnder(root).includes(root);
}

async function tool(cmd: string, args: string[]): Promise<void> {
  try {
    await run(cmd, args, { timeout: 30_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(e.stderr || e.message).trim()}`);
  }
}

/** `source` names the mount in findmnt and /proc/mounts (shoal's objects carry shoal names). */
export async function mountFs(type: string, source: string, target: string, options: string): Promise<void> {
  await tool('mount', ['-t', type, '-o', options, source, target]);
}

/** Unmounts everything at and below `path` (deepest first); nothing if nothing is mounted. */
export async function unmountAll(path: string): Promise<void> {
  // a mount may be stacked on itself; ten rounds end any sane pile
  for (let round = 0; round < 10; round++) {
    const mps = mountsUnder(path).sort((a, b) => b.length - a.length);
    if (mps.length === 0) return;
    for (const mp of mps) await tool('umount', [mp]).catch((err: unknown) => {
      // gone meanwhile (another remover) is fine; anything else is reported after the rounds
      if (isMountPoint(mp)) throw err;
    });
  }
  if (mountsUnder(path).length) throw new Error(`mounts under ${path} remain after unmounting: ${mountsUnder(path).join(', ')}`);
}
