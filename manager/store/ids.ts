// Object ids: 25 characters of base 36 from 128 random bits, like Swarm's, short enough for
// tables and unique without coordination between managers.
import { randomFillSync } from 'node:crypto';

// Random bytes are drawn in bulk: the orchestrator makes thousands of ids in one pass.
const pool = Buffer.alloc(16 * 256);
let offset = pool.length;

export function newObjectId(): string {
  if (offset >= pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const hi = pool.readBigUInt64BE(offset);
  const lo = pool.readBigUInt64BE(offset + 8);
  offset += 16;
  return ((hi << 64n) | lo).toString(36).padStart(25, '0');
}
