// A node's certificates on disk: SHOAL_ROOT/certificates/{node.key,node.crt,root.crt}, the key
// readable by root only, each file written to a temporary name, fsynced and renamed.
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import type { NodeCertificates } from './credentials.js';

const FILES = { keyPem: 'node.key', certPem: 'node.crt', rootPem: 'root.crt' } as const;

async function writeAtomic(file: string, data: string, mode: number): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

export async function saveNodeCertificates(dir: string, nc: NodeCertificates): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeAtomic(path.join(dir, FILES.keyPem), nc.keyPem, 0o600);
  await writeAtomic(path.join(dir, FILES.rootPem), nc.rootPem, 0o644);
  await writeAtomic(path.join(dir, FILES.certPem), nc.certPem, 0o644); // last: its presence means complete
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** The node's certificates, or null if it never joined (or the set is incomplete). */
export async function loadNodeCertificates(dir: string): Promise<NodeCertificates | null> {
  try {
    const [keyPem, certPem, rootPem] = await Promise.all([
      readFile(path.join(dir, FILES.keyPem), 'utf8'),
      readFile(path.join(dir, FILES.certPem), 'utf8'),
      readFile(path.join(dir, FILES.rootPem), 'utf8'),
    ]);
    return { keyPem, certPem, rootPem };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
