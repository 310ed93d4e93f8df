// Reading a stack file's bytes: size limit, encoding checks, BOM. Parsing is yaml-tree.ts.
import { openSync, fstatSync, readSync, closeSync } from 'node:fs';
import { StackFileError } from './errors.js';
import type { StackLimits } from './limits.js';

/** Reads `file` and returns its text, or throws StackFileError naming what is wrong. "-" is
 *  standard input and pipes work too (`-c -`, `-c <(docker compose config)`), as with Docker. */
export function readStackText(file: string, limits: StackLimits): string {
  if (file === '-') return decodeStackBytes('<stdin>', readAll(0, '<stdin>', limits));
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const why = code === 'ENOENT' ? 'no such file: check the -c path' : code === 'EISDIR' ? 'is a directory: -c takes a Compose YAML file' : `cannot open (${code})`;
    throw new StackFileError([{ file, path: '', message: why }]);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new StackFileError([{ file, path: '', message: 'is a directory: -c takes a Compose YAML file' }]);
    // Refuse a big regular file before reading any of it; pipes are bounded while reading.
    if (st.isFile() && st.size > limits.maxFileBytes) throw tooBig(file, limits);
    return decodeStackBytes(file, readAll(fd, file, limits));
  } finally {
    closeSync(fd);
  }
}

/** Reads to the end, failing as soon as more than the size limit has arrived. */
function readAll(fd: number, file: string, limits: StackLimits): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  const chunk = Buffer.alloc(64 * 1024);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, chunk, 0, chunk.length, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A non-blocking stdin (some terminals, pipes set up by a parent) reports EAGAIN: wait briefly.
      if (code === 'EAGAIN') { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10); continue; }
      if (code === 'EOF') break;
      throw new StackFileError([{ file, path: '', message: `cannot read (${code ?? 'error'})` }]);
    }
    if (n === 0) break;
    total += n;
    if (total > limits.maxFileBytes) throw tooBig(file, limits);
    chunks.push(Buffer.from(chunk.subarray(0, n)));
  }
  return Buffer.concat(chunks);
}

function tooBig(file: string, limits: StackLimits): StackFileError {
  const mib = (limits.maxFileBytes / 1024 / 1024).toFixed(0);
  return new StackFileError([{ file, path: '', message: `file is larger than ${mib} MiB: a stack file describes services, keep data in configs or volumes` }]);
}

/** Decodes UTF-8, rejecting NUL bytes and invalid sequences, and strips a byte-order mark. */
export function decodeStackBytes(file: string, bytes: Uint8Array): string {
  const nul = bytes.indexOf(0);
  if (nul >= 0) {
    const { line, column } = positionOfByte(bytes, nul);
    throw new StackFileError([{ file, line, column, path: '', message: 'NUL byte in file: a stack file is UTF-8 text (is this a binary or UTF-16 file?)' }]);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    const { line, column } = positionOfByte(bytes, at);
    throw new StackFileError([{ file, line, column, path: '', message: 'invalid UTF-8: save the file as UTF-8' }]);
  }
  // TextDecoder already drops a leading BOM (ignoreBOM: false); a second one is text.
  return text;
}

function positionOfByte(bytes: Uint8Array, at: number): { line: number; column: number } {
  let line = 1;
  let column = 1;
  for (let i = 0; i < at; i++) {
    const b = bytes[i]!;
    if (b === 0x0a) { line++; column = 1; }
    // Count characters, not bytes: UTF-8 continuation bytes (10xxxxxx) do not start one.
    else if ((b & 0xc0) !== 0x80) column++;
  }
  return { line, column };
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence. */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    const len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (len === 0 || i + len > b.length) return i;
    for (let k = 1; k < len; k++) if ((b[i + k]! & 0xc0) !== 0x80) return i;
    // Overlongs and surrogates: let TextDecoder's verdict stand and point at the lead byte.
    try { new TextDecoder('utf-8', { fatal: true }).decode(b.subarray(i, i + len)); } catch { return i; }
    i += len;
  }
  return Math.max(0, b.length - 1);
}
