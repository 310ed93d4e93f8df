// Loads the shoal native addon for the few file-system calls Node lacks. The addon lives in
// native/build/Release relative to the repository (or the installed package), so we search
// upwards from this file: the same code runs from agent/images (tsx) and dist/agent/images.
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

let cached: FsOps | undefined;

export function fsOps(): FsOps {
  if (cached) return cached;
  const file = findAddon();
  const require = createRequire(import.meta.url);
  cached = require(file) as FsOps;
  if (typeof cached.mknod !== 'function') {
    cached = undefined;
    throw new Error(`native addon ${file} lacks mknod: rebuild it with \`npm run build:native\``);
  }
  return cached;
}

const ADDON = join('native', 'build', 'Release', 'shoal_native.node');
/** How long to wait for an addon that a running `node-gyp rebuild` has removed for a moment. */
const REBUILD_WAIT_MS = 60_000;

function findAddon(): string {
  const deadline = Date.now() + REBUILD_WAIT_MS;
  for (;;) {
    let rebuilding = false;
    let dir = dirname(fileURLToPath(import.meta.url));
    for (;;) {
      if (existsSync(join(dir, ADDON))) return join(dir, ADDON);
      // a build directory without the addon: node-gyp is (re)building it right now
      if (existsSync(join(dir, 'native', 'binding.gyp')) && existsSync(join(dir, 'native', 'build'))) rebuilding = true;
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
    if (!rebuilding || Date.now() > deadline) break;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250); // synchronous: callers are sync
  }
  throw new Error('native addon shoal_native.node not found: build it with `npm run build:native`');
}
