// The commit step shared by load() and importRootfs(): unpack the layers the store lacks (outside
// the lock, in temp dirs), then under the store lock re-check, rename layers into place, store
// blobs, write image records and point refs. A failure anywhere discards every temp layer.
import type { Logger } from 'pino';
import type { BlobStore } from './blobs.js';
import type { ImageCandidate } from './formats.js';
import type { LayerStore, PreparedLayer } from './layers.js';
import { withStoreLock } from './lock.js';
import type { RecordFiles, StoredImage } from './records.js';

export interface InstallDeps {
  blobs: BlobStore;
  layers: LayerStore;
  records: RecordFiles;
  lockFile: string;
  logger?: Logger;
}

export async function installImages(
  deps: InstallDeps,
  candidates: ImageCandidate[],
  prepared: Map<string, PreparedLayer> = new Map(),
): Promise<StoredImage[]> {
  const { layers } = deps;
  const wanted = new Map<string, ImageCandidate['layers'][number]>();
  for (const c of candidates) for (const l of c.layers) if (!wanted.has(l.diffId)) wanted.set(l.diffId, l);
  try {
    // A prune may delete a layer between our check and the lock: re-check under it and retry.
    for (let attempt = 0; attempt < 5; attempt++) {
      for (const [diffId, l] of wanted) {
        if (prepared.has(diffId) || (await layers.has(diffId))) continue;
        prepared.set(diffId, await layers.prepare(l.blob.file, describe(l.blob.digest, diffId), diffId));
        deps.logger?.info({ diffId, blob: l.blob.digest }, 'layer unpacked');
      }
      const done = await withStoreLock(deps.lockFile, async () => {
        for (const diffId of wanted.keys()) {
          if (!prepared.has(diffId) && !(await layers.has(diffId))) return undefined;
        }
        return commit(deps, candidates, prepared);
      });
      if (done) return done;
    }
    throw new Error('image layers kept disappearing while loading (a concurrent prune?); try again');
  } finally {
    for (const p of prepared.values()) await layers.discard(p); // no-op for committed ones
  }
}

function describe(blobDigest: string, diffId: string): string {
  return blobDigest === diffId ? `layer ${diffId}` : `layer ${blobDigest} (diff id ${diffId})`;
}

async function commit(deps: InstallDeps, candidates: ImageCandidate[], prepared: Map<string, PreparedLayer>): Promise<StoredImage[]> {
  const { blobs, layers, records } = deps;
  for (const p of prepared.values()) await layers.commit(p);
  const out: StoredImage[] = [];
  for (const c of candidates) {
    await blobs.putBytes(c.configBytes, c.configDigest);
    if (c.manifest) await blobs.putBytes(c.manifest.bytes, c.manifest.digest);
    for (const l of c.layers) await blobs.adopt(l.blob.file, l.blob.digest);
    let size = 0;
    for (const l of c.layers) size += (await layers.meta(l.diffId))?.size ?? 0;
    const img: StoredImage = {
      id: c.configDigest,
      layers: c.layers.map((l) => l.diffId),
      layerBlobs: c.layers.map((l) => l.blob.digest),
      manifestDigest: c.manifest?.digest,
      size,
      created: c.parsed.created,
      os: c.parsed.os,
      architecture: c.parsed.architecture,
      config: c.parsed.config,
    };
    await records.writeImage(img);
    for (const ref of c.refs) await records.setRef(ref, img.id);
    deps.logger?.info({ image: img.id, refs: c.refs, layers: img.layers.length }, 'image stored');
    out.push(img);
  }
  return out;
}
