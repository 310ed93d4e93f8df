// Turns a Docker-style --user value into numeric credentials, looking names up in the image's
// own /etc/passwd and /etc/group (the top-most layer that has the file wins, as in the overlay).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { userProblem } from '../../rules/container.js';
import { ContainerSpecError } from './errors.js';
import { hasCode } from '../../proto/undo.js';

export interface Credentials {
  uid: number;
  gid: number;
  groups: number[];
}

async function imageFile(layers: string[], rel: string): Promise<string[]> {
  for (let i = layers.length - 1; i >= 0; i--) {
    try {
      return (await readFile(join(layers[i]!, rel), 'utf8')).split('\n').filter((l) => l && !l.startsWith('#'));
    } catch (err) {
      if (!hasCode(err, ['ENOENT', 'ENOTDIR'])) throw err;
      // not in this layer: look lower
    }
  }
  return [];
}

const isId = (s: string): boolean => /^\d+$/.test(s);

export async function resolveUser(user: string | undefined, layers: string[], extra: number[] = []): Promise<Credentials> {
  const value = user ?? '';
  if (value === '' || value === 'root') return { uid: 0, gid: 0, groups: [...extra] };
  const malformed = userProblem(value);
  if (malformed) throw new ContainerSpecError(malformed);
  const [u = '', g] = value.split(':', 2);
  const passwd = (await imageFile(layers, 'etc/passwd')).map((l) => l.split(':'));
  const groupLines = (await imageFile(layers, 'etc/group')).map((l) => l.split(':'));
  let uid: number;
  let gid = 0;
  let name: string | undefined;
  if (isId(u)) {
    uid = Number(u);
    const entry = passwd.find((p) => p[2] === u);
    if (entry) { gid = Number(entry[3]); name = entry[0]; }
  } else {
    const entry = passwd.find((p) => p[0] === u);
    if (!entry) throw new ContainerSpecError(`user "${u}" is not in the image's /etc/passwd: use a numeric uid[:gid] or a user the image defines`);
    uid = Number(entry[2]);
    gid = Number(entry[3]);
    name = u;
  }
  if (g !== undefined && g !== '') {
    if (isId(g)) gid = Number(g);
    else {
      const entry = groupLines.find((p) => p[0] === g);
      if (!entry) throw new ContainerSpecError(`group "${g}" is not in the image's /etc/group: use a numeric gid or a group the image defines`);
      gid = Number(entry[2]);
    }
  }
  if (!Number.isSafeInteger(uid) || !Number.isSafeInteger(gid) || uid > 0xfffffffe || gid > 0xfffffffe) {
    throw new ContainerSpecError(`user "${value}": uid and gid must be integers below 4294967295`);
  }
  const groups = new Set<number>(extra);
  if (name !== undefined) {
    for (const p of groupLines) if ((p[3] ?? '').split(',').includes(name)) groups.add(Number(p[2]));
  }
  return { uid, gid, groups: [...groups] };
}
