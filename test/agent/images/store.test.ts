// The image store end to end on real files: loading the built test images in both archive
// formats, layer sharing, refs, import, remove, prune, and every kind of bad archive.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AmbiguousImageError,
  DigestMismatchError,
  ImageArchiveError,
  ImageConflictError,
  ImageNotFoundError,
  ImageStore,
  ImageStoreCorruptError,
  InvalidReferenceError,
  UnsupportedCompressionError,
} from '../../../agent/images/index.js';
import { testImagePath, writeDockerSaveTestImage, writeOciTestImage } from '../../helpers/images.js';
import { digest, dockerSaveArchive, makeTar, ociArchive, tempDir } from './fixtures.js';

let dir: string;
let cleanup: () => Promise<void>;
let root: string;
let store: ImageStore;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('store'));
  root = join(dir, 'store');
  store = new ImageStore({ root });
});
afterEach(async () => cleanup());

const entries = (sub: string): string[] => (existsSync(join(root, sub)) ? readdirSync(join(root, sub)).sort() : []);

function expectEmptyStore(): void {
  for (const sub of ['layers', 'tmp', 'images', 'refs', 'blobs/sha256']) expect(entries(sub), sub).toEqual([]);
}

async function write(name: string, bytes: Buffer): Promise<string> {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

describe('loading', () => {
  it('loads the busybox OCI test image and resolves it for a container', async () => {
    const [img] = await store.load(testImagePath('busybox'));
    expect(img!.refs).toEqual(['busybox:latest']);
    expect(img!.config.cmd).toEqual(['sh']);
    expect(img!.config.env?.[0]).toMatch(/^PATH=/);
    const r = await store.resolve('busybox');
    expect(r.id).toBe(img!.id);
    expect(r.layerDirs).toHaveLength(1);
    const bb = statSync(join(r.layerDirs[0]!, 'bin/busybox'));
    expect(bb.mode & 0o777).toBe(0o755);
    expect(bb.size).toBe(statSync('/bin/busybox').size);
    expect(readFileSync(join(r.layerDirs[0]!, 'etc/passwd'), 'utf8')).toMatch(/^root:x:0:0:/);
    expect(statSync(join(r.layerDirs[0]!, 'tmp')).mode & 0o7777).toBe(0o1777);
    // every spelling of the name, and the id and its prefixes, find the same image
    for (const ref of ['busybox:latest', 'docker.io/library/busybox', 'library/busybox:latest', img!.id, img!.id.slice(7, 19), img!.id.slice(0, 20)]) {
      expect((await store.inspect(ref)).id, ref).toBe(img!.id);
    }
    // loading again changes nothing
    await store.load(testImagePath('busybox'));
    expect(entries('layers')).toHaveLength(1);
    expect(await store.list()).toHaveLength(1);
  });

  it('loads a docker-save archive of the same image to the same id and the same layer', async () => {
    const built = await writeDockerSaveTestImage('busybox', join(dir, 'busybox.docker.tar'));
    const [fromSave] = await store.load(join(dir, 'busybox.docker.tar'));
    expect(fromSave!.id).toBe(digest(built.config));
    expect(fromSave!.refs).toEqual(['busybox:latest']);
    expect(fromSave!.manifestDigest).toBeUndefined();
    const [fromOci] = await store.load(testImagePath('busybox'));
    expect(fromOci!.id).toBe(fromSave!.id);
    expect(entries('layers')).toHaveLength(1);
  });

  it('shares the busybox layer between busybox and redis', async () => {
    const [bb] = await store.load(testImagePath('busybox'));
    const [redis] = await store.load(testImagePath('redis'));
    expect(redis!.layers[0]).toBe(bb!.layers[0]);
    expect(entries('layers')).toHaveLength(2);
    const r = await store.resolve('redis:latest');
    expect(r.layerDirs[0]).toBe((await store.resolve('busybox')).layerDirs[0]);
    expect(existsSync(join(r.layerDirs[1]!, 'usr/bin/redis-server'))).toBe(true);
    expect(r.config).toMatchObject({ cmd: ['redis-server', '/etc/redis/redis.conf'], exposedPorts: ['6379/tcp'], workingDir: '/data' });
    expect(statSync(join(r.layerDirs[1]!, 'data')).uid).toBe(999);
  });

  it('two concurrent loads of the same image unpack its layer once, intact', async () => {
    const [a, b] = await Promise.all([store.load(testImagePath('redis')), store.load(testImagePath('redis'))]);
    expect(a![0]!.id).toBe(b![0]!.id);
    expect(entries('layers')).toHaveLength(2);
    expect(entries('tmp')).toEqual([]);
    const r = await store.resolve('redis');
    expect(statSync(join(r.layerDirs[1]!, 'usr/bin/redis-server')).size).toBe(statSync('/usr/bin/redis-server').size);
  });

  it('loads gzip-compressed archives and images without a name (by id only)', async () => {
    const layer = await makeTar([{ name: 'hello', data: 'hi' }]);
    const p = await write('anon.tar.gz', gzipSync(await ociArchive({ layers: [layer] })));
    const [img] = await store.load(p);
    expect(img!.refs).toEqual([]);
    expect((await store.inspect(img!.id.slice(7, 15))).id).toBe(img!.id);
  });

  it('follows a nested image index to the linux/amd64 manifest', async () => {
    const layer = await makeTar([{ name: 'multi', data: 'arch' }]);
    const p = await write(
      'multiarch.tar',
      await ociArchive({ layers: [layer] }, (files) => {
        const index = JSON.parse(files.get('index.json')!.toString()) as { manifests: Array<Record<string, unknown>> };
        const amd64 = { ...index.manifests[0]!, platform: { os: 'linux', architecture: 'amd64' } };
        const arm64 = { ...amd64, digest: digest('not in the archive'), platform: { os: 'linux', architecture: 'arm64' } };
        const nested = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [arm64, amd64] }));
        files.set(`blobs/sha256/${digest(nested).slice(7)}`, nested);
        const top = {
          mediaType: 'application/vnd.oci.image.index.v1+json',
          digest: digest(nested),
          size: nested.length,
          annotations: { 'io.containerd.image.name': 'docker.io/library/multi:arch' },
        };
        files.set('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [top] })));
      }),
    );
    const [img] = await store.load(p);
    expect(img!.refs).toEqual(['multi:arch']);
    expect(img!.layers).toEqual([digest(layer)]);
  });

  it('reads uncompressed layer blobs in OCI archives', async () => {
    const layer = await makeTar([{ name: 'plain', data: 'p' }]);
    const [img] = await store.load(await write('plain.tar', await ociArchive({ layers: [layer], names: ['plain:1'], compress: (l) => l })));
    expect(img!.layers).toEqual([digest(layer)]);
  });
});

