// List calls answer one page at a time (manager/controlapi/paging.ts): the CLI follows the pages
// so that every command sees the whole list, however large, with each answer below the
// message limit.
import type { UnaryMethod } from '../../proto/unary.js';
import type { Connection } from './connect.js';

interface PageRequest {
  pageSize?: number | undefined;
  pageToken?: string | undefined;
}
interface PageResponse {
  nextPageToken?: string | undefined;
}

/** Every item of a List call (`ControlService.listTasks`, ...): `items` picks the answer's list. */
export async function listAll<Req extends PageRequest, Res extends PageResponse, T>(
  conn: Connection,
  method: UnaryMethod<Req, Res>,
  req: Req,
  items: (res: Res) => T[],
): Promise<T[]> {
  const out: T[] = [];
  let pageToken = '';
  for (;;) {
    const res = await conn.call(method, { ...req, pageSize: 0, pageToken });
    out.push(...items(res));
    const next = res.nextPageToken;
    if (!next) return out;
    if (next === pageToken) throw new Error(`${method.path}: the manager returned the same page twice`);
    pageToken = next;
  }
}
