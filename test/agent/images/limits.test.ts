// Issue 9, point 6: abuse of the image loader. A gzip bomb (small here: 16 MiB of zeros in a few
// KiB, against a 1 MiB limit), a layer of too many entries, an archive that inflates past its
// bound, an over-long path, a killed load's leftovers, and RepoTags that are not references.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ImageArchiveError, ImageStore, LayerLimitError, UnsafeLayerError } from '../../../agent/images/index.js';
import { tempEntryName } from '../../../agent/images/temp.js';
import { digest, dockerSaveArchive, makeTar, ociArchive, tempDir, type FixtureEntry } from './fixtures.js';
import { waitFor } from '../../helpers/wait.js';

const REPO = resolve(import.meta.dirname, '..', '..', '..');
const MiB = 1024 * 1024;

let dir: string;
let cleanup: () => Promise<void>;
let n = 0;
let root: string;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('limits'));
});
afterAll(async () => cleanup());
beforeEach(() => {
  root = join(dir, `store-${n++}`);
});

const bombLayer = (): Promise<Buffer> => makeTar([{ name: 'zeros', data: Buffer.alloc(16 * MiB) }]);

async function archive(file: string, data: Buffer): Promise<string> {
  const p = join(dir, file);
  writeFileSync(p, data);
  return p;
}

function nothingStored(store: ImageStore): void {
  for (const sub of ['layers', 'tmp']) {
    const p = join(store.root, sub);
    expect(existsSync(p) ? readdirSync(p) : [], sub).toEqual([]);
  }
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `shoal image ARGS --root ROOT` as a process; `onSpawn` may act on it while it runs. */
function shoal(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'image', ...args, '--root', root], {
      cwd: REPO,
      env: { ...process.env, SHOAL_DEBUG: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', rej);
    child.on('close', (code) => res({ code, stdout, stderr }));
  });
}

function expectOneLineError(r: Run, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr).toMatch(pattern);
  expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).not.toMatch(/internal error/);
}

