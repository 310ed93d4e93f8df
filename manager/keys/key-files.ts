// A manager's Raft keys on disk, in its Raft state directory:
//   keys.json  (0600) the data keys (DEKs), each wrapped (AES-256-GCM) by the key-encryption key
//   kek        (0600) the KEK itself, 32 bytes: only while autolock is off (as Swarm keeps it
//              on the manager's disk); with autolock the KEK comes from the unlock key
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { DataKey } from '../raft/storage/index.js';
import { KeyFileError } from './errors.js';
import { unless } from '../../proto/undo.js';

export interface KeyFile {
  autolock: boolean;
  /** The state directory held plaintext records when encryption was first turned on. */
  plaintextLegacy: boolean;
  deks: { id: string; nonce: string; wrapped: string }[]; // current first
  /** Wrapped like a DEK: the passphrase of certificates/node.key while autolock is on. It does
   *  not change with the KEK, so re-wrapping keys.json alone follows an unlock-key rotation. */
  nodeKey?: { id: string; nonce: string; wrapped: string };
}

export const keysPath = (dir: string): string => path.join(dir, 'keys.json');
export const kekPath = (dir: string): string => path.join(dir, 'kek');

const aad = (id: string): Buffer => Buffer.from(`shoal raft dek ${id}`);

export function wrapKey(kek: Buffer, k: DataKey): KeyFile['deks'][number] {
  const id = k.id.toString('hex');
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', kek, nonce);
  c.setAAD(aad(id));
  const wrapped = Buffer.concat([c.update(k.key), c.final(), c.getAuthTag()]);
  return { id, nonce: nonce.toString('base64'), wrapped: wrapped.toString('base64') };
}

/** Undefined when the KEK is not the one that wrapped it. */
export function unwrapKey(kek: Buffer, w: KeyFile['deks'][number]): DataKey | undefined {
  const buf = Buffer.from(w.wrapped, 'base64');
  if (buf.length !== 48) return undefined;
  const d = createDecipheriv('aes-256-gcm', kek, Buffer.from(w.nonce, 'base64'));
  d.setAAD(aad(w.id));
  d.setAuthTag(buf.subarray(32));
  const key = d.update(buf.subarray(0, 32));
  try {
    d.final();
  } catch {
    return undefined;
  }
  return { id: Buffer.from(w.id, 'hex'), key };
}

export function newDataKey(): DataKey {
  return { id: randomBytes(8), key: randomBytes(32) };
}

export async function readKeyFile(dir: string): Promise<KeyFile | undefined> {
  let text: string;
  try {
    text = await readFile(keysPath(dir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const k = JSON.parse(text) as KeyFile;
    if (typeof k.autolock !== 'boolean' || !Array.isArray(k.deks) || k.deks.length === 0) throw new Error('fields missing');
    return k;
  } catch (err) {
    throw new KeyFileError(`${keysPath(dir)} is damaged (${(err as Error).message}): this manager cannot read its Raft data; restore the file from a backup, or remove the Raft directory and re-add the manager`);
  }
}

export async function readKek(dir: string): Promise<Buffer | undefined> {
  try {
    const k = await readFile(kekPath(dir));
    if (k.length !== 32) throw new KeyFileError(`${kekPath(dir)} is damaged (${k.length} bytes, not 32)`);
    return k;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function writeKeyFile(dir: string, k: KeyFile): Promise<void> {
  await writePrivate(dir, keysPath(dir), Buffer.from(JSON.stringify(k, null, 2)));
}

export async function writeKek(dir: string, kek: Buffer): Promise<void> {
  await writePrivate(dir, kekPath(dir), kek);
}

export async function removeKek(dir: string): Promise<void> {
  await unlink(kekPath(dir)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  await syncDir(dir);
}

/** Temp name (created 0600), fsync, rename, fsync the directory. */
async function writePrivate(dir: string, file: string, data: Buffer): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp`;
  await unless(unlink(tmp), ['ENOENT']); // a crashed write's leftover, usually none
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await chmod(tmp, 0o600); // whatever the umask
  await rename(tmp, file);
  await syncDir(dir);
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
