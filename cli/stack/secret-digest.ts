// A stack secret's data never comes back from the cluster, yet a redeploy must tell whether the
// file changed. The stack records a salted scrypt digest of the data in a label when it creates
// the secret: a label is readable by anyone who can list secrets, so a plain hash would let a
// short password be guessed offline; scrypt with a per-secret salt makes each guess costly.
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** On secrets a stack created: the digest of their data (see digestSecret). */
export const SECRET_DIGEST_LABEL = 'shoal.stack.secret-digest';

const SCHEME = 'scrypt1';
// 2^15 x 8 x 128 bytes = 32 MiB and ~0.1 s per digest: costly per guess, cheap per deploy.
const PARAMS = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const KEYLEN = 32;

function derive(data: Uint8Array, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(data, salt, KEYLEN, PARAMS, (err, key) => (err ? reject(err) : resolve(key))));
}

/** The label value for new secret data, with a fresh random salt. */
export async function digestSecret(data: Uint8Array): Promise<string> {
  const salt = randomBytes(16);
  return `${SCHEME}:${salt.toString('base64url')}:${(await derive(data, salt)).toString('base64url')}`;
}

/** Whether `data` is what `digest` was made from; undefined when the digest cannot be read
 *  (no label, another scheme): the caller cannot tell and must say so. */
export async function secretMatches(digest: string | undefined, data: Uint8Array): Promise<boolean | undefined> {
  const parts = digest?.split(':');
  if (!parts || parts.length !== 3 || parts[0] !== SCHEME) return undefined;
  const want = Buffer.from(parts[2]!, 'base64url');
  if (want.length !== KEYLEN) return undefined;
  return timingSafeEqual(want, await derive(data, Buffer.from(parts[1]!, 'base64url')));
}
