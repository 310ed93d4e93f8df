// A manager's Raft data keys and the key-encryption key that protects them (see README.md):
// created with the Raft state directory, opened at start (or left locked when autolock keeps the
// KEK off disk), re-wrapped when the cluster turns autolock on or off or rotates its unlock key.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { PLAINTEXT, type DataKey } from '../raft/storage/index.js';
import { WrongUnlockKeyError } from './errors.js';
import { newDataKey, readKek, readKeyFile, removeKek, unwrapKey, wrapKey, writeKek, writeKeyFile, type KeyFile } from './key-files.js';
import { RaftKeyRing } from './keyring.js';
import { kekFromUnlockKey } from './unlock-key.js';
import { settled } from '../../proto/undo.js';

const NODE_KEY_ID = Buffer.from('nodekey0');

export class ManagerKeys {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly dir: string,
    readonly ring: RaftKeyRing,
    private kek: Buffer,
    private file: KeyFile,
    private nodeKeySecret: Buffer | undefined,
  ) {}

  /** New keys for a new Raft state directory; with an unlock key the KEK never touches the disk. */
  static async create(dir: string, unlockKey?: string): Promise<ManagerKeys> {
    const dek = newDataKey();
    const kek = unlockKey ? kekFromUnlockKey(unlockKey) : randomBytes(32);
    const secret = randomBytes(32);
    const file: KeyFile = { autolock: !!unlockKey, plaintextLegacy: await holdsWal(dir), deks: [wrapKey(kek, dek)], nodeKey: wrapKey(kek, { id: NODE_KEY_ID, key: secret }) };
    if (!unlockKey) await writeKek(dir, kek); // before keys.json: a crash leaves no unreadable pair
    await writeKeyFile(dir, file);
    return new ManagerKeys(dir, new RaftKeyRing([dek]), kek, file, secret);
  }

  /**
   * The keys of an existing directory, or 'locked' when autolock is on (the KEK is not on disk:
   * the user must give the unlock key). A directory without keys gets new ones; if it already
   * holds a WAL (written before encryption at rest), its plaintext stays readable until released.
   */
  static async open(dir: string): Promise<ManagerKeys | 'locked'> {
    const file = await readKeyFile(dir);
    if (!file) return ManagerKeys.create(dir);
    if (file.autolock) {
      await removeKek(dir); // left by a crash while autolock was being turned on
      return 'locked';
    }
    const kek = await readKek(dir);
    const deks = kek && unwrapAll(kek, file);
    if (!deks) throw new WrongUnlockKeyError(); // a kek file that does not open keys.json: restore both
    return new ManagerKeys(dir, new RaftKeyRing(deks), kek, file, nodeKeySecret(kek, file));
  }

  /** Opens an autolocked directory with the cluster's unlock key; a wrong key is refused. */
  static async unlock(dir: string, unlockKey: string): Promise<ManagerKeys> {
    const file = await readKeyFile(dir);
    const kek = kekFromUnlockKey(unlockKey);
    const deks = file && unwrapAll(kek, file);
    if (!file || !deks) throw new WrongUnlockKeyError();
    return new ManagerKeys(dir, new RaftKeyRing(deks), kek, file, nodeKeySecret(kek, file));
  }

  get autolocked(): boolean {
    return this.file.autolock;
  }

  /** Whether the WAL may still hold records from before encryption (see storage/README.md). */
  get allowPlaintext(): boolean {
    return this.file.plaintextLegacy;
  }

  /** The passphrase certificates/node.key is encrypted with while autolock is on (else none:
   *  with the KEK on disk, encrypting the key next to it would protect nothing). */
  nodeKeyPassphrase(): Buffer | undefined {
    return this.file.autolock && this.nodeKeySecret ? Buffer.from(this.nodeKeySecret.toString('hex')) : undefined;
  }

  /** Whether this manager's KEK is the one `unlockKey` stands for. */
  matchesUnlockKey(unlockKey: string): boolean {
    return this.file.autolock && timingSafeEqual(kekFromUnlockKey(unlockKey), this.kek);
  }

  /**
   * Autolock on (the KEK becomes the unlock key's and leaves the disk) or off (a new random KEK
   * on disk). Turning it on also rotates the data key: the old one was kept next to its KEK.
   */
  setAutolock(unlockKey: string | null): Promise<void> {
    return this.serial(async () => {
      if (unlockKey) {
        const wasOn = this.file.autolock;
        const kek = kekFromUnlockKey(unlockKey);
        const deks = wasOn ? [...this.ring.dataKeys] : [newDataKey(), ...this.ring.dataKeys];
        await this.save(kek, deks, true);
        await removeKek(this.dir);
      } else {
        const kek = randomBytes(32);
        await writeKek(this.dir, kek);
        await this.save(kek, [...this.ring.dataKeys], false);
      }
    });
  }

  /** Forgets rotated-out data keys the files on disk no longer use (ids from storageKeyIds()). */
  prune(inUse: Set<string>): Promise<void> {
    return this.serial(async () => {
      const keys = this.ring.dataKeys;
      const keep = keys.filter((k, i) => i === 0 || inUse.has(k.id.toString('hex')));
      const legacy = this.file.plaintextLegacy && inUse.has(PLAINTEXT);
      if (keep.length === keys.length && legacy === this.file.plaintextLegacy) return;
      this.file = { ...this.file, plaintextLegacy: legacy };
      await this.save(this.kek, keep, this.file.autolock);
    });
  }

  private async save(kek: Buffer, deks: DataKey[], autolock: boolean): Promise<void> {
    this.nodeKeySecret ??= randomBytes(32);
    const nodeKey = wrapKey(kek, { id: NODE_KEY_ID, key: this.nodeKeySecret });
    const file: KeyFile = { autolock, plaintextLegacy: this.file.plaintextLegacy, deks: deks.map((k) => wrapKey(kek, k)), nodeKey };
    await writeKeyFile(this.dir, file);
    this.file = file;
    this.kek = kek;
    this.ring.replace(deks); // the WAL seals its next record with deks[0]
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = settled(run); // the caller gets run's error; the queue goes on
    return run;
  }
}

function unwrapAll(kek: Buffer, file: KeyFile): DataKey[] | undefined {
  const out: DataKey[] = [];
  for (const w of file.deks) {
    const k = unwrapKey(kek, w);
    if (!k) return undefined;
    out.push(k);
  }
  return out;
}

function nodeKeySecret(kek: Buffer, file: KeyFile): Buffer | undefined {
  if (!file.nodeKey) return undefined;
  const k = unwrapKey(kek, file.nodeKey);
  if (!k) throw new WrongUnlockKeyError();
  return k.key;
}

async function holdsWal(dir: string): Promise<boolean> {
  try {
    return (await readdir(`${dir}/wal`)).some((n) => n.endsWith('.wal'));
  } catch {
    return false;
  }
}
