// tar-stream decodes every PAX record as UTF-8, which mangles binary xattr values such as
// security.capability. We replace its decoder once with one that keeps SCHILY.xattr.* values
// as latin1 strings (one char per byte), so Buffer.from(value, 'latin1') restores the bytes.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Header } from 'tar-stream';

const XATTR_PREFIX = 'SCHILY.xattr.';
// bsdtar's spelling: URL-encoded name, base64 value
const LIBARCHIVE_PREFIX = 'LIBARCHIVE.xattr.';
let patched = false;

export function patchTarStreamPax(): void {
  if (patched) return;
  const require = createRequire(import.meta.url);
  // tar-stream's package "exports" hide headers.js; its absolute path reaches the same module
  // instance that extract.js uses.
  const headersPath = join(dirname(require.resolve('tar-stream')), 'headers.js');
  const headers = require(headersPath) as { decodePax: (buf: Buffer) => Record<string, string> };
  headers.decodePax = decodePaxRecords;
  patched = true;
}

function decodePaxRecords(buf: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let rest = buf;
  while (rest.length > 0) {
    const space = rest.indexOf(0x20);
    if (space <= 0) break;
    const len = Number.parseInt(rest.subarray(0, space).toString('ascii'), 10);
    if (!Number.isInteger(len) || len <= space + 1 || len > rest.length) break;
    const record = rest.subarray(space + 1, len - 1); // drop the trailing newline
    const eq = record.indexOf(0x3d);
    if (eq < 0) break;
    const key = record.subarray(0, eq).toString('utf8');
    const raw = record.subarray(eq + 1);
    out[key] = key.startsWith(XATTR_PREFIX) ? raw.toString('latin1') : raw.toString('utf8');
    rest = rest.subarray(len);
  }
  return out;
}

/** tar-stream sets `pax` on headers but its type declarations omit it. */
export type PaxHeaders = Omit<Header, 'pax' | 'type'> & { pax?: Record<string, string> | null; type: Header['type'] | null };

function paxOf(header: PaxHeaders): Record<string, string> | null | undefined {
  return header.pax;
}

/** Extended attributes carried by an entry's PAX header (SCHILY.xattr.NAME=VALUE). */
export function entryXattrs(header: PaxHeaders): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const pax = paxOf(header);
  if (!pax) return out;
  for (const [key, value] of Object.entries(pax)) {
    if (key.startsWith(XATTR_PREFIX)) out.set(key.slice(XATTR_PREFIX.length), Buffer.from(value, 'latin1'));
    else if (key.startsWith(LIBARCHIVE_PREFIX)) {
      const name = decodeURIComponentSafe(key.slice(LIBARCHIVE_PREFIX.length));
      if (name !== undefined && !out.has(name)) out.set(name, Buffer.from(value, 'base64'));
    }
  }
  return out;
}

function decodeURIComponentSafe(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch (err) {
    if (err instanceof URIError) return undefined; // malformed %-escape
    throw err;
  }
}

/** Modification time with the sub-second precision of PAX when present, in seconds. */
export function entryTimes(header: PaxHeaders): { atime: number; mtime: number } {
  const pax = paxOf(header);
  const mtime = pax?.mtime !== undefined ? Number.parseFloat(pax.mtime) : (header.mtime?.getTime() ?? 0) / 1000;
  const atime = pax?.atime !== undefined ? Number.parseFloat(pax.atime) : mtime;
  return { atime: Number.isFinite(atime) ? atime : 0, mtime: Number.isFinite(mtime) ? mtime : 0 };
}

/** Owner ids, from PAX when the octal header fields were too small for them. */
export function entryOwner(header: PaxHeaders): { uid: number; gid: number } {
  const pax = paxOf(header);
  const pick = (paxValue: string | undefined, field: number | undefined): number => {
    const n = paxValue !== undefined ? Number.parseInt(paxValue, 10) : field;
    return n !== undefined && Number.isInteger(n) && n >= 0 ? n : 0;
  };
  return { uid: pick(pax?.uid, header.uid), gid: pick(pax?.gid, header.gid) };
}

/** Encodes xattrs for tar-stream's pack (which writes pax values verbatim as strings). */
export function xattrPax(xattrs: Record<string, string>): Record<string, string> {
  const pax: Record<string, string> = {};
  for (const [k, v] of Object.entries(xattrs)) pax[XATTR_PREFIX + k] = v;
  return pax;
}
