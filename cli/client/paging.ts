// List calls answer one page at a time (manager/controlapi/paging.ts): the CLI follows the pages
// so that every command sees the whole list, however large, with each answer below the
// message limit.
import type { ControlClient } from '../../proto/gen/control.js';
import type { Connection } from './connect.js';

export type ListMethod = 'listServices' | 'listTasks' | 'listNodes' | 'listSecrets' | 'listConfigs' | 'listNetworks';

/** Every item of a List call: `field` names the answer's list ("services", "tasks", ...). */
export async function listAll<T>(conn: Connection, method: ListMethod, req: object, field: string): Promise<T[]> {
  const out: T[] = [];
  let pageToken = '';
  for (;;) {
    const res = await conn.call<ControlClient, object, Record<string, unknown>>(conn.controlClient(), method, { ...req, pageSize: 0, pageToken });
    out.push(...((res[field] as T[] | undefined) ?? []));
    const next = typeof res.nextPageToken === 'string' ? res.nextPageToken : '';
    if (!next) return out;
    if (next === pageToken) throw new Error(`${method}: the manager returned the same page twice`);
    pageToken = next;
  }
}
