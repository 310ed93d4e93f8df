// Object ids: 25 characters of base 36 from 128 random bits, like Swarm's, short enough for
// tables and unique without coordination between managers.
import { randomBytes } from 'node:crypto';

export function newObjectId(): string {
  const n = BigInt(`0x${randomBytes(16).toString('hex')}`);
  return n.toString(36).padStart(25, '0');
}
