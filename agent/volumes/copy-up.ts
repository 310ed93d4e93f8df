// Docker's copy-up: a new named volume mounted where the image already has files starts with a
// copy of them. The image's layers are merged by the kernel (a temporary read-only overlay), so
// whiteouts and opaque directories come out exactly as the container would see them.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { mountFs, unmountAll } from '../secrets/host-mounts.js';
import { resolveInRoot } from './in-root.js';

const run = promisify(execFile);

/** Mount options must fit in a page; longer layer lists would need the new mount API. */
const MAX_OPTIONS = 4000;

export const COPYUP_OVERLAY_SOURCE = 'shoal-copyup';

/**
 * Copies the image's directory at `path` (with owners, modes, xattrs) to `dest`, which must not
 * exist yet. Returns false, copying nothing, when the image has no directory there.
 * `scratch` is a directory on the same filesystem for the overlay's upper and work dirs.
 */
export async function copyImagePath(layers: string[], path: string, dest: string, scratch: string): Promise<boolean> {
  if (layers.length === 0) return false;
  const tmp = mkdtempSync(join(scratch, '.copyup-'));
  const merged = join(tmp, 'merged');
  try {
    for (const d of ['merged', 'upper', 'work']) mkdirSync(join(tmp, d));
    // layers come lowest first; overlayfs wants the top first
    const options = `ro,lowerdir=${[...layers].reverse().join(':')},upperdir=${join(tmp, 'upper')},workdir=${join(tmp, 'work')}`;
    if (options.length > MAX_OPTIONS) throw new Error(`the image has too many layers (${layers.length}) to copy its ${path} into a new volume: set volume-nocopy on the mount`);
    await mountFs('overlay', COPYUP_OVERLAY_SOURCE, merged, options);
    const src = resolveInRoot(merged, path);
    if (!src || !statSync(src).isDirectory()) return false;
    await run('cp', ['-a', '--', src, dest], { timeout: 10 * 60_000, maxBuffer: 1 << 20 });
    return true;
  } finally {
    await unmountAll(merged);
    rmSync(tmp, { recursive: true, force: true });
  }
}
