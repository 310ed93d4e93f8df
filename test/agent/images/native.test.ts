// Issue 12: the addon is built at install time; the loader never builds or waits for a build.
// A missing addon is an error at once, naming the directory searched and the command that builds it.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFsOps, NativeAddonError } from '../../../agent/images/index.js';
import { tempDir } from './fixtures.js';

const REPO = resolve(import.meta.dirname, '..', '..', '..');
let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('native'));
});
afterAll(async () => cleanup());

describe('native addon loader', () => {
  it('reports a missing addon with the fix, and builds nothing', () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    expect(() => loadFsOps({ dir: empty })).toThrow(NativeAddonError);
    expect(() => loadFsOps({ dir: empty })).toThrow(/shoal_native\.node not found in .*empty.*npm run build:native/);
    expect(readdirSync(empty)).toEqual([]);
  });

  it('refuses a file that does not load as the addon', () => {
    const other = join(dir, 'other');
    mkdirSync(other);
    // a truncated file, as an interrupted copy or build leaves
    writeFileSync(join(other, 'shoal_native.node'), '');
    expect(() => loadFsOps({ dir: other })).toThrow(/npm run build:native/);
  });

  it('loads the built addon from the directory it is given', () => {
    const ops = loadFsOps({ dir: join(REPO, 'native', 'build', 'Release') });
    expect(typeof ops.mknod).toBe('function');
    expect(ops.llistxattr(dir)).toEqual(expect.any(Array));
  });

  it('SHOAL_NATIVE_DIR points the process-wide loader elsewhere: a half-built tree fails at once', () => {
    // the shape the old loader took for "node-gyp is rebuilding" and waited up to 60 s on
    const tree = join(dir, 'half-built');
    mkdirSync(join(tree, 'native', 'build', 'Release'), { recursive: true });
    writeFileSync(join(tree, 'native', 'binding.gyp'), '{}');
    const script = "import('./agent/images/index.ts').then((m) => m.fsOps()).catch((e) => { console.error(e.name + ': ' + e.message); process.exit(3); })";
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
      cwd: REPO,
      env: { ...process.env, SHOAL_NATIVE_DIR: join(tree, 'native', 'build', 'Release') },
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/NativeAddonError: native addon shoal_native\.node not found in .*half-built.*SHOAL_NATIVE_DIR.*npm run build:native/);
    expect(readdirSync(join(tree, 'native', 'build', 'Release'))).toEqual([]);
  });
});
