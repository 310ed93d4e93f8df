// Writes images back out as one OCI image-layout tarball (what `load` reads), from the blobs
// the store kept: the original manifest when the image came with one, otherwise a manifest
// made here (rootfs imports). Entries are sorted and timeless, so saving twice gives equal bytes.
import { createReadStream } from 'node:fs';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import * as tar from 'tar-stream';
import type { BlobStore } from './blobs.js';
import { sha256 } from './blobs.js';
import { detectCompression } from './compression.js';
import { ImageStoreCorruptError } from './errors.js';
import type { StoredImage } from './records.js';
import { parseReference } from './reference.js';
import { unless } from '../../proto/undo.js';

export interface SaveItem {
  img: StoredImage;
  /** familiar refs to record for it in index.json */
  names: string[];
}

const EPOCH = new Date(0);

export async function saveOciLayout(items: SaveItem[], blobs: BlobStore, outPath: string): Promise<void> {
  const files = new Map<string, { path?: string; bytes?: Buffer; size: number }>();
  const manifests: Array<Record<string, unknown>> = [];
  const addBytes = (bytes: Buffer): string => {
    const d = sha256(bytes);
    files.set(`blobs/sha256/${d.slice(7)}`, { bytes, size: bytes.length });
    return d;
  };
  const addBlob = async (digest: string): Promise<number> => {
    const path = blobs.path(digest);
    const st = await unless(stat(path), ['ENOENT']);
    if (!st) throw new ImageStoreCorruptError(`blob ${digest} is missing from the store: remove the image and load it again`);
    files.set(`blobs/sha256/${digest.slice(7)}`, { path, size: st.size });
    return st.size;
  };
  for (const { img, names } of items) {
    const manifest = await manifestFor(img, blobs, addBlob);
    const digest = addBytes(manifest);
    const descriptor = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: manifest.length };
    if (names.length === 0) manifests.push(descriptor);
    for (const name of names) {
      const r = parseReference(name);
      manifests.push({
        ...descriptor,
        annotations: { 'io.containerd.image.name': qualified(r.repository, r.tag), 'org.opencontainers.image.ref.name': r.tag ?? 'latest' },
      });
    }
  }
  files.set('oci-layout', { bytes: Buffer.from('{"imageLayoutVersion":"1.0.0"}'), size: 30 });
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
  files.set('index.json', { bytes: index, size: index.length });
  await writeArchive(files, outPath);
}

async function manifestFor(img: StoredImage, blobs: BlobStore, addBlob: (d: string) => Promise<number>): Promise<Buffer> {
  const configSize = await addBlob(img.id);
  const layerDescs = [];
  for (const d of img.layerBlobs) {
    const size = await addBlob(d);
    layerDescs.push({ mediaType: await layerMediaType(blobs.path(d)), digest: d, size });
  }
  if (img.manifestDigest !== undefined && (await blobs.has(img.manifestDigest))) {
    return readFile(blobs.path(img.manifestDigest));
  }
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: img.id, size: configSize },
      layers: layerDescs,
    }),
  );
}

async function layerMediaType(path: string): Promise<string> {
  const fh = await open(path, 'r');
  const head = Buffer.alloc(8);
  try {
    await fh.read(head, 0, head.length, 0);
  } finally {
    await fh.close();
  }
  return detectCompression(head) === 'gzip' ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.oci.image.layer.v1.tar';
}

/** "busybox" -> "docker.io/library/busybox:latest", the form other tools' loaders expect. */
function qualified(repository: string, tag = 'latest'): string {
  const first = repository.split('/')[0]!;
  const hasDomain = repository.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  const full = hasDomain ? repository : repository.includes('/') ? `docker.io/${repository}` : `docker.io/library/${repository}`;
  return `${full}:${tag}`;
}

async function writeArchive(files: Map<string, { path?: string; bytes?: Buffer; size: number }>, outPath: string): Promise<void> {
  const tmp = `${outPath}.${process.pid}.tmp`;
  const pack = tar.pack();
  const writing = pipeline(pack as unknown as NodeJS.ReadableStream, createWriteStream(tmp, { mode: 0o644 }));
  try {
    const common = { mtime: EPOCH, uid: 0, gid: 0, uname: '', gname: '', mode: 0o644 };
    pack.entry({ ...common, name: 'blobs', type: 'directory', mode: 0o755 });
    pack.entry({ ...common, name: 'blobs/sha256', type: 'directory', mode: 0o755 });
    for (const name of [...files.keys()].sort()) {
      const f = files.get(name)!;
      if (f.bytes) {
        pack.entry({ ...common, name, size: f.size }, f.bytes);
        continue;
      }
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry({ ...common, name, size: f.size }, (err) => (err ? reject(err) : resolve()));
        createReadStream(f.path!).on('error', reject).pipe(sink as unknown as NodeJS.WritableStream);
      });
    }
    pack.finalize();
    await writing;
    await rename(tmp, outPath);
  } catch (err) {
    pack.destroy(err as Error);
    await writing.catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
}
