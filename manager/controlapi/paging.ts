// One page of a List answer: items in a fixed order, at most page_size of them and fewer once
// their encoded size passes PAGE_BYTES, so that no answer nears gRPC's 4 MiB message limit (a
// service spec is at most 1 MiB, so a page is at most ~1 MiB plus one service with its previous
// spec). The token is the sort key of the last item sent: stateless, and a page after a change
// neither repeats nor skips the items that did not change.
import { invalidArgument } from './errors.js';

export const DEFAULT_PAGE_SIZE = 500;
export const MAX_PAGE_SIZE = 5_000;
export const PAGE_BYTES = 1024 * 1024;

export type SortKey = readonly (string | number)[];

export interface PageRequest {
  pageSize?: number;
  pageToken?: string;
}

export function compareKeys(a: SortKey, b: SortKey): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

function decodeToken(token: string | undefined): SortKey | undefined {
  if (!token) return undefined;
  try {
    const key = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(key) && key.every((k) => typeof k === 'string' || typeof k === 'number')) return key as SortKey;
  } catch {
    // reported below
  }
  throw invalidArgument('invalid page token: list again from the first page (without a token)');
}

/** The page of `items` (any order) that follows req.pageToken, and the token of the next one ("" = none). */
export function onePage<T>(items: readonly T[], key: (t: T) => SortKey, sizeOf: (t: T) => number, req: PageRequest): { items: T[]; nextPageToken: string } {
  const after = decodeToken(req.pageToken);
  const max = Math.min(req.pageSize || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
  const keyed = items.map((t) => ({ t, k: key(t) })).filter((e) => !after || compareKeys(e.k, after) > 0);
  keyed.sort((a, b) => compareKeys(a.k, b.k));
  const out: T[] = [];
  let bytes = 0;
  for (const e of keyed) {
    const n = out.length >= max ? 0 : sizeOf(e.t);
    if (out.length >= max || (out.length > 0 && bytes + n > PAGE_BYTES)) {
      return { items: out, nextPageToken: Buffer.from(JSON.stringify(keyed[out.length - 1]!.k)).toString('base64url') };
    }
    bytes += n;
    out.push(e.t);
  }
  return { items: out, nextPageToken: '' };
}
