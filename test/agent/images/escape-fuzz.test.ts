// Property: whatever a layer tar contains (random names with "..", absolute paths, symlinks and
// hard links aimed outside), unpacking it either succeeds or refuses, and never touches a file
// outside the layer directory.
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnsafeLayerError } from '../../../agent/images/index.js';
import { unpackLayer } from '../../../agent/images/unpack.js';
import { makeTar, tempDir, type FixtureEntry } from './fixtures.js';

let base: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir: base, cleanup } = await tempDir('fuzz'));
});
afterAll(async () => cleanup());

describe('layer unpacking never escapes', () => {
  it('holds for random hostile layers', async () => {
    const outside = join(base, 'outside');
    const victim = join(outside, 'victim');
    const component = fc.constantFrom('a', 'b', '..', '.', 'victim', '.wh.victim', '.wh..wh..opq');
    const relPath = fc.array(component, { minLength: 1, maxLength: 3 }).map((p) => p.join('/'));
    const name = fc.oneof(
      { arbitrary: relPath, weight: 8 },
      { arbitrary: relPath.map((p) => `/${p}`), weight: 1 },
      { arbitrary: fc.constantFrom(victim, `${base}/layer/a`), weight: 1 },
    );
    const linkTarget = fc.oneof(name, fc.constantFrom('..', '../..', '/', outside, victim, '../outside', 'a'));
    const single: fc.Arbitrary<FixtureEntry[]> = fc.oneof(
      fc.record({ name, type: fc.constant('file' as const), data: fc.constant('pwned') }),
      fc.record({ name, type: fc.constant('directory' as const), mode: fc.constant(0o700), uid: fc.constant(4242) }),
      fc.record({ name, type: fc.constant('symlink' as const), linkname: linkTarget }),
      fc.record({ name, type: fc.constant('link' as const), linkname: linkTarget }),
    ).map((e) => [e]);
    // the dangerous shape, made likely: plant a link, then use it as a directory
    const planted: fc.Arbitrary<FixtureEntry[]> = fc
      .tuple(relPath, linkTarget, relPath, fc.constantFrom('file', 'directory', 'symlink', 'link') as fc.Arbitrary<FixtureEntry['type']>)
      .map(([at, target, child, type]) => [
        { name: at, type: 'symlink', linkname: target },
        { name: `${at}/${child}`, type, data: type === 'file' ? 'pwned' : undefined, linkname: type === 'link' || type === 'symlink' ? 'a' : undefined },
      ]);
    const stolen: fc.Arbitrary<FixtureEntry[]> = fc
      .tuple(relPath, linkTarget, relPath)
      .map(([at, target, via]) => [
        { name: at, type: 'symlink', linkname: target },
        { name: via, type: 'link', linkname: `${at}/victim` },
        { name: via, data: 'pwned' },
      ]);
    // a directory replaced by a link after the fact: its deferred metadata must not follow it
    const replaced: fc.Arbitrary<FixtureEntry[]> = fc
      .tuple(relPath, linkTarget)
      .map(([at, target]) => [
        { name: at, type: 'directory', mode: 0o700, uid: 4242, mtime: new Date(5_000_000) },
        { name: at, type: 'symlink', linkname: target },
      ]);
    const layers = fc.array(fc.oneof(single, planted, stolen, replaced), { minLength: 1, maxLength: 5 }).map((groups) => groups.flat());
    let run = 0;
    await fc.assert(
      fc.asyncProperty(layers, async (entries) => {
        const layer = join(base, 'layer');
        rmSync(layer, { recursive: true, force: true });
        rmSync(outside, { recursive: true, force: true });
        mkdirSync(layer);
        mkdirSync(outside);
        writeFileSync(victim, 'orig');
        chmodSync(victim, 0o600);
        utimesSync(victim, 1000, 1000);
        utimesSync(outside, 1000, 1000);
        try {
          await unpackLayer(Readable.from(await makeTar(entries)), layer, `fuzz run ${run++}`);
        } catch (err) {
          if (!(err instanceof UnsafeLayerError)) throw err;
        }
        expect(readdirSync(base).sort()).toEqual(['layer', 'outside']);
        expect(readdirSync(outside)).toEqual(['victim']);
        expect(readFileSync(victim, 'utf8')).toBe('orig');
        const st = lstatSync(victim);
        expect([st.nlink, st.mode & 0o7777, st.uid, st.mtimeMs]).toEqual([1, 0o600, 0, 1_000_000]);
        const od = lstatSync(outside);
        expect([od.mode & 0o7777, od.uid, od.mtimeMs]).toEqual([0o755, 0, 1_000_000]);
      }),
      { numRuns: 300, seed: 20261125 },
    );
  });
});
