// Path safety for layer unpacking. Entry names are archive paths relative to the layer root; we
// refuse rather than "clean" anything that could leave it: absolute names, any ".." component,
// and any symlink met on the way to an entry's parent (a symlink planted earlier in the same
// tar could otherwise redirect a later write onto the host).
import { lstat, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { UnsafeLayerError } from './errors.js';
import { unless } from '../../proto/undo.js';

// Linux's PATH_MAX counts the terminating NUL; NAME_MAX bounds each component.
export const PATH_MAX = 4095;
const NAME_MAX = 255;

/** Splits an entry name into components; [] is the layer root itself. */
export function entryComponents(name: string, source: string, field = 'path'): string[] {
  if (name.includes('\0')) throw new UnsafeLayerError(source, name, `has a NUL byte in its ${field}`);
  if (Buffer.byteLength(name) > PATH_MAX) throw new UnsafeLayerError(source, name, `has a ${field} of ${Buffer.byteLength(name)} bytes; Linux allows at most ${PATH_MAX}`);
  if (name.startsWith('/')) throw new UnsafeLayerError(source, name, `has an absolute ${field}, which would escape the layer`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new UnsafeLayerError(source, name, `has ".." in its ${field}, which would escape the layer`);
  const long = parts.find((p) => Buffer.byteLength(p) > NAME_MAX);
  if (long !== undefined) throw new UnsafeLayerError(source, name, `has a name of ${Buffer.byteLength(long)} bytes in its ${field}; Linux allows at most ${NAME_MAX}`);
  return parts;
}

/**
 * Makes sure every directory above `parts` exists as a real directory inside `root`, creating
 * missing ones (0755, as Docker does). `known` caches directories already checked.
 */
export async function ensureParentDirs(root: string, parts: string[], entry: string, source: string, known: Set<string>): Promise<string> {
  let rel = '';
  for (let i = 0; i < parts.length - 1; i++) {
    rel = rel === '' ? parts[i]! : `${rel}/${parts[i]}`;
    if (known.has(rel)) continue;
    const abs = join(root, rel);
    const st = await lstat(abs).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (st === undefined) {
      await mkdir(abs, { mode: 0o755 });
    } else if (st.isSymbolicLink()) {
      throw new UnsafeLayerError(source, entry, `goes through the symlink "${rel}", which could point outside the layer`);
    } else if (!st.isDirectory()) {
      throw new UnsafeLayerError(source, entry, `needs "${rel}" to be a directory but the layer made it a file`);
    }
    known.add(rel);
  }
  return join(root, ...parts);
}

/** Checks, without creating anything, that `parts` names an existing non-directory reached without symlinks. */
export async function existingLinkTarget(root: string, parts: string[], entry: string, source: string): Promise<string> {
  let rel = '';
  for (let i = 0; i < parts.length; i++) {
    rel = rel === '' ? parts[i]! : `${rel}/${parts[i]}`;
    const st = await unless(lstat(join(root, rel)), ['ENOENT', 'ENOTDIR']);
    if (st === undefined) throw new UnsafeLayerError(source, entry, `is a hard link to "${rel}", which is not earlier in the layer`);
    const last = i === parts.length - 1;
    if (!last && st.isSymbolicLink()) {
      throw new UnsafeLayerError(source, entry, `is a hard link through the symlink "${rel}", which could point outside the layer`);
    }
    if (last && st.isDirectory()) throw new UnsafeLayerError(source, entry, 'is a hard link to a directory');
    if (!last && !st.isDirectory()) throw new UnsafeLayerError(source, entry, `is a hard link below the non-directory "${rel}"`);
  }
  return join(root, ...parts);
}

/** A symlink's target is stored as is (it may point anywhere: it is only followed inside the container), but must fit. */
export function checkLinkTarget(target: string, entry: string, source: string): void {
  if (Buffer.byteLength(target) > PATH_MAX) throw new UnsafeLayerError(source, entry, `is a symlink whose target is ${Buffer.byteLength(target)} bytes; Linux allows at most ${PATH_MAX}`);
}

/**
 * An entry's path must fit below the layer's directory too, wherever the layer lives (its temp
 * directory while unpacked, its place in the store after): `room` is what is left of PATH_MAX there.
 * A longer one would unpack, but no tool could then remove it by path (prune would fail).
 */
export function checkPathRoom(parts: string[], room: number, entry: string, source: string): void {
  const bytes = Buffer.byteLength(parts.join('/'));
  if (bytes > room) throw new UnsafeLayerError(source, entry, `has a path of ${bytes} bytes, more than the ${room} that fit below this store's layer directories (Linux allows ${PATH_MAX} in all)`);
}
