// A node's certificates on disk: SHOAL_ROOT/certificates/{node.key,node.crt,root.crt}, the key
// readable by root only. A renewal replaces key and certificate together: both are first written
// complete as node.key.next and node.crt.next (each to a temporary name, fsynced, renamed), then
// renamed over the live pair, key first. A crash anywhere leaves either the old pair or enough of
// the new one for loadNodeCertificates to finish the switch: never a key with another's cert.
// With a passphrase (an autolocked manager, see manager/keys), node.key is an encrypted PKCS#8
// PEM and cannot be used until the manager is unlocked.
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { NodeCertificates } from './credentials.js';
import { CertificateError } from './errors.js';
import { RenewableCertificates } from './renewable.js';
import { unless } from '../../proto/undo.js';

const FILES = { keyPem: 'node.key', certPem: 'node.crt', rootPem: 'root.crt' } as const;
const NEXT = '.next';

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

async function syncDir(dir: string): Promise<void> {
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await readFile(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Whether a node.key PEM is encrypted (it needs the manager's unlock key to be read). */
export function isEncryptedKeyPem(pem: string): boolean {
  return pem.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----');
}

/** Whether the node.key on disk is encrypted (false when there is none). */
export async function nodeKeyIsEncrypted(dir: string): Promise<boolean> {
  return isEncryptedKeyPem((await unless(readFile(path.join(dir, FILES.keyPem), 'utf8'), ['ENOENT'])) ?? '');
}

export async function saveNodeCertificates(dir: string, nc: NodeCertificates, keyPassphrase?: Buffer): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const f = (name: string): string => path.join(dir, name);
  const current = await unless(readFile(f(FILES.rootPem), 'utf8'), ['ENOENT']);
  if (current !== nc.rootPem) await writeAtomic(f(FILES.rootPem), nc.rootPem, 0o644);
  const keyPem = keyPassphrase
    ? (createPrivateKey(nc.keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: keyPassphrase }) as string)
    : nc.keyPem;
  await writeAtomic(f(FILES.keyPem + NEXT), keyPem, 0o600);
  await writeAtomic(f(FILES.certPem + NEXT), nc.certPem, 0o644); // its presence: the new pair is complete
  await syncDir(dir);
  await finishSwitch(dir);
}

/** Moves a complete new pair (node.crt.next present) into place; drops a half-written one. */
async function finishSwitch(dir: string): Promise<void> {
  const f = (name: string): string => path.join(dir, name);
  if (await exists(f(FILES.certPem + NEXT))) {
    // node.key.next is gone only if the crash came after its rename
    if (await exists(f(FILES.keyPem + NEXT))) await rename(f(FILES.keyPem + NEXT), f(FILES.keyPem));
    await rename(f(FILES.certPem + NEXT), f(FILES.certPem));
    await syncDir(dir);
  } else {
    await rm(f(FILES.keyPem + NEXT), { force: true });
  }
}

/** Whether the private key belongs to the certificate. */
export function keyMatchesCertificate(keyPem: string, certPem: string): boolean {
  try {
    const fromKey = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
    const fromCert = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
    return fromKey.equals(fromCert);
  } catch {
    return false;
  }
}

/**
 * The node's certificates (renewable in place), or null if it never joined (or the set is
 * incomplete). Finishes a renewal that a crash interrupted first.
 */
export async function loadNodeCertificates(dir: string, keyPassphrase?: Buffer): Promise<RenewableCertificates | null> {
  try {
    await finishSwitch(dir);
    const [stored, certPem, rootPem] = await Promise.all([
      readFile(path.join(dir, FILES.keyPem), 'utf8'),
      readFile(path.join(dir, FILES.certPem), 'utf8'),
      readFile(path.join(dir, FILES.rootPem), 'utf8'),
    ]);
    const keyPem = isEncryptedKeyPem(stored) ? decryptKeyPem(stored, path.join(dir, FILES.keyPem), keyPassphrase) : stored;
    if (!keyMatchesCertificate(keyPem, certPem)) {
      throw new CertificateError(`${path.join(dir, FILES.keyPem)} is not the key of ${path.join(dir, FILES.certPem)}: run \`shoal leave --force\` and join again`);
    }
    return new RenewableCertificates({ keyPem, certPem, rootPem });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function decryptKeyPem(pem: string, file: string, passphrase: Buffer | undefined): string {
  if (!passphrase) throw new CertificateError(`${file} is encrypted (autolock): unlock this manager with \`shoal unlock\` first`);
  try {
    return createPrivateKey({ key: pem, format: 'pem', passphrase }).export({ type: 'pkcs8', format: 'pem' }) as string;
  } catch {
    throw new CertificateError(`${file} cannot be decrypted with this manager's keys: restore it with its raft/keys.json from a backup, or run \`shoal leave --force\` and join again`);
  }
}
