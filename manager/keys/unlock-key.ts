// The unlock key of an autolocked cluster: SHOALKEY-1-<43 base64url characters> (32 random bytes),
// the same for every manager (it is kept, encrypted at rest, in the replicated Cluster object).
// It is high-entropy, so the key-encryption key is derived from it with HKDF, not a password hash.
import { hkdfSync, randomBytes } from 'node:crypto';
import { MalformedUnlockKeyError } from './errors.js';

const PREFIX = 'SHOALKEY-1-';
const BODY = /^[A-Za-z0-9_-]{43}$/;

export function newUnlockKey(): string {
  return PREFIX + randomBytes(32).toString('base64url');
}

/** The 32 secret bytes of an unlock key; surrounding whitespace (a pasted newline) is ignored. */
export function parseUnlockKey(text: string): Buffer {
  const t = text.trim();
  const body = t.startsWith(PREFIX) ? t.slice(PREFIX.length) : '';
  if (!BODY.test(body)) {
    throw new MalformedUnlockKeyError(`not an unlock key: expected ${PREFIX} followed by 43 characters (as printed by \`shoal unlock-key\`)`);
  }
  return Buffer.from(body, 'base64url');
}

/** The key-encryption key an unlock key stands for. */
export function kekFromUnlockKey(text: string): Buffer {
  return Buffer.from(hkdfSync('sha256', parseUnlockKey(text), 'shoal raft kek', 'SHOALKEY-1', 32));
}
