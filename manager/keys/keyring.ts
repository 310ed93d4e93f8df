// The RecordCipher a manager's WAL is given: the current data key seals, older ones (rotated out,
// still needed by segments on disk) open. Rotation swaps the current key in place, so the WAL
// seals its next record with the new key without being reopened.
import { AesGcmCipher, type DataKey, type RecordCipher } from '../raft/storage/index.js';

export class RaftKeyRing implements RecordCipher {
  private c: AesGcmCipher;

  constructor(private keys: DataKey[]) {
    this.c = new AesGcmCipher(keys[0]!, keys.slice(1));
  }

  /** Current first. */
  get dataKeys(): readonly DataKey[] {
    return this.keys;
  }

  get keyId(): string {
    return this.c.keyId;
  }

  seal(type: number, plain: Uint8Array): Buffer {
    return this.c.seal(type, plain);
  }

  open(type: number, sealed: Buffer): Buffer {
    return this.c.open(type, sealed);
  }

  keyIdOf(sealed: Buffer): string {
    return this.c.keyIdOf(sealed);
  }

  replace(keys: DataKey[]): void {
    this.c = new AesGcmCipher(keys[0]!, keys.slice(1));
    this.keys = keys;
  }
}
