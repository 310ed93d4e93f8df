// Layer blobs and archives arrive gzip-compressed or plain; we tell them apart by their magic
// bytes rather than trusting media types, which `docker save` and hand-made tarballs get wrong.
import { open } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { pipeline, type Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { UnsupportedCompressionError } from './errors.js';

export type Compression = 'gzip' | 'zstd' | 'bzip2' | 'xz' | 'none';

export function detectCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 3 && head.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  return 'none';
}

// Node gained zstd in 22.15/23.8; use it when this runtime has it.
type ZstdFactory = () => NodeJS.ReadWriteStream;
const createZstd = (zlib as unknown as { createZstdDecompress?: ZstdFactory }).createZstdDecompress;

/** Opens `file` as a stream of its decompressed bytes. `source` names it in errors. */
export async function openDecompressed(file: string, source: string): Promise<{ stream: Readable; compression: Compression }> {
  const fh = await open(file, 'r');
  const head = Buffer.alloc(8);
  try {
    await fh.read(head, 0, head.length, 0);
  } finally {
    await fh.close();
  }
  const compression = detectCompression(head);
  const raw = createReadStream(file);
  const noop = (): void => {};
  switch (compression) {
    case 'none':
      return { stream: raw, compression };
    case 'gzip':
      return { stream: pipeline(raw, zlib.createGunzip(), noop), compression };
    case 'zstd':
      if (createZstd) return { stream: pipeline(raw, createZstd() as unknown as NodeJS.WritableStream, noop) as unknown as Readable, compression };
      raw.destroy();
      throw new UnsupportedCompressionError(source, compression);
    default:
      raw.destroy();
      throw new UnsupportedCompressionError(source, compression);
  }
}
