// The image store: content-addressed blobs, unpacked layers shared by every image that has them,
// image records and refs, all under one root (SHOAL_ROOT/images in a real install).
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { ensurePrivateDir } from '../../proto/file-modes.js';
import { stageArchive } from './archive.js';
import { BlobStore, sha256, writeHashed } from './blobs.js';
import { AmbiguousImageError, ImageArchiveError, ImageConflictError, ImageNotFoundError, ImageStoreCorruptError } from './errors.js';
import { parseArchive, type ImageCandidate } from './formats.js';
import { buildImageConfig, parseImageConfig } from './image-config.js';
import { installImages, type InstallDeps } from './install.js';
import { LayerStore, type PreparedLayer } from './layers.js';
import { layerLimits, type LayerLimits } from './limits.js';
import { isStaleTempEntry, tempEntryName } from './temp.js';
import { withStoreLock } from './lock.js';
import { RecordFiles, type StoredImage } from './records.js';
import { saveOciLayout, type SaveItem } from './save.js';
import { looksLikeId, normalizeReference, parseReference } from './reference.js';
import type { ImageConfig, ImageRecord, ResolvedImage } from './types.js';
import { unless } from '../../proto/undo.js';

export interface ImageStoreOptions {
  /** SHOAL_ROOT/images in a real install; tests pass a temp directory */
  root: string;
  logger?: Logger;
  /** ids of images that containers still use: remove() refuses them without force, prune() keeps them */
  imagesInUse?: () => Promise<Iterable<string>>;
  /** Bounds on what a load or import may unpack (default: layerLimits(), i.e. SHOAL_MAX_* or built-in). */
  limits?: Partial<LayerLimits>;
}

export class ImageStore {
  readonly root: string;
  private readonly logger: Logger;
  private readonly tmpDir: string;
  private readonly blobs: BlobStore;
  private readonly layers: LayerStore;
  private readonly records: RecordFiles;
  private readonly lockFile: string;
  private readonly imagesInUse: () => Promise<Iterable<string>>;
  readonly limits: LayerLimits;

  constructor(opts: ImageStoreOptions) {
    this.root = opts.root;
    // layers hold setuid binaries and device nodes: no other user may reach them (proto/file-modes.ts)
    ensurePrivateDir(this.root, (fix) => opts.logger?.warn(fix, 'image store was open to other users; closed'));
    this.logger = opts.logger ?? pino({ level: 'silent' });
    this.tmpDir = join(this.root, 'tmp');
    this.blobs = new BlobStore(join(this.root, 'blobs'), this.tmpDir);
    this.limits = { ...layerLimits(), ...opts.limits };
    this.layers = new LayerStore(join(this.root, 'layers'), this.tmpDir, this.logger, this.limits);
    this.records = new RecordFiles(this.root, this.tmpDir);
    this.lockFile = join(this.root, 'lock');
    this.imagesInUse = opts.imagesInUse ?? (async () => []);
  }

  private deps(): InstallDeps {
    return { blobs: this.blobs, layers: this.layers, records: this.records, lockFile: this.lockFile, logger: this.logger };
  }

  private async workDir(kind: string): Promise<string> {
    const dir = await this.tempPath(kind);
    await mkdir(dir);
    return dir;
  }

  /** A fresh path under the store's tmp/ (same file system), removed at the next start if its process dies. */
  async tempPath(kind: string): Promise<string> {
    await mkdir(this.tmpDir, { recursive: true });
    return join(this.tmpDir, tempEntryName(kind));
  }

