// Turns payloads into framed records and back, sealing them when the WAL was given a cipher.
// Meta records (cluster and member id) stay readable: they are checked before any key is used
// and hold nothing secret.
import { SealError, type RecordCipher } from './cipher.js';
import { SealedDataError } from './errors.js';
import { encodeRecord, FLAG_SEALED, RecordType } from './record.js';

/** The key-id mark of records written in plaintext (a directory from before encryption). */
export const PLAINTEXT = 'plaintext';

export interface CodecOptions {
  cipher?: RecordCipher;
  /** With a cipher: also accept plaintext records (a directory written before encryption was
   *  enabled). Without it a plaintext record in an encrypted log is refused as tampering. */
  allowPlaintext?: boolean;
}

export class RecordCodec {
  constructor(private opts: CodecOptions) {}

  get cipher(): RecordCipher | undefined {
    return this.opts.cipher;
  }

  /** New writes use `cipher` from now on; records already written keep their key. */
  setCipher(cipher: RecordCipher): void {
    this.opts = { ...this.opts, cipher };
  }

  /** The key id new records carry (PLAINTEXT without a cipher). */
  get writeKey(): string {
    return this.opts.cipher?.keyId ?? PLAINTEXT;
  }

  encode(type: RecordType, payload: Uint8Array): Buffer {
    const c = this.opts.cipher;
    if (!c || type === RecordType.Meta) return encodeRecord(type, payload);
    return encodeRecord(type, c.seal(type, payload), FLAG_SEALED);
  }

  /** The plaintext of a record read from `file` at `offset`; refuses what fails authentication. */
  decode(file: string, offset: number, rec: { type: RecordType; sealed: boolean; payload: Buffer }): Buffer {
    const c = this.opts.cipher;
    if (!rec.sealed) {
      if (c && rec.type !== RecordType.Meta && !this.opts.allowPlaintext) {
        throw new SealedDataError(file, offset, 'an unencrypted record in an encrypted log (written by someone else than this member)');
      }
      return rec.payload;
    }
    if (!c) throw new SealedDataError(file, offset, 'the record is encrypted but this member was opened without its data keys');
    try {
      return c.open(rec.type, rec.payload);
    } catch (err) {
      if (err instanceof SealError) throw new SealedDataError(file, offset, err.message);
      throw err;
    }
  }

  /** The key a record was written with, without opening it. */
  keyOf(rec: { sealed: boolean; payload: Buffer }): string {
    if (!rec.sealed) return PLAINTEXT;
    return this.opts.cipher ? this.opts.cipher.keyIdOf(rec.payload) : 'unknown';
  }
}