describe('bad archives leave nothing behind', () => {
  it('a blob whose content does not match its name', async () => {
    const layer = await makeTar([{ name: 'x', data: 'x' }]);
    const p = await write(
      'tampered.tar',
      await ociArchive({ layers: [layer], names: ['t:1'] }, (files) => {
        for (const [name, data] of files) if (name.startsWith('blobs/') && data[0] === 0x1f) files.set(name, gzipSync(Buffer.from('evil')));
      }),
    );
    await expect(store.load(p)).rejects.toThrow(DigestMismatchError);
    expectEmptyStore();
  });

  it('a layer whose content does not match the config diff id', async () => {
    const layer = await makeTar([{ name: 'x', data: 'x' }]);
    const p = await write('diffid.tar', await ociArchive({ layers: [layer], diffIds: [digest('something else')] }));
    await expect(store.load(p)).rejects.toThrow(/digest mismatch.*expected sha256:/);
    const save = await write('diffid.docker.tar', await dockerSaveArchive({ layers: [layer], diffIds: [digest('other')], names: ['x:1'] }));
    await expect(store.load(save)).rejects.toThrow(DigestMismatchError);
    expectEmptyStore();
  });

  it('garbage, a truncated archive, a truncated gzip layer, a missing blob, a missing file', async () => {
    const good = readFileSync(testImagePath('busybox'));
    const cases: Array<[string, Buffer]> = [
      ['garbage.tar', Buffer.from('this is not a tarball at all'.repeat(40))],
      ['truncated.tar', good.subarray(0, Math.floor(good.length / 2) + 100)],
      ['empty.tar', Buffer.alloc(0)],
    ];
    const layer = await makeTar([{ name: 'big', data: randomBytes(100_000) }]); // incompressible: 300 bytes is a cut
    cases.push(['cutlayer.tar', await ociArchive({ layers: [layer], compress: (l) => gzipSync(l).subarray(0, 300) })]);
    cases.push([
      'noblob.tar',
      await ociArchive({ layers: [layer] }, (files) => {
        for (const [name, data] of files) if (name.startsWith('blobs/') && data[0] === 0x1f) files.delete(name);
      }),
    ]);
    cases.push(['notimage.tar', await makeTar([{ name: 'README', data: 'hi' }])]);
    for (const [name, bytes] of cases) {
      const err = await store.load(await write(name, bytes)).catch((e: unknown) => e);
      expect(err, name).toBeInstanceOf(Error);
      expect((err as { userError?: boolean }).userError, `${name}: ${(err as Error).message}`).toBe(true);
      expect((err as Error).message.split('\n')).toHaveLength(1);
      expectEmptyStore();
    }
    const missing = await store.load(join(dir, 'nope.tar')).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ImageArchiveError);
    expect((missing as Error).message).toMatch(/nope\.tar: no such file/);
    expectEmptyStore();
  });

  it('zstd layers get a clear "unsupported" error', async () => {
    const zstdMagic = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(64)]);
    const layer = await makeTar([{ name: 'x', data: 'x' }]);
    const p = await write('zstd.tar', await ociArchive({ layers: [layer], compress: () => zstdMagic }));
    await expect(store.load(p)).rejects.toThrow(UnsupportedCompressionError);
    await expect(store.load(p)).rejects.toThrow(/zstd-compressed/);
    expectEmptyStore();
  });
});

