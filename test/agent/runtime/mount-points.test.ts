// The shared mount-point layer: a container's /etc/hostname, /etc/hosts and /etc/resolv.conf
// are bound without copying anything up into its upper directory, the image's /etc stays
// visible, and an image whose /etc is a symlink is mounted without the layer.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layerMergesWith, MountPointLayer } from '../../../agent/runtime/mount-points.js';
import { makeFixture, type Fixture } from './helpers.js';

describe('layerMergesWith', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'shoalrt-mp-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const layer = (name: string, etc: 'dir' | 'symlink' | 'none' | 'file'): string => {
    const l = join(dir, name);
    mkdirSync(l);
    if (etc === 'dir') mkdirSync(join(l, 'etc'));
    if (etc === 'symlink') symlinkSync('private/etc', join(l, 'etc'));
    if (etc === 'file') writeFileSync(join(l, 'etc'), '');
    return l;
  };

  it('follows the top-most layer that has /etc', () => {
    const base = layer('base', 'dir');
    const link = layer('link', 'symlink');
    const empty = layer('empty', 'none');
    expect(layerMergesWith([base])).toBe(true);
    expect(layerMergesWith([base, empty])).toBe(true);
    expect(layerMergesWith([base, link])).toBe(false);
    expect(layerMergesWith([link, empty])).toBe(false);
    expect(layerMergesWith([link, layer('redo', 'dir')])).toBe(true);
    expect(layerMergesWith([layer('file', 'file')])).toBe(false);
    expect(layerMergesWith([empty])).toBe(true);
  });

  it('treats a whiteout of /etc as no /etc', () => {
    const wh = join(dir, 'wh');
    mkdirSync(wh);
    execFileSync('mknod', [join(wh, 'etc'), 'c', '0', '0']);
    expect(layerMergesWith([join(dir, 'base'), wh])).toBe(true);
  });

  it('puts the layer on top only when /etc merges, and makes it once', () => {
    const state = join(dir, 'state');
    const mp = new MountPointLayer(state);
    const withIt = mp.layersFor([join(dir, 'base')]);
    expect(withIt.slice(0, 1)).toEqual([join(dir, 'base')]);
    expect(withIt).toHaveLength(2);
    expect(readdirSync(join(withIt[1]!, 'etc')).sort()).toEqual(['hostname', 'hosts', 'resolv.conf']);
    expect(readdirSync(withIt[1]!).sort()).toEqual(['dev', 'etc', 'proc', 'sys']);
    expect(mp.layersFor([join(dir, 'link')])).toEqual([join(dir, 'link')]);
    // a second runtime over the same state dir finds the same layer
    expect(new MountPointLayer(state).layersFor([join(dir, 'base')])).toEqual(withIt);
    expect(readdirSync(join(state, '.layers'))).toEqual(['mount-points-v1']);
    // removed behind its back: made again
    rmSync(join(state, '.layers'), { recursive: true });
    expect(mp.layersFor([join(dir, 'base')])).toEqual(withIt);
    expect(readdirSync(join(withIt[1]!, 'etc')).sort()).toEqual(['hostname', 'hosts', 'resolv.conf']);
  });
});

describe('containers on the layer', () => {
  let fx: Fixture;
  beforeAll(() => {
    fx = makeFixture('mp');
  });
  afterAll(async () => {
    await fx?.cleanup();
  });

  it('binds the etc files and mounts /dev, /proc, /sys without writing to the container layer, and keeps the image /etc', async () => {
    const c = await fx.runtime.run({ rootfs: { layers: [fx.layer] }, args: ['/bin/sh', '-c', 'cat /etc/hostname; grep -c root /etc/passwd; ls /etc | tr "\\n" " "; echo'], hostname: 'shoalrt-mp', network: 'none' });
    const exit = await fx.runtime.wait(c.id);
    expect(exit.code).toBe(0);
    const out: string[] = [];
    for await (const e of fx.runtime.logs(c.id)) out.push(e.text);
    expect(out.join('')).toBe('shoalrt-mp\n1\ngroup hostname hosts passwd resolv.conf \n');
    // nothing was written into the container's own layer
    expect(readdirSync(join(fx.stateDir, c.id, 'upper'))).toEqual([]);
    await fx.runtime.remove(c.id);
  });
});
