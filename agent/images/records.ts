// On-disk metadata: images/<hex>.json (one per image id) and refs/<encoded ref> (a file holding
// the id the ref points at). One file per ref makes retagging a single atomic rename.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageConfig } from './types.js';
import { unless } from '../../proto/undo.js';

export interface StoredImage {
  id: string;
  layers: string[];
  /** digests of the layer blobs as they arrived (compressed or not), kept for re-export */
  layerBlobs: string[];
  manifestDigest?: string;
  size: number;
  created?: string;
  os?: string;
  architecture?: string;
  config: ImageConfig;
}

export class RecordFiles {
  readonly imagesDir: string;
  readonly refsDir: string;

  constructor(root: string, private readonly tmpDir: string) {
    this.imagesDir = join(root, 'images');
    this.refsDir = join(root, 'refs');
  }

  private hex(id: string): string {
    return id.replace(/^sha256:/, '');
  }

  async readImage(id: string): Promise<StoredImage | undefined> {
    const text = await unless(readFile(join(this.imagesDir, `${this.hex(id)}.json`), 'utf8'), ['ENOENT']);
    return text === undefined ? undefined : (JSON.parse(text) as StoredImage);
  }

  async writeImage(img: StoredImage): Promise<void> {
    await this.atomicWrite(join(this.imagesDir, `${this.hex(img.id)}.json`), JSON.stringify(img, null, 1));
  }

  async removeImage(id: string): Promise<void> {
    await rm(join(this.imagesDir, `${this.hex(id)}.json`), { force: true });
  }

  async imageIds(): Promise<string[]> {
    const names = await readdir(this.imagesDir).catch(() => [] as string[]);
    return names.filter((n) => /^[0-9a-f]{64}\.json$/.test(n)).map((n) => `sha256:${n.slice(0, 64)}`);
  }

  async allImages(): Promise<StoredImage[]> {
    const out: StoredImage[] = [];
    for (const id of await this.imageIds()) {
      const img = await this.readImage(id);
      if (img) out.push(img);
    }
    return out;
  }

  /** ref -> image id, for every ref */
  async refs(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const names = (await unless(readdir(this.refsDir), ['ENOENT'])) ?? [];
    for (const n of names) {
      const id = await unless(readFile(join(this.refsDir, n), 'utf8'), ['ENOENT']); // ENOENT: removed meanwhile
      if (id !== undefined) out.set(decodeURIComponent(n), id.trim());
    }
    return out;
  }

  async ref(ref: string): Promise<string | undefined> {
    const id = await unless(readFile(join(this.refsDir, encodeURIComponent(ref)), 'utf8'), ['ENOENT']);
    return id?.trim();
  }

  async setRef(ref: string, id: string): Promise<void> {
    await this.atomicWrite(join(this.refsDir, encodeURIComponent(ref)), id);
  }

  async removeRef(ref: string): Promise<void> {
    await rm(join(this.refsDir, encodeURIComponent(ref)), { force: true });
  }

  private async atomicWrite(path: string, text: string): Promise<void> {
    await mkdir(this.tmpDir, { recursive: true });
    await mkdir(join(path, '..'), { recursive: true });
    const tmp = join(this.tmpDir, `${process.pid}-rec-${randomBytes(6).toString('hex')}`);
    await writeFile(tmp, text, { flag: 'wx' });
    await rename(tmp, path);
  }
}
