// Shared by the lab tests: private state/data directories per test file, and the residue
// check that says a lab left nothing behind.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LabDirs } from '../../deploy/lab/lab.js';

export function tempDirs(tag: string): LabDirs & { base: string; cleanup(): void } {
  const base = mkdtempSync(join(tmpdir(), `shoaltl-${tag}-`));
  return {
    base,
    stateDir: join(base, 'state'),
    dataDir: join(base, 'data'),
    cleanup: () => rmSync(base, { recursive: true, force: true }),
  };
}

export function netnsNames(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);
}

export function rootLinkNames(): string[] {
  return execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(': ')[1]?.split('@')[0] ?? '')
    .filter(Boolean);
}

export function mountPoints(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter(Boolean);
}

/** True while the process exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Everything a lab named `lab` could have left: netns, root links, mounts, directories. */
export function residueOf(lab: string, dirs: LabDirs): string[] {
  const prefix = `shoal-${lab}-`;
  const left: string[] = [];
  left.push(...netnsNames().filter((n) => n.startsWith(prefix)).map((n) => `netns ${n}`));
  left.push(...rootLinkNames().filter((n) => n.includes(lab)).map((n) => `link ${n}`));
  left.push(
    ...mountPoints()
      .filter((m) => m.startsWith(`/run/netns/${prefix}`) || m.startsWith(dirs.stateDir) || m.startsWith(dirs.dataDir))
      .map((m) => `mount ${m}`),
  );
  for (const d of [join(dirs.stateDir, lab), join(dirs.dataDir, lab)]) if (existsSync(d)) left.push(`dir ${d}`);
  return left;
}
