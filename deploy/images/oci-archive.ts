// Assembles an image from layer descriptions and writes it as an OCI image-layout tarball or as
// a `docker save` tarball. Every byte is a function of the inputs (fixed times, sorted entries,
// gzip without a timestamp), so the digests repeat on every run on the same machine.
import { createHash } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { FIXED_MTIME, packLayer, type LayerEntry } from './layer-tar.js';

export interface ImageSpec {
  /** full reference, e.g. docker.io/library/busybox:latest */
  name: string;
  layers: LayerEntry[][];
  /** the OCI config's "config" object (Env, Cmd, User, ...) */
  config: Record<string, unknown>;
}

export interface BuiltImage {
  name: string;
  /** uncompressed layer tars, lowest first */
  layers: Buffer[];
  gzLayers: Buffer[];
  config: Buffer;
  manifest: Buffer;
}

const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hexOf = (b: Buffer): string => digestOf(b).slice(7);

export async function buildImage(spec: ImageSpec): Promise<BuiltImage> {
  const layers = await Promise.all(spec.layers.map((l) => packLayer(l)));
  const gzLayers = layers.map((l) => gzipSync(l, { level: 6 }));
  const config = Buffer.from(
    JSON.stringify({
      created: FIXED_MTIME.toISOString(),
      architecture: 'amd64',
      os: 'linux',
      config: spec.config,
      rootfs: { type: 'layers', diff_ids: layers.map(digestOf) },
      history: layers.map(() => ({ created: FIXED_MTIME.toISOString(), created_by: 'shoal deploy/images/build.ts' })),
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
      layers: gzLayers.map((g) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(g), size: g.length })),
    }),
  );
  return { name: spec.name, layers, gzLayers, config, manifest };
}

export function manifestDigest(img: BuiltImage): string {
  return digestOf(img.manifest);
}

export function imageId(img: BuiltImage): string {
  return digestOf(img.config);
}

/** OCI image layout: oci-layout, index.json, blobs/sha256/*. */
export async function writeOciArchive(img: BuiltImage, path: string): Promise<void> {
  const tag = img.name.slice(img.name.lastIndexOf(':') + 1);
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: manifestDigest(img),
          size: img.manifest.length,
          annotations: { 'io.containerd.image.name': img.name, 'org.opencontainers.image.ref.name': tag },
        },
      ],
    }),
  );
  const files = new Map<string, Buffer>([
    ['oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')],
    ['index.json', index],
  ]);
  for (const blob of [img.config, img.manifest, ...img.gzLayers]) files.set(`blobs/sha256/${hexOf(blob)}`, blob);
  await writeTar(files, ['blobs', 'blobs/sha256'], path);
}

/** `docker save` layout: manifest.json, <config hex>.json, <layer hex>/layer.tar (uncompressed). */
export async function writeDockerSave(img: BuiltImage, path: string): Promise<void> {
  const familiar = img.name.replace(/^docker\.io\/library\//, '').replace(/^docker\.io\//, '');
  const configName = `${hexOf(img.config)}.json`;
  const layerNames = img.layers.map((l) => `${hexOf(l)}/layer.tar`);
  const manifest = Buffer.from(JSON.stringify([{ Config: configName, RepoTags: [familiar], Layers: layerNames }]));
  const files = new Map<string, Buffer>([
    ['manifest.json', manifest],
    [configName, img.config],
  ]);
  img.layers.forEach((l, i) => files.set(layerNames[i]!, l));
  await writeTar(files, layerNames.map((n) => n.slice(0, n.indexOf('/'))), path);
}

async function writeTar(files: Map<string, Buffer>, dirs: string[], path: string): Promise<void> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  const common = { mtime: FIXED_MTIME, uid: 0, gid: 0, uname: '', gname: '' };
  for (const d of [...new Set(dirs)].sort()) pack.entry({ ...common, name: d, type: 'directory', mode: 0o755 });
  for (const name of [...files.keys()].sort()) {
    const data = files.get(name)!;
    pack.entry({ ...common, name, type: 'file', mode: 0o644, size: data.length }, data);
  }
  pack.finalize();
  await done;
  // write then rename: a concurrent reader sees the old archive or the whole new one
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, Buffer.concat(chunks));
  await rename(tmp, path);
}
