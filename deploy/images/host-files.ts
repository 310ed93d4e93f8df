// Reads what the test images are made of from this machine: binaries, the shared libraries
// that ldd says they need, and busybox's applet list.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { LayerEntry } from './layer-tar.js';

/** The binary at `hostPath`, dereferenced, placed at `imagePath` (no leading slash). */
export function hostFile(hostPath: string, imagePath: string, mode = 0o755): LayerEntry {
  return { path: imagePath, type: 'file', data: readFileSync(hostPath), mode };
}

/** Shared libraries (and the dynamic loader) that `binary` needs, at the paths ldd prints. */
export function sharedLibraries(binary: string): string[] {
  let out: string;
  try {
    out = execFileSync('ldd', [binary], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const text = String((err as { stdout?: string }).stdout ?? '');
    if (/not a dynamic executable/.test(text)) return [];
    throw new Error(`ldd ${binary} failed: ${(err as Error).message}`);
  }
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const m = /=>\s+(\/\S+)\s+\(/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]!);
    else if (/not found/.test(line)) throw new Error(`${binary} needs a library this machine lacks: ${line.trim()}`);
  }
  return libs;
}

/** Applet paths ("bin/ls", "usr/bin/awk") that `busybox --list-full` reports. */
export function busyboxApplets(busybox: string): string[] {
  const out = execFileSync(busybox, ['--list-full'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s !== '' && !s.startsWith('/') && !s.includes('..'));
}
