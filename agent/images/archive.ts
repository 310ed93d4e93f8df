// Stages every file of an image archive (OCI image layout or `docker save`) into a private
// directory, hashing each as it is written. Entries are stored under numbered names, never
// under their archive path, so a hostile archive cannot write anywhere through this step.
import { mkdir, readFile } from 'node:fs/promises';
import { posix, join } from 'node:path';
import { ImageArchiveError, DigestMismatchError } from './errors.js';
import { openDecompressed } from './compression.js';
import { readTar } from './tar-reader.js';
import { writeHashed } from './blobs.js';
import { DEFAULT_LAYER_LIMITS, limitExceeded, type LayerLimits } from './limits.js';

export interface StagedFile {
  file: string;
  digest: string;
  size: number;
}

export class StagedArchive {
  private readonly files = new Map<string, StagedFile>();
  private readonly links = new Map<string, string>();
  private readonly byDigest = new Map<string, StagedFile>();

  constructor(readonly source: string) {}

  add(path: string, f: StagedFile): void {
    this.files.set(path, f);
    this.byDigest.set(f.digest, f);
  }

  alias(path: string, target: string): void {
    this.links.set(path, target);
  }

  has(path: string): boolean {
    return this.lookup(path) !== undefined;
  }

  /** The staged file at an archive path, following symlinks/hard links inside the archive. */
  lookup(path: string): StagedFile | undefined {
    let p = cleanArchivePath(path);
    for (let hops = 0; hops < 16; hops++) {
      const f = this.files.get(p);
      if (f) return f;
      const next = this.links.get(p);
      if (next === undefined) return undefined;
      p = next;
    }
    return undefined;
  }

  get(path: string): StagedFile {
    const f = this.lookup(path);
    if (!f) throw new ImageArchiveError(this.source, `it has no file "${path}"`);
    return f;
  }

  blob(digest: string, what: string): StagedFile {
    const f = this.byDigest.get(digest);
    if (!f) throw new ImageArchiveError(this.source, `${what} ${digest} is missing from the archive`);
    return f;
  }

  async readJson(path: string): Promise<unknown> {
    return this.parseJson(this.get(path), path);
  }

  async blobJson(digest: string, what: string): Promise<{ bytes: Buffer; value: unknown }> {
    const f = this.blob(digest, what);
    const bytes = await readFile(f.file);
    return { bytes, value: this.parse(bytes, `${what} ${digest}`) };
  }

  private async parseJson(f: StagedFile, name: string): Promise<unknown> {
    return this.parse(await readFile(f.file), name);
  }

  private parse(bytes: Buffer, name: string): unknown {
    try {
      return JSON.parse(bytes.toString('utf8'));
    } catch (err) {
      throw new ImageArchiveError(this.source, `${name} is not valid JSON (${(err as Error).message})`);
    }
  }
}

export function cleanArchivePath(p: string): string {
  return posix.normalize(`/${p}`).slice(1).replace(/\/$/, '');
}

/** Reads `archivePath` (plain or gzip) into `stagingDir`. */
export async function stageArchive(archivePath: string, stagingDir: string, sourceName = archivePath, limits: LayerLimits = DEFAULT_LAYER_LIMITS): Promise<StagedArchive> {
  const staged = new StagedArchive(sourceName);
  await mkdir(stagingDir, { recursive: true });
  let n = 0;
  const { stream } = await openDecompressed(archivePath, sourceName).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'EISDIR' || err.code === 'EACCES') {
      throw new ImageArchiveError(sourceName, err.code === 'ENOENT' ? 'no such file' : err.message);
    }
    throw err;
  });
  await readTar(stream, sourceName, async (header, body) => {
    const path = cleanArchivePath(header.name);
    if (header.type === 'symlink' || header.type === 'link') {
      const raw = header.linkname ?? '';
      const target = header.type === 'symlink' && !raw.startsWith('/') ? posix.join(posix.dirname(path), raw) : raw;
      staged.alias(path, cleanArchivePath(target));
      return;
    }
    if (header.type !== 'file' && header.type !== 'contiguous-file') return;
    const file = join(stagingDir, String(n++));
    const written = await writeHashed(body, file);
    const m = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(path);
    if (m && written.digest !== `sha256:${m[1]}`) {
      throw new DigestMismatchError(`${sourceName} (${path})`, `sha256:${m[1]}`, written.digest);
    }
    staged.add(path, { file, ...written });
  }, {
    maxBytes: limits.archiveBytes,
    maxEntries: limits.layerEntries,
    exceeded: (what) => limitExceeded(`image archive ${sourceName}`, what === 'bytes' ? 'archiveBytes' : 'layerEntries', what === 'bytes' ? limits.archiveBytes : limits.layerEntries),
  });
  return staged;
}
