// Content-addressed blobs (configs, manifests, layer tarballs as they arrived) under
// <root>/blobs/sha256/<hex>. Every byte that lands here was hashed on its way to disk; a blob
// only becomes visible by rename, so a reader never sees a partial one.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { DigestMismatchError } from './errors.js';
import { unless } from '../../proto/undo.js';

const DIGEST = /^sha256:([0-9a-f]{64})$/;

export function isDigest(s: unknown): s is string {
  return typeof s === 'string' && DIGEST.test(s);
}

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Writes `source` to `file`, returning the sha256 and length of what was written. */
export async function writeHashed(source: AsyncIterable<Buffer>, file: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  await pipeline(source, counter, createWriteStream(file, { flags: 'wx', mode: 0o644 }));
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

export class BlobStore {
  constructor(readonly dir: string, private readonly tmpDir: string) {}

  path(digest: string): string {
    const m = DIGEST.exec(digest);
    if (!m) throw new Error(`not a sha256 digest: ${digest}`);
    return join(this.dir, 'sha256', m[1]!);
  }

  async has(digest: string): Promise<boolean> {
    return stat(this.path(digest)).then(
      () => true,
      () => false,
    );
  }

  /** Moves a staged file, already hashed to `digest` as it was written, into the store. */
  async adopt(stagedFile: string, digest: string): Promise<void> {
    await mkdir(join(this.dir, 'sha256'), { recursive: true });
    if (await this.has(digest)) return;
    await rename(stagedFile, this.path(digest));
  }

  /** Stores `bytes`, refusing them when they do not hash to `expected`. */
  async putBytes(bytes: Buffer, expected?: string): Promise<string> {
    const digest = sha256(bytes);
    if (expected !== undefined && expected !== digest) throw new DigestMismatchError('blob', expected, digest);
    if (await this.has(digest)) return digest;
    await mkdir(join(this.dir, 'sha256'), { recursive: true });
    await mkdir(this.tmpDir, { recursive: true });
    const tmp = join(this.tmpDir, `${process.pid}-blob-${randomBytes(6).toString('hex')}`);
    await writeFile(tmp, bytes, { flag: 'wx' });
    await rename(tmp, this.path(digest));
    return digest;
  }

  async list(): Promise<string[]> {
    const names = await readdir(join(this.dir, 'sha256')).catch(() => [] as string[]);
    return names.filter((n) => /^[0-9a-f]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }

  /** Deletes a blob, returning the bytes freed (0 if it was already gone). */
  async remove(digest: string): Promise<number> {
    const p = this.path(digest);
    const st = await unless(stat(p), ['ENOENT']);
    if (!st) return 0;
    await rm(p, { force: true });
    return st.size;
  }
}
