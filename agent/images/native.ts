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
  const require = createRequire(import.meta.url);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'native', 'build', 'Release', 'shoal_native.node');
    if (existsSync(candidate)) {
      cached = require(candidate) as FsOps;
      if (typeof cached.mknod !== 'function') {
        throw new Error(`native addon ${candidate} lacks mknod: rebuild it with \`npm run build:native\``);
      }
      return cached;
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error('native addon shoal_native.node not found: build it with `npm run build:native`');
}
