// Resolves a path inside a root directory the way the container will see it: symlinks are
// followed as if the root were `/`, so an image whose /data links to /etc never makes the agent
// read the host's /etc.
import { lstatSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

const MAX_LINKS = 40; // as the kernel's own limit on nested symlinks

/** The host path of `path` under `root`, or undefined if it does not exist there. */
export function resolveInRoot(root: string, path: string): string | undefined {
  let rest = path.split('/').filter((c) => c !== '' && c !== '.');
  const done: string[] = [];
  let links = 0;
  while (rest.length) {
    const c = rest.shift()!;
    if (c === '..') {
      done.pop();
      continue;
    }
    const host = join(root, ...done, c);
    const st = lstatSync(host, { throwIfNoEntry: false });
    if (!st) return undefined;
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) return undefined;
      const target = readlinkSync(host);
      if (target.startsWith('/')) done.length = 0;
      rest = [...target.split('/').filter((x) => x !== '' && x !== '.'), ...rest];
      continue;
    }
    done.push(c);
  }
  return join(root, ...done);
}
