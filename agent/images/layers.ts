// Unpacked layers, one directory per diff id: <root>/layers/<hex>/{diff/,layer.json}. A layer is
// unpacked into a private temp directory and renamed into place whole, so two loads of the same
// layer never see each other's half-written files; the loser of the rename discards its copy.
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { openDecompressed } from './compression.js';
import { DigestMismatchError } from './errors.js';
import { PATH_MAX } from './layer-paths.js';
import { DEFAULT_LAYER_LIMITS, type LayerLimits } from './limits.js';
import { tempEntryName } from './temp.js';
import { unpackLayer } from './unpack.js';
import { unless } from '../../proto/undo.js';

export interface LayerMeta {
  diffId: string;
  size: number;
}

export interface PreparedLayer extends LayerMeta {
  /** temp directory holding diff/ and layer.json, renamed whole on commit */
  dir: string;
}

export class LayerStore {
  constructor(
    readonly dir: string,
    private readonly tmpDir: string,
    private readonly logger?: Logger,
    private readonly limits: LayerLimits = DEFAULT_LAYER_LIMITS,
  ) {}

  private hex(diffId: string): string {
    return diffId.replace(/^sha256:/, '');
  }

  /** The directory overlayfs should use as a lower layer. */
  diffDir(diffId: string): string {
    return join(this.dir, this.hex(diffId), 'diff');
  }

  async has(diffId: string): Promise<boolean> {
    return stat(join(this.dir, this.hex(diffId), 'layer.json')).then(
      () => true,
      () => false,
    );
  }

  async meta(diffId: string): Promise<LayerMeta | undefined> {
    const text = await unless(readFile(join(this.dir, this.hex(diffId), 'layer.json'), 'utf8'), ['ENOENT']);
    return text === undefined ? undefined : (JSON.parse(text) as LayerMeta);
  }

  async list(): Promise<string[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    return names.filter((n) => /^[0-9a-f]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }

  /**
   * Unpacks `blobFile` into a temp directory. With `expected`, the uncompressed tar must hash
   * to it. Nothing is left behind when this throws.
   */
  async prepare(blobFile: string, source: string, expected?: string): Promise<PreparedLayer> {
    await mkdir(this.tmpDir, { recursive: true });
    const dir = join(this.tmpDir, tempEntryName('layer'));
    try {
      await mkdir(join(dir, 'diff'), { recursive: true, mode: 0o755 });
      const { stream } = await openDecompressed(blobFile, source);
      // room for entry paths below both the temp diff/ and the one the layer is renamed to
      const longest = Math.max(Buffer.byteLength(join(dir, 'diff')), Buffer.byteLength(this.diffDir(`sha256:${'0'.repeat(64)}`)));
      const res = await unpackLayer(stream, join(dir, 'diff'), source, this.logger, this.limits, PATH_MAX - longest - 1);
      if (expected !== undefined && res.diffId !== expected) throw new DigestMismatchError(source, expected, res.diffId);
      const meta: LayerMeta = { diffId: res.diffId, size: res.size };
      await writeFile(join(dir, 'layer.json'), JSON.stringify(meta));
      this.logger?.debug({ diffId: res.diffId, entries: res.entries, size: res.size }, 'layer unpacked');
      return { ...meta, dir };
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Moves a prepared layer into place; if another load got there first, keeps theirs. */
  async commit(p: PreparedLayer): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    try {
      await rename(p.dir, join(this.dir, this.hex(p.diffId)));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      await this.discard(p);
    }
  }

  async discard(p: PreparedLayer): Promise<void> {
    await rm(p.dir, { recursive: true, force: true });
  }

  /** Deletes a layer (moved aside first, so no half-deleted layer is ever visible); returns its size. */
  async remove(diffId: string): Promise<number> {
    const meta = await this.meta(diffId);
    const aside = join(this.tmpDir, tempEntryName('gc'));
    await mkdir(this.tmpDir, { recursive: true });
    try {
      await rename(join(this.dir, this.hex(diffId)), aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
    await rm(aside, { recursive: true, force: true });
    return meta?.size ?? 0;
  }
}
