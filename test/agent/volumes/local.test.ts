// The local volume driver with real directories and a real overlay for copy-up: a volume is
// made once (labels recorded), starts as the image's merged files at the target (whiteouts and
// opaque directories honoured, owners and modes kept, symlinks kept inside the image), and is
// removed only when unused. Names that could leave the volumes directory are refused.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageStore, type ResolvedImage } from '../../../agent/images/index.js';
import { mountsUnder } from '../../../agent/secrets/index.js';
import { LocalVolumes, VolumeNameError, VolumeNotFoundError } from '../../../agent/volumes/index.js';
import { loadSeedImage } from './image.js';

const root = mkdtempSync(join(tmpdir(), 'shoalsa-vol-'));
let image: ResolvedImage;
let volumes: LocalVolumes;

beforeAll(async () => {
  const images = new ImageStore({ root: join(root, 'images'), logger: pino({ level: 'silent' }) });
  image = await images.resolve(await loadSeedImage(images, root));
  volumes = new LocalVolumes({ root: join(root, 'volumes') });
});
afterAll(() => {
  const left = mountsUnder(root);
  rmSync(root, { recursive: true, force: true });
  expect(left).toEqual([]);
});

describe('LocalVolumes', () => {
  it('makes a volume once, with its labels beside the data', async () => {
    const first = await volumes.ensure('shoalsa-plain', { labels: { team: 'a' } });
    expect(first).toEqual({ path: join(volumes.root, 'shoalsa-plain', '_data'), created: true, copied: false });
    expect(readdirSync(first.path)).toEqual([]);
    const again = await volumes.ensure('shoalsa-plain', { labels: { team: 'b' } });
    expect(again.created).toBe(false);
    expect(volumes.inspect('shoalsa-plain')).toMatchObject({ name: 'shoalsa-plain', driver: 'local', mountpoint: first.path, labels: { team: 'a' } });
    expect(volumes.list().map((v) => v.name)).toContain('shoalsa-plain');
  });

  it('copies the merged image directory into a new volume: whiteouts, opaque dirs, owners and modes', async () => {
    const seed = await volumes.ensure('shoalsa-seed', { copyFrom: { layers: image.layerDirs, path: '/seed' } });
    expect(seed.copied).toBe(true);
    expect(readdirSync(seed.path).sort()).toEqual(['b.txt', 'c.txt']);
    const dir = statSync(seed.path);
    expect([dir.mode & 0o7777, dir.uid]).toEqual([0o750, 1234]);
    const c = statSync(join(seed.path, 'c.txt'));
    expect([c.mode & 0o7777, c.uid, c.gid, readFileSync(join(seed.path, 'c.txt'), 'utf8')]).toEqual([0o600, 1234, 1234, 'c']);
    const opq = await volumes.ensure('shoalsa-opq', { copyFrom: { layers: image.layerDirs, path: '/opq' } });
    expect(readdirSync(opq.path)).toEqual(['y.txt']);
    // an existing volume is never copied into again
    expect((await volumes.ensure('shoalsa-opq', { copyFrom: { layers: image.layerDirs, path: '/seed' } })).copied).toBe(false);
    expect(readdirSync(opq.path)).toEqual(['y.txt']);
    expect(mountsUnder(root)).toEqual([]);
    expect(readdirSync(join(volumes.root, 'shoalsa-seed')).sort()).toEqual(['_data', 'volume.json']);
  });

  it("follows the image's symlinks inside the image, never to the host", async () => {
    const v = await volumes.ensure('shoalsa-link', { copyFrom: { layers: image.layerDirs, path: '/etclink' } });
    expect(v.copied).toBe(true);
    // the image's /etc (passwd and group), not the host's hundreds of files
    expect(readdirSync(v.path).sort()).toEqual(['group', 'passwd']);
  });

  it('makes an empty volume when the image has nothing at the target', async () => {
    const v = await volumes.ensure('shoalsa-none', { copyFrom: { layers: image.layerDirs, path: '/not/there' } });
    expect(v).toMatchObject({ created: true, copied: false });
    expect(readdirSync(v.path)).toEqual([]);
  });

  it('makes a new volume once when two tasks ask for it at the same time', async () => {
    const [a, b] = await Promise.all([1, 2].map(() => volumes.ensure('shoalsa-race', { copyFrom: { layers: image.layerDirs, path: '/seed' } })));
    expect([a!.created, b!.created].sort()).toEqual([false, true]);
    expect(readdirSync(a!.path).sort()).toEqual(['b.txt', 'c.txt']);
  });

  it.each(['', '../etc', 'a/b', '.hidden', '..', '-x', 'x'.repeat(256), 'a\0b'])('refuses the name %j', async (name) => {
    await expect(async () => volumes.ensure(name)).rejects.toThrow(VolumeNameError);
    expect(() => volumes.dataPath(name)).toThrow(/invalid volume name/);
  });

  it('removes an unused volume and says when there is none', async () => {
    await volumes.ensure('shoalsa-gone');
    await volumes.remove('shoalsa-gone', []);
    expect(existsSync(join(volumes.root, 'shoalsa-gone'))).toBe(false);
    await expect(volumes.remove('shoalsa-gone', [])).rejects.toThrow(VolumeNotFoundError);
  });
});
