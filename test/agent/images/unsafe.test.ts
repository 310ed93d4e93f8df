// Hostile layers: every way out of the layer directory is refused with UnsafeLayerError, nothing
// is written outside, and no half-unpacked layer, temp dir, blob or image record stays behind.
import { existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImageStore, UnsafeLayerError } from '../../../agent/images/index.js';
import { makeTar, ociArchive, tempDir, type FixtureEntry } from './fixtures.js';

let dir: string;
let outside: string;
let cleanup: () => Promise<void>;
let store: ImageStore;
let storeRoot: string;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('unsafe'));
  storeRoot = join(dir, 'store');
  outside = join(dir, 'outside');
  await mkdir(outside);
  store = new ImageStore({ root: storeRoot });
});
afterEach(async () => cleanup());

/** Nothing of a refused layer may remain in the store. */
function expectNoResidue(): void {
  const list = (sub: string): string[] => (existsSync(join(storeRoot, sub)) ? readdirSync(join(storeRoot, sub)) : []);
  expect(list('layers')).toEqual([]);
  expect(list('tmp')).toEqual([]);
  expect(list('images')).toEqual([]);
  expect(list('refs')).toEqual([]);
  expect(list('blobs/sha256')).toEqual([]);
}

async function expectRefused(entries: FixtureEntry[], pattern: RegExp, via: 'import' | 'load' = 'import'): Promise<void> {
  const layer = await makeTar([{ name: 'ok/', type: 'directory' }, { name: 'ok/file', data: 'fine' }, ...entries]);
  const file = join(dir, 'in.tar');
  if (via === 'import') {
    writeFileSync(file, layer);
    await expect(store.importRootfs(file, 'evil:1')).rejects.toThrow(UnsafeLayerError);
    await expect(store.importRootfs(file, 'evil:1')).rejects.toThrow(pattern);
  } else {
    writeFileSync(file, await ociArchive({ layers: [layer], names: ['docker.io/library/evil:1'] }));
    await expect(store.load(file)).rejects.toThrow(UnsafeLayerError);
  }
  expect(readdirSync(outside)).toEqual([]);
  expectNoResidue();
}

describe('unsafe layers are refused', () => {
  it('a "../" path', async () => {
    await expectRefused([{ name: '../outside/pwned', data: 'x' }], /"\.\."/);
    await expectRefused([{ name: 'ok/../../outside/pwned', data: 'x' }], /"\.\."/, 'load');
  });

  it('an absolute path', async () => {
    const target = join(outside, 'abs');
    await expectRefused([{ name: target, data: 'x' }], /absolute/);
    expect(existsSync(target)).toBe(false);
  });

  it('writing through a symlink planted earlier in the same layer', async () => {
    await expectRefused(
      [
        { name: 'escape', type: 'symlink', linkname: outside },
        { name: 'escape/pwned', data: 'x' },
      ],
      /symlink "escape"/,
    );
    // a relative symlink that climbs out is just as bad
    await expectRefused(
      [
        { name: 'ok/up', type: 'symlink', linkname: '../../../..' },
        { name: 'ok/up/pwned', data: 'x' },
      ],
      /symlink "ok\/up"/,
      'load',
    );
  });

  it('a whiteout or opaque marker below a symlink', async () => {
    await expectRefused(
      [
        { name: 'escape', type: 'symlink', linkname: outside },
        { name: 'escape/.wh.victim', data: '' },
      ],
      /symlink/,
    );
    await expectRefused(
      [
        { name: 'escape', type: 'symlink', linkname: outside },
        { name: 'escape/.wh..wh..opq', data: '' },
      ],
      /symlink/,
    );
  });

  it('a hard link to a file outside, directly or through a symlink', async () => {
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'secret');
    await expectRefused([{ name: 'ok/steal', type: 'link', linkname: '../victim' }], /"\.\."/);
    await expectRefused([{ name: 'ok/steal', type: 'link', linkname: victim }], /absolute/);
    await expectRefused(
      [
        { name: 'escape', type: 'symlink', linkname: dir },
        { name: 'ok/steal', type: 'link', linkname: 'escape/victim' },
      ],
      /through the symlink "escape"/,
    );
  });

  it('a directory replaced by a symlink keeps its deferred mtime to itself', async () => {
    utimesSync(outside, 1000, 1000);
    const file = join(dir, 'ok.tar');
    writeFileSync(
      file,
      await makeTar([
        { name: 'd', type: 'directory', mtime: new Date(5_000_000) },
        { name: 'd', type: 'symlink', linkname: outside },
      ]),
    );
    await store.importRootfs(file, 'fine:1');
    expect(statSync(outside).mtimeMs).toBe(1_000_000);
  });

  it('replacing a planted symlink with a file writes the file, not through the link', async () => {
    const victim = join(outside, 'victim');
    const file = join(dir, 'ok.tar');
    writeFileSync(
      file,
      await makeTar([
        { name: 'f', type: 'symlink', linkname: victim },
        { name: 'f', data: 'inside' },
      ]),
    );
    await store.importRootfs(file, 'fine:1');
    expect(existsSync(victim)).toBe(false);
    const { layerDirs } = await store.resolve('fine:1');
    expect(readdirSync(layerDirs[0]!)).toEqual(['f']);
    expect(readFileSync(join(layerDirs[0]!, 'f'), 'utf8')).toBe('inside');
  });
});
