// Layer unpacking on the real file system: every entry kind lands on disk as overlayfs expects,
// and a real overlay mount of two unpacked layers shows the whiteout and the opaque dir at work.
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImageStore } from '../../../agent/images/index.js';
import { fsOps } from '../../../agent/images/native.js';
import { makeTar, MTIME, ociArchive, tempDir } from './fixtures.js';

let dir: string;
let cleanup: () => Promise<void>;
let store: ImageStore;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('unpack'));
  store = new ImageStore({ root: join(dir, 'store') });
});
afterEach(async () => cleanup());

async function importLayer(tarBytes: Buffer, ref = 'fixture:1'): Promise<string> {
  const file = join(dir, `${ref.replace(/\W/g, '_')}.tar`);
  writeFileSync(file, tarBytes);
  await store.importRootfs(file, ref);
  const { layerDirs } = await store.resolve(ref);
  return layerDirs[0]!;
}

const CAP = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
const BINARY = Buffer.from([0x00, 0xff, 0x80, 0xc3, 0x28, 0x0a, 0x3d]);

describe('layer unpacking', () => {
  it('keeps files, dirs, symlinks, hard links, devices, owners, modes, mtimes and xattrs', async () => {
    const layer = await importLayer(
      await makeTar([
        { name: 'etc/', type: 'directory', mode: 0o750, uid: 7, gid: 8 },
        { name: 'etc/conf', data: 'hello\n', mode: 0o640, uid: 1234, gid: 5678 },
        { name: 'bin/suid', data: '#!/bin/sh\n', mode: 0o4755, uid: 0, gid: 0 },
        { name: 'bin/link-to-conf', type: 'link', linkname: 'etc/conf' },
        { name: 'bin/sym', type: 'symlink', linkname: '/etc/conf' },
        { name: 'bin/rel', type: 'symlink', linkname: '../etc/conf' },
        { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
        { name: 'dev/loop9', type: 'block-device', devmajor: 7, devminor: 9, mode: 0o660, gid: 6 },
        { name: 'run/fifo', type: 'fifo', mode: 0o600 },
        { name: 'x/xattrs', data: 'x', pax: { 'SCHILY.xattr.user.text': 'plain value', 'SCHILY.xattr.user.bin': BINARY } },
        { name: 'x/cap', data: 'x', mode: 0o755, pax: { 'SCHILY.xattr.security.capability': CAP } },
        { name: 'x/overlay-forged', data: 'x', pax: { 'SCHILY.xattr.trusted.overlay.redirect': '/etc' } },
        { name: `deep/${'d'.repeat(120)}/${'f'.repeat(120)}`, data: 'long' },
        { name: 'x/big-ids', data: '', pax: { uid: '3000000', gid: '3000001' } },
        { name: 'x/bsdtar', data: '', pax: { 'LIBARCHIVE.xattr.user.b%20sd': BINARY.toString('base64') } },
      ]),
    );
    const conf = lstatSync(join(layer, 'etc/conf'));
    expect(readFileSync(join(layer, 'etc/conf'), 'utf8')).toBe('hello\n');
    expect([conf.mode & 0o7777, conf.uid, conf.gid]).toEqual([0o640, 1234, 5678]);
    expect(conf.mtimeMs).toBe(MTIME.getTime());
    const etc = lstatSync(join(layer, 'etc'));
    expect([etc.mode & 0o7777, etc.uid, etc.gid, etc.mtimeMs]).toEqual([0o750, 7, 8, MTIME.getTime()]);
    expect(lstatSync(join(layer, 'bin/suid')).mode & 0o7777).toBe(0o4755);
    const hard = lstatSync(join(layer, 'bin/link-to-conf'));
    expect(hard.ino).toBe(conf.ino);
    expect(hard.nlink).toBe(2);
    expect(readlinkSync(join(layer, 'bin/sym'))).toBe('/etc/conf');
    expect(readlinkSync(join(layer, 'bin/rel'))).toBe('../etc/conf');
    expect(lstatSync(join(layer, 'bin/sym')).mtimeMs).toBe(MTIME.getTime());
    const nul = lstatSync(join(layer, 'dev/null'));
    expect(nul.isCharacterDevice()).toBe(true);
    expect([nul.rdev >> 8, nul.rdev & 0xff, nul.mode & 0o777]).toEqual([1, 3, 0o666]);
    const loop = lstatSync(join(layer, 'dev/loop9'));
    expect(loop.isBlockDevice()).toBe(true);
    expect([loop.rdev >> 8, loop.rdev & 0xff, loop.gid]).toEqual([7, 9, 6]);
    expect(lstatSync(join(layer, 'run/fifo')).isFIFO()).toBe(true);
    const ops = fsOps();
    expect(ops.lgetxattr(join(layer, 'x/xattrs'), 'user.text')?.toString()).toBe('plain value');
    expect(ops.lgetxattr(join(layer, 'x/xattrs'), 'user.bin')).toEqual(BINARY);
    expect(ops.lgetxattr(join(layer, 'x/cap'), 'security.capability')).toEqual(CAP);
    expect(ops.lgetxattr(join(layer, 'x/bsdtar'), 'user.b sd')).toEqual(BINARY);
    expect(ops.lgetxattr(join(layer, 'x/overlay-forged'), 'trusted.overlay.redirect')).toBeNull();
    expect([lstatSync(join(layer, 'x/big-ids')).uid, lstatSync(join(layer, 'x/big-ids')).gid]).toEqual([3000000, 3000001]);
    expect(readFileSync(join(layer, 'deep', 'd'.repeat(120), 'f'.repeat(120)), 'utf8')).toBe('long');
    expect((await store.inspect('fixture:1')).size).toBe(6 + 10 + 1 + 1 + 1 + 4);
  });

  it('turns .wh. files into 0/0 char devices and .wh..wh..opq into trusted.overlay.opaque=y', async () => {
    const layer = await importLayer(
      await makeTar([
        { name: 'gone/', type: 'directory' },
        { name: 'gone/.wh.file', data: '' },
        { name: '.wh.topfile', data: '' },
        { name: 'dir/', type: 'directory' },
        { name: 'dir/.wh..wh..opq', data: '' },
        { name: 'dir/new', data: 'new' },
      ]),
    );
    for (const wh of ['gone/file', 'topfile']) {
      const st = lstatSync(join(layer, wh));
      expect(st.isCharacterDevice()).toBe(true);
      expect(st.rdev).toBe(0);
    }
    expect(existsSync(join(layer, 'gone/.wh.file'))).toBe(false);
    expect(readdirSync(join(layer, 'dir'))).toEqual(['new']);
    expect(fsOps().lgetxattr(join(layer, 'dir'), 'trusted.overlay.opaque')?.toString()).toBe('y');
    expect(fsOps().lgetxattr(join(layer, 'gone'), 'trusted.overlay.opaque')).toBeNull();
  });

  it('a real overlayfs mount of two layers hides whited-out files and the lower content of opaque dirs', async () => {
    const lower = await makeTar([
      { name: 'keep', data: 'kept' },
      { name: 'a/file', data: 'lower' },
      { name: 'a/other', data: 'stays' },
      { name: 'dir/old1', data: '1' },
      { name: 'dir/old2', data: '2' },
      { name: 'hard', data: 'same inode' },
      { name: 'hard2', type: 'link', linkname: 'hard' },
      { name: 'owned', data: 'o', mode: 0o4710, uid: 1234, gid: 5678, pax: { 'SCHILY.xattr.user.k': BINARY } },
      { name: 'sym', type: 'symlink', linkname: '/keep' },
      { name: 'null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
    ]);
    const upper = await makeTar([
      { name: 'a/.wh.file', data: '' },
      { name: '.wh.keep-not', data: '' },
      { name: 'dir/.wh..wh..opq', data: '' },
      { name: 'dir/fresh', data: 'fresh' },
      { name: 'a/added', data: 'up' },
    ]);
    const archive = join(dir, 'two.tar');
    writeFileSync(archive, await ociArchive({ layers: [lower, upper], names: ['docker.io/library/two:layers'] }));
    await store.load(archive);
    const { layerDirs } = await store.resolve('two:layers');
    expect(layerDirs).toHaveLength(2);
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    // overlayfs lists lowerdirs topmost first
    execFileSync('mount', ['-t', 'overlay', 'shoalimg-ovl', '-o', `lowerdir=${[...layerDirs].reverse().join(':')}`, mnt]);
    try {
      expect(existsSync(join(mnt, 'a/file'))).toBe(false);
      expect(readdirSync(join(mnt, 'a')).sort()).toEqual(['added', 'other']);
      expect(readdirSync(join(mnt, 'dir'))).toEqual(['fresh']);
      expect(readFileSync(join(mnt, 'keep'), 'utf8')).toBe('kept');
      expect(lstatSync(join(mnt, 'hard')).ino).toBe(lstatSync(join(mnt, 'hard2')).ino);
      const owned = lstatSync(join(mnt, 'owned'));
      expect([owned.mode & 0o7777, owned.uid, owned.gid, owned.mtimeMs]).toEqual([0o4710, 1234, 5678, MTIME.getTime()]);
      expect(fsOps().lgetxattr(join(mnt, 'owned'), 'user.k')).toEqual(BINARY);
      expect(readlinkSync(join(mnt, 'sym'))).toBe('/keep');
      expect(lstatSync(join(mnt, 'null')).rdev).toBe((1 << 8) | 3);
      // the opaque marker itself is overlayfs's business, not visible as a file
      expect(fsOps().llistxattr(join(mnt, 'dir')).filter((x) => x.startsWith('trusted.overlay.'))).toEqual([]);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });

  it('a later entry for the same path replaces the earlier one', async () => {
    const layer = await importLayer(
      await makeTar([
        { name: 'p', type: 'directory' },
        { name: 'p/child', data: 'c' },
        { name: 'p', data: 'now a file' },
        { name: 'q', data: 'first' },
        { name: 'q', type: 'symlink', linkname: 'p' },
      ]),
    );
    expect(readFileSync(join(layer, 'p'), 'utf8')).toBe('now a file');
    expect(readlinkSync(join(layer, 'q'))).toBe('p');
  });
});
