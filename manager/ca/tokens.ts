// Join tokens in the manner of Swarm's SWMTKN: SHOALTKN-1-<CA hash>-<secret>. The hash pins the
// cluster's root certificate (a joining node trusts nothing else); the secret decides the role.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { InvalidJoinTokenError } from './errors.js';
import type { NodeRoleName } from './x509.js';

const PREFIX = 'SHOALTKN';
const VERSION = '1';
const HASH_DIGITS = 50; // 256 bits in base 36
const SECRET_DIGITS = 25; // 128 bits in base 36

export interface JoinTokens {
  worker: string;
  manager: string;
}

export interface ParsedJoinToken {
  caHash: string; // hex sha256 of the root certificate's DER
  secret: string;
}

function toBase36(hex: string, digits: number): string {
  return BigInt(`0x${hex}`).toString(36).padStart(digits, '0');
}

function fromBase36(s: string): bigint {
  let n = 0n;
  for (const ch of s) n = n * 36n + BigInt(parseInt(ch, 36));
  return n;
}

export function makeJoinToken(caHash: string): string {
  const secret = toBase36(randomBytes(16).toString('hex'), SECRET_DIGITS);
  return `${PREFIX}-${VERSION}-${toBase36(caHash, HASH_DIGITS)}-${secret}`;
}

export function generateJoinTokens(caHash: string): JoinTokens {
  return { worker: makeJoinToken(caHash), manager: makeJoinToken(caHash) };
}

export function parseJoinToken(token: string): ParsedJoinToken {
  const bad = (why: string) =>
    new InvalidJoinTokenError(
      `invalid join token ${JSON.stringify(token.length > 120 ? `${token.slice(0, 120)}...` : token)}: ${why}; ` +
        'copy it again from `shoal join-token worker` (or manager) on a manager',
    );
  const parts = token.trim().split('-');
  if (parts.length !== 4 || parts[0] !== PREFIX) throw bad(`it should look like ${PREFIX}-1-<hash>-<secret>`);
  if (parts[1] !== VERSION) throw bad(`version ${parts[1]} is not supported`);
  const [, , hash36 = '', secret = ''] = parts;
  if (hash36.length !== HASH_DIGITS || !/^[0-9a-z]+$/.test(hash36)) throw bad('the CA hash part is malformed');
  if (secret.length !== SECRET_DIGITS || !/^[0-9a-z]+$/.test(secret)) throw bad('the secret part is malformed');
  const caHash = fromBase36(hash36).toString(16).padStart(64, '0');
  if (caHash.length !== 64) throw bad('the CA hash part is out of range');
  return { caHash, secret };
}

/** Which role a presented token grants in a cluster whose current tokens are `current`, or null. */
export function roleForToken(presented: string, current: JoinTokens): NodeRoleName | null {
  const p = parseJoinToken(presented);
  for (const role of ['manager', 'worker'] as const) {
    const c = parseJoinToken(current[role]);
    if (c.caHash === p.caHash && constantTimeEqual(c.secret, p.secret)) return role;
  }
  return null;
}

function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** New secrets for the roles asked; old tokens of those roles stop working. */
export function rotateJoinTokens(current: JoinTokens, caHash: string, which: { worker?: boolean; manager?: boolean }): JoinTokens {
  return {
    worker: which.worker ? makeJoinToken(caHash) : current.worker,
    manager: which.manager ? makeJoinToken(caHash) : current.manager,
  };
}
