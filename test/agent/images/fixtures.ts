// Hand-made tarballs for the image-store tests: layer tars with every entry kind (whiteouts,
// devices, hard links, PAX xattrs, hostile paths) and OCI / docker-save archives around them.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';

export interface FixtureEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  data?: string | Buffer;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  devmajor?: number;
  devminor?: number;
  /** PAX records with byte values (for binary xattrs), written as a raw 'x' header */
  pax?: Record<string, string | Buffer>;
}

/** One PAX header body: "LEN key=value\n" records, LEN counting its own digits. */
export function paxBody(records: Record<string, string | Buffer>): Buffer {
  const out: Buffer[] = [];
  for (const [key, value] of Object.entries(records)) {
    const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.isBuffer(value) ? value : Buffer.from(value), Buffer.from('\n')]);
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    out.push(Buffer.concat([Buffer.from(String(len)), body]));
  }
  return Buffer.concat(out);
}

export const MTIME = new Date(Date.UTC(2021, 5, 15, 12, 0, 0));

export async function makeTar(entries: FixtureEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const data = e.data === undefined ? undefined : Buffer.isBuffer(e.data) ? e.data : Buffer.from(e.data);
    const header = {
      name: e.name,
      type,
      linkname: e.linkname,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? MTIME,
      devmajor: e.devmajor,
      devminor: e.devminor,
      size: type === 'file' ? (data?.length ?? 0) : 0,
    };
    if (e.pax) {
      const body = paxBody(e.pax);
      pack.entry({ name: PAX_SENTINEL, type: 'file', size: body.length, mtime: MTIME }, body);
    }
    if (type === 'file') pack.entry(header, data ?? Buffer.alloc(0));
    else pack.entry(header);
  }
  pack.finalize();
  await done;
  return retypePaxSentinels(Buffer.concat(chunks));
}

// tar-stream's packer writes PAX values as UTF-8 text and refuses bodies for 'x' entries, so raw
// PAX headers are packed as files with a marker name and re-typed here (typeflag + checksum).
const PAX_SENTINEL = 'shoalimg-raw-pax-header';

function retypePaxSentinels(buf: Buffer): Buffer {
  for (let off = 0; off + 512 <= buf.length; ) {
    const block = buf.subarray(off, off + 512);
    if (block.every((b) => b === 0)) break;
    const size = Number.parseInt(block.toString('ascii', 124, 136).replace(/\0.*$/, '').trim() || '0', 8);
    if (block.toString('ascii', 0, PAX_SENTINEL.length + 1) === `${PAX_SENTINEL}\0`) {
      block[156] = 'x'.charCodeAt(0);
      block.fill(0x20, 148, 156);
      let sum = 0;
      for (const b of block) sum += b;
      block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    }
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return buf;
}

export const digest = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hex = (b: Buffer): string => digest(b).slice(7);

export interface ArchiveImage {
  /** uncompressed layer tars, lowest first */
  layers: Buffer[];
  /** how to store each layer blob (default gzip) */
  compress?: (layer: Buffer, i: number) => Buffer;
  names?: string[];
  config?: Record<string, unknown>;
  /** override the diff ids the config claims */
  diffIds?: string[];
}

export function imageConfig(img: ArchiveImage): Buffer {
  return Buffer.from(
    JSON.stringify({
      created: '2021-06-15T12:00:00Z',
      architecture: 'amd64',
      os: 'linux',
      config: img.config ?? { Cmd: ['sh'] },
      rootfs: { type: 'layers', diff_ids: img.diffIds ?? img.layers.map((l) => digest(l)) },
    }),
  );
}

/** OCI image layout archive; `tamper` may rewrite the file list before packing. */
export async function ociArchive(img: ArchiveImage, tamper?: (files: Map<string, Buffer>) => void): Promise<Buffer> {
  const blobs = img.layers.map((l, i) => (img.compress ? img.compress(l, i) : gzipSync(l)));
  const config = imageConfig(img);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digest(config), size: config.length },
      layers: blobs.map((b) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digest(b), size: b.length })),
    }),
  );
  const names = img.names ?? [];
  const index = {
    schemaVersion: 2,
    manifests: (names.length ? names : [undefined]).map((n) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: digest(manifest),
      size: manifest.length,
      ...(n ? { annotations: { 'io.containerd.image.name': n } } : {}),
    })),
  };
  const files = new Map<string, Buffer>([
    ['oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')],
    ['index.json', Buffer.from(JSON.stringify(index))],
  ]);
  for (const b of [config, manifest, ...blobs]) files.set(`blobs/sha256/${hex(b)}`, b);
  tamper?.(files);
  return makeTar([...files].map(([name, data]) => ({ name, data })));
}

/** `docker save` archive with uncompressed layers. */
export async function dockerSaveArchive(img: ArchiveImage): Promise<Buffer> {
  const config = imageConfig(img);
  const layerNames = img.layers.map((l) => `${hex(l)}/layer.tar`);
  const manifest = [{ Config: `${hex(config)}.json`, RepoTags: img.names ?? [], Layers: layerNames }];
  return makeTar([
    { name: 'manifest.json', data: JSON.stringify(manifest) },
    { name: `${hex(config)}.json`, data: config },
    ...img.layers.map((l, i) => ({ name: layerNames[i]!, data: l })),
  ]);
}

/** A temp directory named with our test prefix, removed by the returned cleanup. */
export async function tempDir(tag: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `shoalimg-${tag}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
