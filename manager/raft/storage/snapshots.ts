// Snapshot files: <dir>/<term hex16>-<index hex16>.snap, each one framed Snapshot record.
import { mkdir, open, readdir, readFile, unlink } from 'node:fs/promises';
import { Snapshot } from '../../../proto/gen/raft.js';
import { StorageIdentityError } from './errors.js';
import { writeFileAtomic } from './fsutil.js';
import { RecordCodec } from './codec.js';
import { FLAG_SEALED, HEADER_BYTES, readRecord, RecordType } from './record.js';
import type { StorageLogger } from './logger.js';

const NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;
const hex = (n: bigint): string => n.toString(16).padStart(16, '0');

export class SnapshotStore {
  constructor(
    readonly dir: string,
    private readonly clusterId: string,
    private readonly logger: StorageLogger,
    private readonly codec: RecordCodec = new RecordCodec({}),
    private readonly retain = 2,
  ) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    // a leftover .tmp is a snapshot whose write never completed
    for (const f of await readdir(this.dir)) if (f.endsWith('.tmp')) await unlink(`${this.dir}/${f}`);
  }

  /** Durably stores `snap` (refusing another cluster's), then prunes all but the newest few. */
  async save(snap: Snapshot): Promise<void> {
    const md = snap.metadata;
    if (!md) throw new StorageIdentityError('raft snapshot without metadata cannot be stored');
    this.checkCluster(md.clusterId, 'snapshot to store');
    const body = this.codec.encode(RecordType.Snapshot, Snapshot.encode(snap).finish());
    await writeFileAtomic(this.dir, `${hex(md.term)}-${hex(md.index)}.snap`, body);
    const names = await this.list();
    for (const old of names.slice(this.retain)) await unlink(`${this.dir}/${old.name}`);
  }

  /**
   * The newest snapshot that reads back intact; damaged files (a checksum mismatch) are skipped
   * with a log line, but one that fails decryption is refused (SealedDataError): tampering or a
   * wrong key is not a torn write.
   */
  async loadNewest(): Promise<Snapshot | undefined> {
    for (const f of await this.list()) {
      const path = `${this.dir}/${f.name}`;
      const buf = await readFile(path);
      const r = readRecord(buf, 0);
      if (r.kind !== 'record' || r.type !== RecordType.Snapshot || r.next !== buf.length) {
        this.logger.warn({ file: path }, 'raft snapshot file damaged; trying an older one');
        continue;
      }
      const snap = Snapshot.decode(this.codec.decode(path, 0, r));
      this.checkCluster(snap.metadata?.clusterId ?? '', path);
      return snap;
    }
    return undefined;
  }

  /** The ids of the keys the retained snapshot files are sealed with (read from their headers). */
  async keyIds(): Promise<Set<string>> {
    const out = new Set<string>();
    const head = Buffer.alloc(HEADER_BYTES + 9);
    for (const f of await this.list()) {
      const fh = await open(`${this.dir}/${f.name}`, 'r');
      try {
        const { bytesRead } = await fh.read(head, 0, head.length, 0);
        if (bytesRead < HEADER_BYTES) continue;
        const sealed = (head[5]! & FLAG_SEALED) !== 0;
        out.add(this.codec.keyOf({ sealed, payload: head.subarray(HEADER_BYTES, bytesRead) }));
      } finally {
        await fh.close();
      }
    }
    return out;
  }

  private checkCluster(id: string, what: string): void {
    if (id !== this.clusterId) {
      throw new StorageIdentityError(
        `raft ${what} belongs to cluster ${JSON.stringify(id)}, not ${JSON.stringify(this.clusterId)}; ` +
          'point this member at its own state directory',
      );
    }
  }

  private async list(): Promise<{ name: string; index: bigint }[]> {
    const out: { name: string; index: bigint }[] = [];
    for (const name of await readdir(this.dir)) {
      const m = NAME.exec(name);
      if (m) out.push({ name, index: BigInt(`0x${m[2]}`) });
    }
    return out.sort((a, b) => (a.index > b.index ? -1 : a.index < b.index ? 1 : 0));
  }
}