describe('import, refs, remove and prune', () => {
  it('imports a rootfs tarball as a one-layer image with the given config', async () => {
    const p = await write('rootfs.tar.gz', gzipSync(await makeTar([{ name: 'bin/tool', data: '#!/bin/sh\n', mode: 0o755 }])));
    const rec = await store.importRootfs(p, 'myroot:1', { cmd: ['/bin/tool'], env: ['A=1'], user: '1000' });
    expect(rec.refs).toEqual(['myroot:1']);
    expect(rec.layers).toHaveLength(1);
    const r = await store.resolve('myroot:1');
    expect(r.config).toEqual({ cmd: ['/bin/tool'], env: ['A=1'], user: '1000' });
    expect(readFileSync(join(r.layerDirs[0]!, 'bin/tool'), 'utf8')).toBe('#!/bin/sh\n');
    await expect(store.importRootfs(p, 'Bad Name')).rejects.toThrow(InvalidReferenceError);
  });

  it('rejects bad references and unknown images with user errors', async () => {
    await expect(store.inspect('busybox')).rejects.toThrow(ImageNotFoundError);
    await expect(store.resolve('UPPER:case')).rejects.toThrow(InvalidReferenceError);
    await expect(store.remove('nothing:here')).rejects.toThrow(/image "nothing:here" not found/);
  });

  it('remove untags first, deletes the image with its last ref, and prune reclaims its layers', async () => {
    const layer = await makeTar([{ name: 'x', data: 'shared' }]);
    const p = await write('two-names.tar', await ociArchive({ layers: [layer], names: ['docker.io/library/a:1', 'docker.io/library/b:2'] }));
    const [img] = await store.load(p);
    expect((await store.inspect('a:1')).refs).toEqual(['a:1', 'b:2']);
    await expect(store.remove(img!.id)).rejects.toThrow(ImageConflictError);
    await store.remove('a:1');
    expect((await store.inspect(img!.id)).refs).toEqual(['b:2']);
    await store.remove('b:2');
    await expect(store.inspect(img!.id)).rejects.toThrow(ImageNotFoundError);
    expect(entries('layers')).toHaveLength(1); // layers stay until prune
    const pruned = await store.prune();
    expect(pruned.removedLayers).toBe(1);
    expect(pruned.reclaimedBytes).toBeGreaterThan(0);
    expectEmptyStore();
  });

  it('force-removes an image by id, and prune keeps layers other images still use', async () => {
    await store.load(testImagePath('busybox'));
    const [redis] = await store.load(testImagePath('redis'));
    await store.remove(redis!.id.slice(7, 19), { force: true });
    expect((await store.list()).map((i) => i.refs)).toEqual([['busybox:latest']]);
    const pruned = await store.prune();
    expect(pruned.removedLayers).toBe(1);
    expect(entries('layers')).toHaveLength(1);
    expect((await store.resolve('busybox')).layerDirs).toHaveLength(1);
  });

  it('keeps images in use by containers until they are not', async () => {
    const inUse = new Set<string>();
    const guarded = new ImageStore({ root, imagesInUse: async () => inUse });
    const [bb] = await guarded.load(testImagePath('busybox'));
    inUse.add(bb!.id);
    await expect(guarded.remove('busybox')).rejects.toThrow(/used by a container/);
    await guarded.remove('busybox', { force: true });
    expect((await guarded.prune()).removedLayers).toBe(0); // untagged but in use: kept
    expect((await guarded.resolve(bb!.id)).layerDirs).toHaveLength(1);
    inUse.clear();
    const pruned = await guarded.prune();
    expect([pruned.removedImages, pruned.removedLayers]).toEqual([1, 1]);
    expectEmptyStore();
  });

  it('an id prefix shared by two images is ambiguous', async () => {
    // import until two ids share their first hex digit: 17 images at most, by pigeonhole
    const seen = new Set<string>();
    let shared: string | undefined;
    for (let i = 0; shared === undefined; i++) {
      const p = await write(`r${i}.tar`, await makeTar([{ name: 'n', data: String(i) }]));
      const first = (await store.importRootfs(p, `r:${i}`)).id[7]!;
      if (seen.has(first)) shared = first;
      seen.add(first);
    }
    await expect(store.inspect(`sha256:${shared}`)).rejects.toThrow(AmbiguousImageError);
  });

  it('prune clears temp files of dead processes; resolve reports a layer deleted by hand', async () => {
    await store.load(testImagePath('busybox'));
    const stale = join(root, 'tmp', '999999999-load-dead');
    const mine = join(root, 'tmp', `${process.pid}-load-live`);
    mkdirSync(stale, { recursive: true });
    mkdirSync(mine, { recursive: true });
    writeFileSync(join(root, 'refs', 'dangling%3A1'), `sha256:${'0'.repeat(64)}`);
    await store.prune();
    expect(entries('tmp')).toEqual([`${process.pid}-load-live`]);
    expect(entries('refs')).toEqual(['busybox%3Alatest']);
    rmSync(mine, { recursive: true });
    const [layerDir] = (await store.resolve('busybox')).layerDirs;
    rmSync(layerDir!, { recursive: true });
    await expect(store.resolve('busybox')).rejects.toThrow(ImageStoreCorruptError);
    await expect(store.resolve('busybox')).rejects.toThrow(/remove the image and load it again/);
  });

  it('save writes an OCI archive that loads back to the same images, byte for byte repeatable', async () => {
    const [bb] = await store.load(testImagePath('busybox'));
    const [redis] = await store.load(testImagePath('redis'));
    const rootfs = await write('rootfs.tar', await makeTar([{ name: 'etc/motd', data: 'hi' }]));
    const imported = await store.importRootfs(rootfs, 'myroot:1', { cmd: ['/bin/sh'] });
    const out = join(dir, 'saved.tar');
    await store.save(['redis', bb!.id, 'myroot:1'], out);
    const again = join(dir, 'again.tar');
    await store.save(['redis', bb!.id, 'myroot:1'], again);
    expect(digest(readFileSync(again))).toBe(digest(readFileSync(out)));

    const other = new ImageStore({ root: join(dir, 'other') });
    const loaded = await other.load(out);
    const byId = new Map(loaded.map((r) => [r.id, r]));
    expect(byId.get(redis!.id)).toMatchObject({ refs: ['redis:latest'], layers: redis!.layers, manifestDigest: redis!.manifestDigest });
    expect(byId.get(bb!.id)?.refs).toEqual(['busybox:latest']);
    expect(byId.get(imported.id)).toMatchObject({ refs: ['myroot:1'], config: { cmd: ['/bin/sh'] } });
    const motd = join((await other.resolve('myroot:1')).layerDirs[0]!, 'etc/motd');
    expect(readFileSync(motd, 'utf8')).toBe('hi');

    await expect(store.save(['redis', 'nope:1'], join(dir, 'bad.tar'))).rejects.toThrow(ImageNotFoundError);
    expect(existsSync(join(dir, 'bad.tar'))).toBe(false);
  });

  it('builds the test images reproducibly', async () => {
    const a = await writeOciTestImage('busybox', join(dir, 'a.tar'));
    const stamp = JSON.parse(readFileSync(`${testImagePath('busybox')}.stamp.json`, 'utf8')) as { id: string };
    expect(digest(a.config)).toBe(stamp.id);
    expect(digest(readFileSync(join(dir, 'a.tar')))).toBe(digest(readFileSync(testImagePath('busybox'))));
  });
});
