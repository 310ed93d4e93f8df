// Drives tar-stream's extractor over a byte stream, one entry at a time, while hashing exactly
// the bytes it was fed (a layer's diff id is the sha256 of its uncompressed tar, padding
// included). Any failure destroys both sides so no file handle or pending read is left behind.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { ImageArchiveError } from './errors.js';
import { patchTarStreamPax, type PaxHeaders } from './tar-headers.js';

export type EntryHandler = (header: PaxHeaders, body: AsyncIterable<Buffer>) => Promise<void>;

export interface TarReadResult {
  /** sha256:... of every byte read */
  digest: string;
  bytes: number;
}

/** Bounds checked while reading: past one, reading stops with `exceeded`'s error (nothing more is fed). */
export interface TarBounds {
  maxBytes: number;
  maxEntries?: number;
  exceeded: (what: 'bytes' | 'entries', limit: number) => Error;
}

export async function readTar(input: Readable, source: string, onEntry: EntryHandler, bounds?: TarBounds): Promise<TarReadResult> {
  patchTarStreamPax();
  // v7 tars (no ustar magic) still carry a checksum, which tar-stream verifies either way
  const extract = tar.extract({ allowUnknownFormat: true } as Parameters<typeof tar.extract>[0]);
  const hash = createHash('sha256');
  let bytes = 0;

  const feeding = (async () => {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
      if (bounds && bytes > bounds.maxBytes) throw bounds.exceeded('bytes', bounds.maxBytes);
      if (!extract.write(chunk)) await drainedOrClosed(extract);
      if (extract.destroyed) return;
    }
    extract.end(undefined); // streamx types want an argument; undefined writes nothing
  })().catch((err: unknown) => {
    extract.destroy(err as Error);
    throw err;
  });
  feeding.catch(() => {}); // observed below; avoid an unhandled rejection in the meantime

  try {
    let entries = 0;
    for await (const entry of extract) {
      if (bounds?.maxEntries !== undefined && ++entries > bounds.maxEntries) throw bounds.exceeded('entries', bounds.maxEntries);
      await onEntry(entry.header as PaxHeaders, entry as unknown as AsyncIterable<Buffer>);
      entry.resume(); // skip whatever the handler did not read
    }
    await feeding;
  } catch (err) {
    input.destroy();
    if (!extract.destroyed) extract.destroy(new Error('aborted'));
    const fed = await feeding.then(() => undefined, (e: unknown) => e);
    // a bound crossed while feeding is the reason, whatever the extractor reported after it
    if (fed instanceof Error && 'userError' in fed) throw fed;
    // our own typed errors and system errors (ENOSPC, EACCES...) are not the archive's fault
    if (err instanceof Error && ('userError' in err || 'syscall' in err)) throw err;
    throw new ImageArchiveError(source, describeTarError(err));
  }
  return { digest: `sha256:${hash.digest('hex')}`, bytes };
}

function drainedOrClosed(stream: tar.Extract): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('close', done);
  });
}

function describeTarError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/unexpected end of (data|file)/i.test(msg)) return 'it is truncated (unexpected end of data)';
  if (/invalid tar header/i.test(msg)) return 'it is not a tar archive or is corrupt (bad tar header checksum)';
  if (/incorrect header check|invalid (block type|distance|stored block)|unknown compression/i.test(msg)) {
    return `its gzip data is corrupt (${msg})`;
  }
  return msg;
}
