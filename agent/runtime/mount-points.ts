// A small read-only layer, shared by every container of a state directory, that holds the mount
// points every container needs: empty /etc/hostname, /etc/hosts and /etc/resolv.conf (the
// runtime binds each container's own copies over them, etc-files.ts) and /dev, /proc and /sys.
// Without it the shim created missing mount points in the container's overlay, which copies
// /etc up into the container's upper directory and creates the files there: a dozen metadata
// writes on the host's disk per container start, the most expensive part of starting many
// containers at once on a busy disk.
import { existsSync, lstatSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasCode } from '../../proto/undo.js';

export const MOUNT_POINT_FILES = ['hostname', 'hosts', 'resolv.conf'] as const;
/** Top-level directories of the layer, with the modes images usually give them. */
const MOUNT_POINT_DIRS: [string, number][] = [['etc', 0o755], ['dev', 0o755], ['proc', 0o555], ['sys', 0o555]];

/** Where the layer lives in a state directory (made on first use). */
function layerPath(stateDir: string): string {
  return join(stateDir, '.layers', 'mount-points-v1');
}

/** Makes the layer once (atomically: another process may race us) and returns its path. */
export function ensureMountPointLayer(stateDir: string): string {
  const final = layerPath(stateDir);
  if (isDir(final)) return final;
  const parent = join(stateDir, '.layers');
  mkdirSync(parent, { recursive: true });
  const tmp = mkdtempSync(join(parent, '.tmp-'));
  try {
    for (const [d, mode] of MOUNT_POINT_DIRS) mkdirSync(join(tmp, d), { mode });
    for (const f of MOUNT_POINT_FILES) writeFileSync(join(tmp, 'etc', f), '', { mode: 0o644 });
    try {
      renameSync(tmp, final);
    } catch (err) {
      // another process made it first
      if (!isDir(final)) throw err;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return final;
}

function isDir(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch (err) {
    if (!hasCode(err, ['ENOENT', 'ENOTDIR'])) throw err;
    return false;
  }
}

/**
 * Whether the layer may go on top of these image layers (lowest first): only when each of the
 * image's /etc, /dev, /proc and /sys is a directory (or absent), so that the layer's directory
 * merges with it. An image whose /etc is a symlink would have it hidden by the layer's.
 */
export function layerMergesWith(layers: readonly string[]): boolean {
  return MOUNT_POINT_DIRS.every(([d]) => dirMerges(layers, d));
}

function dirMerges(layers: readonly string[], name: string): boolean {
  for (let i = layers.length - 1; i >= 0; i--) {
    let st;
    try {
      st = lstatSync(join(layers[i]!, name));
    } catch (err) {
      if (!hasCode(err, ['ENOENT', 'ENOTDIR'])) throw err;
      continue;
    }
    if (st.isDirectory()) return true;
    // a whiteout (character device 0:0) deletes the path below it: the layer's is all there is
    return st.isCharacterDevice() && st.rdev === 0;
  }
  return true;
}

/** Remembers per image (its layer list) whether the layer fits, and where the layer is. */
export class MountPointLayer {
  private path: string | undefined;
  private readonly fits = new Map<string, boolean>();

  constructor(private readonly stateDir: string) {}

  /** The layers to mount, lowest first: the image's, then ours on top when it fits. */
  layersFor(layers: readonly string[]): string[] {
    const key = layers.join('\0');
    let ok = this.fits.get(key);
    if (ok === undefined) {
      ok = layerMergesWith(layers);
      if (this.fits.size > 1000) this.fits.clear();
      this.fits.set(key, ok);
    }
    if (!ok) return [...layers];
    // made again if something removed it meanwhile (a stat: cheap next to a start)
    if (this.path === undefined || !existsSync(this.path)) this.path = ensureMountPointLayer(this.stateDir);
    return [...layers, this.path];
  }
}
