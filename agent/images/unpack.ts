// Unpacks one layer tar into an empty directory in the form overlayfs reads as a lower layer:
// `.wh.NAME` becomes a 0/0 character device NAME and `.wh..wh..opq` sets trusted.overlay.opaque=y
// on its directory (as containerd's overlay snapshotter expects). Ownership, modes, mtimes,
// device nodes, hard links, symlinks and PAX xattrs are kept. Path escapes are refused.
import { constants } from 'node:fs';
import { chmod, chown, lchown, link, lstat, lutimes, mkdir, open, rm, symlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { UnsafeLayerError } from './errors.js';
import { checkLinkTarget, checkPathRoom, ensureParentDirs, entryComponents, existingLinkTarget, PATH_MAX } from './layer-paths.js';
import { DEFAULT_LAYER_LIMITS, limitExceeded, type LayerLimits } from './limits.js';
import { fsOps } from './native.js';
import { entryOwner, entryTimes, entryXattrs, type PaxHeaders } from './tar-headers.js';
import { readTar } from './tar-reader.js';
import { unless } from '../../proto/undo.js';

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';
const OVERLAY_XATTR = 'trusted.overlay.';

export interface UnpackResult {
  /** sha256 of the uncompressed tar */
  diffId: string;
  /** bytes of regular-file content */
  size: number;
  entries: number;
}

interface DirTimes {
  path: string;
  depth: number;
  atime: number;
  mtime: number;
}

/** Unpacks the tar `input` (already decompressed) into the existing empty directory `dest`. */
/** `pathRoom`: bytes an entry's path may take below `dest` (and below wherever the layer moves next). */
export async function unpackLayer(
  input: Readable,
  dest: string,
  source: string,
  logger?: Logger,
  limits: LayerLimits = DEFAULT_LAYER_LIMITS,
  pathRoom: number = PATH_MAX - Buffer.byteLength(dest) - 1,
): Promise<UnpackResult> {
  const ops = fsOps();
  const known = new Set<string>();
  const dirTimes: DirTimes[] = [];
  let size = 0;
  let entries = 0;

  const handle = async (header: PaxHeaders, body: AsyncIterable<Buffer>): Promise<void> => {
    try {
      await handleEntry(header, body);
    } catch (err) {
      // a name the checks let through can still outgrow PATH_MAX once joined under `dest`
      if ((err as NodeJS.ErrnoException).code === 'ENAMETOOLONG') throw new UnsafeLayerError(source, header.name, 'has a path too long for this file system');
      throw err;
    }
  };

  const handleEntry = async (header: PaxHeaders, body: AsyncIterable<Buffer>): Promise<void> => {
    entries++;
    const parts = entryComponents(header.name, source);
    checkPathRoom(parts, pathRoom, header.name, source);
    const base = parts[parts.length - 1];
    if (base !== undefined && base.startsWith(WHITEOUT)) {
      await whiteout(dest, parts, header.name, source, known, ops);
      return;
    }
    const target = parts.length === 0 ? dest : await ensureParentDirs(dest, parts, header.name, source, known);
    const mode = (header.mode ?? 0o644) & 0o7777;
    const { uid, gid } = entryOwner(header);
    const { atime, mtime } = entryTimes(header);
    switch (header.type) {
      case 'directory': {
        const st = await unless(lstat(target), ['ENOENT']);
        if (st !== undefined && !st.isDirectory()) await replaceExisting(target, known);
        if (st === undefined || !st.isDirectory()) await mkdir(target, { mode: 0o700 });
        await chown(target, uid, gid);
        await chmod(target, mode);
        if (parts.length > 0) known.add(parts.join('/'));
        dirTimes.push({ path: target, depth: parts.length, atime, mtime });
        break;
      }
      case 'file':
      case 'contiguous-file': {
        if (parts.length === 0) throw new UnsafeLayerError(source, header.name, 'is a file in place of the layer root');
        await replaceExisting(target, known);
        // O_EXCL|O_NOFOLLOW: never write through anything that appeared at this path meanwhile.
        const fh = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        try {
          for await (const chunk of body) {
            await fh.write(chunk);
            size += chunk.length;
          }
          await fh.chown(uid, gid);
          await fh.chmod(mode); // after chown, which clears setuid/setgid
          await fh.utimes(atime, mtime);
        } finally {
          await fh.close();
        }
        break;
      }
      case 'link': {
        const linkParts = entryComponents(header.linkname ?? '', source, 'hard link target');
        if (linkParts.length === 0) throw new UnsafeLayerError(source, header.name, 'is a hard link to the layer root');
        const from = await existingLinkTarget(dest, linkParts, header.name, source);
        if (from === target) return;
        await replaceExisting(target, known);
        await link(from, target); // link(2) does not follow a final symlink in `from`
        return; // the inode's metadata came with its first name
      }
      case 'symlink': {
        if (parts.length === 0) throw new UnsafeLayerError(source, header.name, 'is a symlink in place of the layer root');
        await replaceExisting(target, known);
        checkLinkTarget(header.linkname ?? '', header.name, source);
        await symlink(header.linkname ?? '', target);
        await lchown(target, uid, gid);
        await lutimes(target, atime, mtime);
        break;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        if (parts.length === 0) throw new UnsafeLayerError(source, header.name, 'is a device in place of the layer root');
        await replaceExisting(target, known);
        const kind = header.type === 'fifo' ? constants.S_IFIFO : header.type === 'block-device' ? constants.S_IFBLK : constants.S_IFCHR;
        ops.mknod(target, kind | (mode & 0o777), header.devmajor ?? 0, header.devminor ?? 0);
        await chown(target, uid, gid);
        await chmod(target, mode);
        await utimes(target, atime, mtime);
        break;
      }
      default:
        // tar-stream reports types it does not know (GNU sparse, volume labels) as null
        logger?.warn({ source, entry: header.name, type: header.type }, 'skipping layer entry of unsupported type');
        return;
    }
    applyXattrs(target, header, source, ops, logger);
  };

  const { digest } = await readTar(input, source, handle, {
    maxBytes: limits.layerBytes,
    maxEntries: limits.layerEntries,
    exceeded: (what) => limitExceeded(source, what === 'bytes' ? 'layerBytes' : 'layerEntries', what === 'bytes' ? limits.layerBytes : limits.layerEntries),
  });
  // Directory mtimes last, deepest first: creating children changed them. lutimes, because a
  // later entry may have replaced the directory with a symlink pointing anywhere.
  dirTimes.sort((a, b) => b.depth - a.depth);
  for (const d of dirTimes) await lutimes(d.path, d.atime, d.mtime);
  return { diffId: digest, size, entries };
}

async function whiteout(
  dest: string,
  parts: string[],
  entry: string,
  source: string,
  known: Set<string>,
  ops: ReturnType<typeof fsOps>,
): Promise<void> {
  const base = parts[parts.length - 1]!;
  const dirParts = parts.slice(0, -1);
  // the whiteout's own path is a child of its directory: checking its parents checks the directory
  await ensureParentDirs(dest, parts, entry, source, known);
  const dir = join(dest, ...dirParts);
  if (base === OPAQUE) {
    ops.lsetxattr(dir, 'trusted.overlay.opaque', Buffer.from('y'));
    return;
  }
  if (base.startsWith(`${WHITEOUT}${WHITEOUT}`)) return; // aufs metadata (.wh..wh.plnk and such)
  const name = base.slice(WHITEOUT.length);
  if (name === '' || name === '.' || name === '..') throw new UnsafeLayerError(source, entry, 'is a whiteout without a valid name');
  const target = join(dir, name);
  await replaceExisting(target, known);
  ops.mknod(target, constants.S_IFCHR, 0, 0);
}

/** Removes whatever an earlier entry put at `path`; a later entry for the same name wins. */
async function replaceExisting(path: string, known: Set<string>): Promise<void> {
  const st = await unless(lstat(path), ['ENOENT']);
  if (st === undefined) return;
  await rm(path, { recursive: true, force: true });
  if (st.isDirectory()) known.clear();
}

function applyXattrs(path: string, header: PaxHeaders, source: string, ops: ReturnType<typeof fsOps>, logger?: Logger): void {
  for (const [name, value] of entryXattrs(header)) {
    if (name.startsWith(OVERLAY_XATTR)) {
      // overlayfs's own attributes (redirect, metacopy, origin) would let a layer steer lookups.
      logger?.warn({ source, entry: header.name, xattr: name }, 'ignoring overlayfs xattr in layer');
      continue;
    }
    try {
      ops.lsetxattr(path, name, value);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTSUP' && code !== 'EPERM') throw err;
      logger?.warn({ source, entry: header.name, xattr: name, code }, 'xattr not supported here; skipped');
    }
  }
}