describe('bounds on unpacking', () => {
  it('a gzip bomb layer is refused at the configured size, naming the layer, the limit and how to raise it', async () => {
    const layer = await bombLayer();
    const oci = await ociArchive({ layers: [layer], names: ['bomb:1'] });
    expect(oci.length).toBeLessThan(MiB / 8); // the blob is gzip: 16 MiB of content in a few KiB
    const path = await archive('bomb.tar', oci);
    const store = new ImageStore({ root, limits: { layerBytes: MiB } });
    const err = await store.load(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LayerLimitError);
    expect((err as Error).message).toContain(digest(layer)); // the layer's diff id
    expect((err as Error).message).toMatch(/more than 1 MiB, the limit on one layer's unpacked size; nothing was stored/);
    expect((err as Error).message).toMatch(/raise it with --max-layer-size 2m or SHOAL_MAX_LAYER_SIZE=2m/);
    nothingStored(store);
    expect(await store.list()).toEqual([]);
    // the same archive under a limit that fits it
    const roomy = new ImageStore({ root, limits: { layerBytes: 32 * MiB } });
    expect((await roomy.load(path)).map((r) => r.refs)).toEqual([['bomb:1']]);
  });

  it('a layer of too many entries is refused', async () => {
    const entries: FixtureEntry[] = Array.from({ length: 50 }, (_, i) => ({ name: `f${i}`, data: '' }));
    const path = await archive('many.tar', await dockerSaveArchive({ layers: [await makeTar(entries)], names: ['many:1'] }));
    const store = new ImageStore({ root, limits: { layerEntries: 20 } });
    await expect(store.load(path)).rejects.toThrow(/more than 20 entries, the limit on the entries of one layer; nothing was stored\. .*--max-layer-entries 40 or SHOAL_MAX_LAYER_ENTRIES=40/);
    nothingStored(store);
  });

  it('a whole archive that inflates past its bound is refused before its layers are looked at', async () => {
    const outer = gzipSync(await dockerSaveArchive({ layers: [await bombLayer()], names: ['outer:1'] }));
    const path = await archive('outer.tar.gz', outer);
    const store = new ImageStore({ root, limits: { archiveBytes: 2 * MiB } });
    await expect(store.load(path)).rejects.toThrow(/^refusing image archive .*outer\.tar\.gz: it has more than 2 MiB, the limit on an image archive's unpacked size.*--max-archive-size 4m/);
    nothingStored(store);
  });

  it('the CLI takes the limits from flags and from the environment, with a one-line error', async () => {
    const path = await archive('bomb-cli.tar', await ociArchive({ layers: [await bombLayer()], names: ['bomb:2'] }));
    expectOneLineError(await shoal(['load', '-i', path, '--max-layer-size', '1m']), /^shoal: refusing layer sha256:.*more than 1 MiB.*--max-layer-size 2m/);
    expectOneLineError(await shoal(['load', '-i', path], { SHOAL_MAX_LAYER_SIZE: '4m' }), /more than 4 MiB/);
    expectOneLineError(await shoal(['load', '-i', path, '--max-layer-size', 'lots']), /--max-layer-size must be a size such as 20g/);
    const rootfs = await archive('rootfs-bomb.tar.gz', gzipSync(await bombLayer()));
    expectOneLineError(await shoal(['import', rootfs, 'bomb:3', '--max-layer-size', '8m']), /^shoal: refusing .*rootfs-bomb\.tar\.gz: it has more than 8 MiB/);
    const layers = join(root, 'images', 'layers');
    expect(existsSync(layers) ? readdirSync(layers) : []).toEqual([]);
    const fits = await shoal(['load', '-i', path, '--max-layer-size', '17m']);
    expect(fits.stdout, fits.stderr).toBe('Loaded image: bomb:2\n');
  });
});

describe('over-long paths', () => {
  it('a name longer than NAME_MAX, a path longer than PATH_MAX, or one that outgrows it under the store: clear errors', async () => {
    const store = new ImageStore({ root });
    const cases: [string, RegExp][] = [
      [`${'n'.repeat(300)}`, /has a name of 300 bytes in its path; Linux allows at most 255/],
      [Array.from({ length: 20 }, () => 'd'.repeat(250)).join('/'), /has a path of 5019 bytes; Linux allows at most 4095/],
      // under 4095 bytes itself, but not once below the store's layer directory: it would unpack, and
      // then nothing could remove it by path (prune failed with ENAMETOOLONG)
      [Array.from({ length: 16 }, () => 'p'.repeat(250)).join('/') + '/f', /has a path of 4017 bytes, more than the \d+ that fit below this store's layer directories \(Linux allows 4095 in all\)/],
    ];
    for (const [name, why] of cases) {
      const path = await archive(`long-${n++}.tar`, await ociArchive({ layers: [await makeTar([{ name, data: 'x' }])] }));
      const err = await store.load(path).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnsafeLayerError);
      expect((err as Error).message).toMatch(why);
      expect((err as Error).message.length).toBeLessThan(600); // the name is shortened, not pasted whole
      nothingStored(store);
    }
    const cli = await shoal(['load', '-i', await archive('long-cli.tar', await ociArchive({ layers: [await makeTar([{ name: cases[2]![0], data: 'x' }])] }))]);
    expectOneLineError(cli, /^shoal: refusing layer .*has a path of 4017 bytes, more than .*; nothing was unpacked/);
  });
});

describe('a killed load', () => {
  it('leaves a spool behind that the next load removes; a live process keeps its own', async () => {
    const path = await archive('big.tar', await ociArchive({ layers: [await makeTar([{ name: 'big', data: Buffer.alloc(8 * MiB, 1) }])] }));
    // a load reading a pipe that never ends: it spools what it got, then is killed with SIGKILL
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'image', 'load', '--root', root], { cwd: REPO, stdio: ['pipe', 'ignore', 'ignore'] });
    const exited = new Promise((r) => child.once('exit', r));
    const tmp = join(root, 'images', 'tmp');
    try {
      child.stdin.write(Buffer.alloc(256 * 1024, 7));
      await waitFor('the load to spool stdin', () => existsSync(tmp) && readdirSync(tmp).some((f) => statSync(join(tmp, f)).size > 0), 60_000);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    const left = readdirSync(tmp);
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(new RegExp(`^${child.pid}\\.\\d+-stdin-`));
    // an entry of a process that is still running (this one) must survive
    const mine = join(tmp, tempEntryName('load'));
    mkdirSync(mine);

    const store = new ImageStore({ root: join(root, 'images') });
    await store.load(path);
    expect(readdirSync(tmp)).toEqual([mine.slice(tmp.length + 1)]);
  });
});

describe('RepoTags of a docker save archive', () => {
  it('an invalid tag refuses the load naming it; nothing is stored', async () => {
    const layer = await makeTar([{ name: 'a', data: 'a' }]);
    const store = new ImageStore({ root });
    for (const [tags, why] of [
      [['ok:1', 'Bad Tag!'], /manifest\.json tags [0-9a-f]{64}\.json as "Bad Tag!", which is not a valid image reference/],
      [[42], /has a RepoTags entry for .* that is not a string: 42/],
    ] as const) {
      const path = await archive(`tags-${n++}.tar`, await dockerSaveArchive({ layers: [layer], names: tags as unknown as string[] }));
      const err = await store.load(path).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ImageArchiveError);
      expect((err as Error).message).toMatch(why);
      expect(await store.list()).toEqual([]);
    }
  });
});