  /**
   * Loads every image in an OCI image-layout tar or a `docker save` tar (plain or gzip).
   * `sourceName` names the archive in errors when the path is a spool file (e.g. "stdin").
   */
  async load(archivePath: string, sourceName: string = archivePath): Promise<ImageRecord[]> {
    await this.removeStaleTemp();
    const work = await this.workDir('load');
    try {
      const staged = await stageArchive(archivePath, work, sourceName, this.limits);
      const candidates = await parseArchive(staged);
      if (candidates.length === 0) throw new ImageArchiveError(sourceName, 'it contains no images');
      const stored = await installImages(this.deps(), candidates);
      return Promise.all(stored.map((s) => this.toRecord(s)));
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /** Imports a plain rootfs tarball (plain or gzip) as a one-layer image named `ref`. */
  async importRootfs(tarPath: string, ref: string, config: Partial<ImageConfig> = {}): Promise<ImageRecord> {
    const name = normalizeReference(ref);
    await this.removeStaleTemp();
    const work = await this.workDir('import');
    let layer: PreparedLayer | undefined;
    try {
      const blobFile = join(work, 'blob');
      const blob = await writeHashed(createReadStream(tarPath), blobFile).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'EISDIR' || err.code === 'EACCES') {
          throw new ImageArchiveError(tarPath, err.code === 'ENOENT' ? 'no such file' : err.message);
        }
        throw err;
      });
      layer = await this.layers.prepare(blobFile, tarPath);
      const configBytes = buildImageConfig(config, [layer.diffId], new Date().toISOString());
      const fail = (why: string): never => {
        throw new Error(why);
      };
      const candidate: ImageCandidate = {
        refs: [name],
        configBytes,
        configDigest: sha256(configBytes),
        parsed: parseImageConfig(JSON.parse(configBytes.toString('utf8')), fail),
        layers: [{ blob: { file: blobFile, ...blob }, diffId: layer.diffId }],
      };
      const [stored] = await installImages(this.deps(), [candidate], new Map([[layer.diffId, layer]]));
      return this.toRecord(stored!);
    } finally {
      if (layer) await this.layers.discard(layer); // a no-op once it was renamed into place
      await rm(work, { recursive: true, force: true });
    }
  }

  /**
   * Writes images to `outPath` as one OCI image-layout tarball that load() (and other tools)
   * read. An image named by ref carries that ref; one named by id carries all of its refs.
   */
  async save(refs: string[], outPath: string): Promise<void> {
    await withStoreLock(this.lockFile, async () => {
      const allRefs = await this.records.refs();
      const byId = new Map<string, SaveItem>();
      for (const ref of refs) {
        const { img, byName } = await this.lookup(ref);
        const item = byId.get(img.id) ?? { img, names: [] };
        const names = byName !== undefined ? [byName] : [...allRefs].filter(([, id]) => id === img.id).map(([r]) => r);
        for (const n of names) if (!item.names.includes(n)) item.names.push(n);
        byId.set(img.id, item);
      }
      await saveOciLayout([...byId.values()], this.blobs, outPath);
      this.logger.info({ images: [...byId.keys()], outPath }, 'images saved');
    });
  }

  async list(): Promise<ImageRecord[]> {
    const refs = await this.records.refs();
    const images = await this.records.allImages();
    const out = images.map((img) => this.recordWith(img, refs));
    return out.sort((a, b) => (b.created ?? '').localeCompare(a.created ?? '') || a.id.localeCompare(b.id));
  }

  async inspect(ref: string): Promise<ImageRecord> {
    return this.toRecord(await this.find(ref));
  }

  /** What a container needs: the image id, its layer directories (lowest first) and defaults. */
  async resolve(ref: string): Promise<ResolvedImage> {
    const img = await this.find(ref);
    const layerDirs: string[] = [];
    for (const diffId of img.layers) {
      const dir = this.layers.diffDir(diffId);
      if (!(await unless(stat(dir), ['ENOENT']))) {
        throw new ImageStoreCorruptError(`image ${ref}: layer ${diffId} is missing from ${this.root}; remove the image and load it again`);
      }
      layerDirs.push(dir);
    }
    return { id: img.id, layerDirs, config: img.config };
  }

  /**
   * Removes a reference, and the image once no reference is left. By id, an image that several
   * refs name, or one in use by a container, needs force. Layers stay until prune().
   */
  async remove(ref: string, opts: { force?: boolean } = {}): Promise<void> {
    await withStoreLock(this.lockFile, async () => {
      const { img, byName } = await this.lookup(ref);
      const refs = [...(await this.records.refs())].filter(([, id]) => id === img.id).map(([r]) => r);
      const inUse = new Set(await this.imagesInUse()).has(img.id);
      if (byName !== undefined && refs.length > 1) {
        await this.records.removeRef(byName); // other refs still name the image
        return;
      }
      if (byName === undefined && refs.length > 1 && !opts.force) {
        throw new ImageConflictError(`image ${img.id.slice(7, 19)} is referenced by ${refs.join(', ')}: remove those refs, or use -f to remove them all`);
      }
      if (inUse && !opts.force) {
        throw new ImageConflictError(`image ${ref} (${img.id.slice(7, 19)}) is used by a container: remove the container first, or use -f`);
      }
      for (const r of refs) await this.records.removeRef(r);
      // An image still in use stays as an untagged record until prune finds it unused.
      if (!inUse) await this.records.removeImage(img.id);
      this.logger.info({ image: img.id, refs }, 'image removed');
    });
  }

  /** Removes untagged unused images, then every layer and blob that no image uses. */
  async prune(): Promise<{ removedLayers: number; reclaimedBytes: number; removedImages: number }> {
    return withStoreLock(this.lockFile, async () => {
      const inUse = new Set(await this.imagesInUse());
      const ids = new Set(await this.records.imageIds());
      const refs = await this.records.refs();
      // a ref left pointing at nothing (a crash between writes) is dropped
      for (const [ref, id] of refs) if (!ids.has(id)) await this.records.removeRef(ref);
      const tagged = new Set(refs.values());
      let removedImages = 0;
      const keep: StoredImage[] = [];
      for (const img of await this.records.allImages()) {
        if (!tagged.has(img.id) && !inUse.has(img.id)) {
          await this.records.removeImage(img.id);
          removedImages++;
        } else keep.push(img);
      }
      const usedLayers = new Set(keep.flatMap((i) => i.layers));
      const usedBlobs = new Set(keep.flatMap((i) => [i.id, ...i.layerBlobs, ...(i.manifestDigest ? [i.manifestDigest] : [])]));
      let removedLayers = 0;
      let reclaimedBytes = 0;
      for (const diffId of await this.layers.list()) {
        if (usedLayers.has(diffId)) continue;
        reclaimedBytes += await this.layers.remove(diffId);
        removedLayers++;
      }
      for (const digest of await this.blobs.list()) {
        if (!usedBlobs.has(digest)) reclaimedBytes += await this.blobs.remove(digest);
      }
      await this.removeStaleTemp();
      this.logger.info({ removedImages, removedLayers, reclaimedBytes }, 'image store pruned');
      return { removedLayers, reclaimedBytes, removedImages };
    });
  }

  /**
   * Removes temp entries of processes that died mid-load or mid-import (see temp.ts): run by every
   * load and import, by prune, and by the daemon at start. Returns how many were removed.
   */
  async removeStaleTemp(): Promise<number> {
    let removed = 0;
    for (const name of await readdir(this.tmpDir).catch(() => [] as string[])) {
      if (!isStaleTempEntry(name)) continue;
      await rm(join(this.tmpDir, name), { recursive: true, force: true });
      removed++;
    }
    if (removed > 0) this.logger.info({ removed, dir: this.tmpDir }, 'removed work left by interrupted image loads');
    return removed;
  }

  private async find(ref: string): Promise<StoredImage> {
    return (await this.lookup(ref)).img;
  }

  /** Finds an image by ref, by id or by unique id prefix; `byName` is the ref when found by name. */
  private async lookup(ref: string): Promise<{ img: StoredImage; byName?: string }> {
    if (!ref.startsWith('sha256:')) {
      let name: string | undefined;
      try {
        name = normalizeReference(ref);
      } catch (err) {
        if (!looksLikeId(ref)) throw err;
      }
      if (name !== undefined) {
        const parsed = parseReference(ref);
        if (parsed.digest !== undefined) {
          const img = (await this.records.allImages()).find((i) => i.manifestDigest === parsed.digest || i.id === parsed.digest);
          if (img) return { img };
        } else {
          const id = await this.records.ref(name);
          const img = id === undefined ? undefined : await this.records.readImage(id);
          if (img) return { img, byName: name };
        }
      }
    }
    if (looksLikeId(ref)) {
      const hex = ref.replace(/^sha256:/, '');
      const ids = (await this.records.imageIds()).filter((id) => id.slice(7).startsWith(hex));
      if (ids.length > 1) throw new AmbiguousImageError(ref, ids);
      const img = ids.length === 1 ? await this.records.readImage(ids[0]!) : undefined;
      if (img) return { img };
    }
    throw new ImageNotFoundError(ref);
  }

  private async toRecord(img: StoredImage): Promise<ImageRecord> {
    return this.recordWith(img, await this.records.refs());
  }

  private recordWith(img: StoredImage, refs: Map<string, string>): ImageRecord {
    const names = [...refs].filter(([, id]) => id === img.id).map(([r]) => r).sort();
    const rec: ImageRecord = { id: img.id, refs: names, layers: img.layers, size: img.size, config: img.config };
    if (img.created) rec.created = img.created;
    if (img.os) rec.os = img.os;
    if (img.architecture) rec.architecture = img.architecture;
    if (img.manifestDigest) rec.manifestDigest = img.manifestDigest;
    return rec;
  }
}
