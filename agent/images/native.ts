// Loads the shoal native addon for the few file-system calls Node lacks. The addon is built at
// install time (`npm run build`, which deploy/install-deps.sh runs); this code only looks for it
// and never builds or waits for a build: a missing addon is an error that names the fix.
// It lives in native/build/Release relative to the repository (or the installed package), so we
// search upwards from this file: the same code runs from agent/images (tsx) and dist/agent/images.
// SHOAL_NATIVE_DIR names the directory that holds shoal_native.node instead.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface FsOps {
  mknod(path: string, mode: number, major: number, minor: number): void;
  lsetxattr(path: string, name: string, value: Buffer): void;
  lgetxattr(path: string, name: string): Buffer | null;
  llistxattr(path: string): string[];
  /** non-blocking: false when another holder has the lock */
  flock(fd: number, op: 'ex' | 'sh' | 'un'): boolean;
}

/** The addon is absent or not the one this code expects; the message says how to build it. */
export class NativeAddonError extends Error {
  override readonly name = 'NativeAddonError';
}

const ADDON_FILE = 'shoal_native.node';
const ADDON = join('native', 'build', 'Release', ADDON_FILE);

let cached: FsOps | undefined;

/** The addon's calls, loaded once per process (from SHOAL_NATIVE_DIR when set). */
export function fsOps(): FsOps {
  cached ??= loadFsOps({ dir: process.env.SHOAL_NATIVE_DIR || undefined });
  return cached;
}

/**
 * Loads the addon from `dir` (the directory holding shoal_native.node), or else from the
 * nearest native/build/Release above this file. Throws NativeAddonError at once when it is missing.
 */
export function loadFsOps(opts: { dir?: string } = {}): FsOps {
  const file = opts.dir !== undefined ? join(opts.dir, ADDON_FILE) : findUp(ADDON);
  if (!file || !existsSync(file)) {
    const where = opts.dir !== undefined ? `in ${opts.dir} (SHOAL_NATIVE_DIR)` : `in any ${dirname(ADDON)} above ${dirname(fileURLToPath(import.meta.url))}`;
    throw new NativeAddonError(`native addon ${ADDON_FILE} not found ${where}: build it with \`npm run build:native\` (deploy/install-deps.sh does this at install time)`);
  }
  let ops: Partial<FsOps>;
  try {
    ops = createRequire(import.meta.url)(file) as Partial<FsOps>;
  } catch (err) {
    // built for another Node ABI or truncated: the same fix
    throw new NativeAddonError(`native addon ${file} does not load (${(err as Error).message}): rebuild it with \`npm run build:native\``, { cause: err });
  }
  if (typeof ops.mknod !== 'function' || typeof ops.flock !== 'function') {
    throw new NativeAddonError(`native addon ${file} lacks mknod or flock (an older build): rebuild it with \`npm run build:native\``);
  }
  return ops as FsOps;
}

function findUp(rel: string): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, rel))) return join(dir, rel);
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}
