// Encryption at rest of WAL records and snapshot files: an injected RecordCipher seals each
// record's payload. AesGcmCipher is the one shoal uses: AES-256-GCM, a unique 96-bit nonce per
// record, the record type and key id authenticated with it. Where the keys come from (a data
// key wrapped by a key-encryption key) is the caller's business, not this library's.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** Seals and opens record payloads; `type` is the record type, bound to the ciphertext. */
export interface RecordCipher {
  /** Id of the key new records are sealed with (hex); a WAL tracks which ids its files hold. */
  readonly keyId: string;
  seal(type: number, plain: Uint8Array): Buffer;
  /** Throws SealError when the payload was modified or its key is not held. */
  open(type: number, sealed: Buffer): Buffer;
  /** The key id a sealed payload names (without opening it). */
  keyIdOf(sealed: Buffer): string;
}

export class SealError extends Error {}

export interface DataKey {
  id: Buffer; // 8 bytes
  key: Buffer; // 32 bytes
}

// sealed payload: version(1) | key id(8) | nonce(12) | ciphertext | tag(16)
const VERSION = 1;
const ID_BYTES = 8;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const PREFIX = 1 + ID_BYTES + NONCE_BYTES;
export const SEAL_OVERHEAD = PREFIX + TAG_BYTES;

export class AesGcmCipher implements RecordCipher {
  readonly keyId: string;
  private readonly keys = new Map<string, Buffer>();
  private readonly aad = Buffer.alloc(1 + 1 + ID_BYTES);
  // Nonces: a random 96-bit start per instance, then its low 64 bits count up. Unique within an
  // instance; two instances with one key (restarts) collide only if their random starts land
  // within a few billion of each other in the same 2^32 prefix: negligible. (A random nonce per
  // record costs a getrandom call each, a third of a seal.)
  private readonly nonce = randomBytes(NONCE_BYTES);

  /** `current` seals; `older` keys (rotated out) still open what they sealed. */
  constructor(private readonly current: DataKey, older: readonly DataKey[] = []) {
    for (const k of [current, ...older]) {
      if (k.id.length !== ID_BYTES || k.key.length !== 32) throw new Error('a data key is 8 bytes of id and 32 bytes of AES-256 key');
      this.keys.set(k.id.toString('hex'), k.key);
    }
    this.keyId = current.id.toString('hex');
  }

  seal(type: number, plain: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(PREFIX + plain.length + TAG_BYTES);
    out[0] = VERSION;
    this.current.id.copy(out, 1);
    const nonce = this.nextNonce();
    nonce.copy(out, 1 + ID_BYTES);
    const c = createCipheriv('aes-256-gcm', this.current.key, nonce);
    c.setAAD(this.aadFor(type, out));
    const n = c.update(plain).copy(out, PREFIX);
    c.final();
    c.getAuthTag().copy(out, PREFIX + n);
    return out;
  }

  open(type: number, sealed: Buffer): Buffer {
    if (sealed.length < SEAL_OVERHEAD) throw new SealError(`sealed payload of ${sealed.length} bytes is shorter than its header`);
    if (sealed[0] !== VERSION) throw new SealError(`unknown sealed payload version ${sealed[0]}`);
    const id = this.keyIdOf(sealed);
    const key = this.keys.get(id);
    if (!key) throw new SealError(`sealed with data key ${id}, which this member's key ring does not hold`);
    const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(1 + ID_BYTES, PREFIX));
    d.setAAD(this.aadFor(type, sealed));
    d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const body = d.update(sealed.subarray(PREFIX, sealed.length - TAG_BYTES));
    try {
      d.final();
    } catch {
      throw new SealError(`authentication failed (data key ${id}): the record was modified or damaged`);
    }
    return body;
  }

  private nextNonce(): Buffer {
    for (let i = NONCE_BYTES - 1; i >= 4; i--) {
      this.nonce[i] = (this.nonce[i]! + 1) & 0xff;
      if (this.nonce[i] !== 0) break; // no carry
    }
    return this.nonce;
  }

  keyIdOf(sealed: Buffer): string {
    return sealed.subarray(1, 1 + ID_BYTES).toString('hex');
  }

  private aadFor(type: number, sealed: Buffer): Buffer {
    this.aad[0] = type;
    sealed.copy(this.aad, 1, 0, 1 + ID_BYTES);
    return this.aad;
  }
}
