// Encryption at rest of the Raft WAL and snapshot files (manager/raft/storage/cipher.ts, codec.ts):
// nothing readable on disk, tampering refused naming the file, key rotation, plaintext upgrade.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AesGcmCipher, crc32c, SealError, SealedDataError, Wal, WalCorruptError, type DataKey } from '../../../manager/raft/storage/index.js';
import { encodeRecord, FLAG_SEALED, RecordType } from '../../../manager/raft/storage/record.js';
import { type Entry, EntryType, type Snapshot } from '../../../proto/gen/raft.js';

const SECRET = 'hunter2-the-secret-value';
const ent = (index: bigint, text = `${SECRET}-${index}`): Entry => ({ index, term: 1n, type: EntryType.ENTRY_NORMAL, data: Buffer.from(text) });
const range = (lo: number, hi: number): Entry[] => Array.from({ length: hi - lo + 1 }, (_, i) => ent(BigInt(lo + i)));
const texts = (es: Entry[]): string[] => es.map((e) => e.data.toString());
const newKey = (): DataKey => ({ id: randomBytes(8), key: randomBytes(32) });
const opts = (dir: string, cipher?: AesGcmCipher, more: object = {}) => ({ dir, clusterId: 'shoalri-c1', nodeId: 7n, cipher, ...more });
const snapAt = (index: bigint, data: string): Snapshot => ({
  metadata: { index, term: 1n, clusterId: 'shoalri-c1', confState: { voters: [7n], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } },
  data: Buffer.from(data),
});

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'shoalri-seal-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function filesUnder(d: string): Promise<string[]> {
  const out: string[] = [];
  for (const sub of ['wal', 'snap']) for (const n of await readdir(`${d}/${sub}`)) out.push(`${d}/${sub}/${n}`);
  return out;
}

async function grep(d: string, needle: string): Promise<string[]> {
  const hits: string[] = [];
  for (const f of await filesUnder(d)) if ((await readFile(f)).includes(Buffer.from(needle))) hits.push(f);
  return hits;
}

/** Rewrites the record at `offset` of `buf` with one payload byte flipped and both CRCs fixed
 *  (what an attacker editing the file would do), so only the cipher can notice. */
function tamper(buf: Buffer, offset: number, at: number): Buffer {
  const out = Buffer.from(buf);
  const len = out.readUInt32LE(offset);
  out[offset + 16 + at] = out[offset + 16 + at]! ^ 0x01;
  out.writeUInt32LE(crc32c(out, 0, offset + 16, offset + 16 + len), offset + 12);
  return out;
}

/** Offsets of the records of a segment or snapshot file. */
function recordOffsets(buf: Buffer): number[] {
  const out: number[] = [];
  for (let off = 0; off + 16 <= buf.length && buf.readUInt32LE(off + 8) !== 0; off += 16 + buf.readUInt32LE(off)) out.push(off);
  return out;
}

describe('AesGcmCipher', () => {
  it('round-trips, binds the record type and refuses a flipped bit or an unknown key', () => {
    const k = newKey();
    const c = new AesGcmCipher(k);
    const sealed = c.seal(2, Buffer.from(SECRET));
    expect(sealed.includes(Buffer.from(SECRET))).toBe(false);
    expect(c.open(2, sealed).toString()).toBe(SECRET);
    expect(c.keyIdOf(sealed)).toBe(k.id.toString('hex'));
    // two seals of the same text differ (a fresh nonce each)
    expect(c.seal(2, Buffer.from(SECRET)).equals(sealed)).toBe(false);
    expect(() => c.open(3, sealed)).toThrow(SealError);
    for (let i = 0; i < sealed.length; i++) {
      const bad = Buffer.from(sealed);
      bad[i] = bad[i]! ^ 0x80;
      expect(() => c.open(2, bad), `byte ${i}`).toThrow(SealError);
    }
    expect(() => new AesGcmCipher(newKey()).open(2, sealed)).toThrow(/does not hold/);
  });
});

describe('encrypted WAL and snapshots', () => {
  it('writes no plaintext to disk and reads everything back', async () => {
    const cipher = new AesGcmCipher(newKey());
    const a = await Wal.open(opts(dir, cipher));
    await a.wal.save({ entries: range(1, 20), hardState: { term: 1n, vote: 7n, commit: 20n } });
    await a.wal.saveSnapshot(snapAt(10n, `state with ${SECRET}`));
    await a.wal.close();
    expect(await grep(dir, SECRET)).toEqual([]);
    expect((await filesUnder(dir)).some((f) => f.endsWith('.snap'))).toBe(true);
    const b = await Wal.open(opts(dir, cipher));
    expect(b.state.snapshot?.data.toString()).toBe(`state with ${SECRET}`);
    expect(texts(b.state.entries)).toEqual(texts(range(11, 20)));
    expect(b.state.hardState).toEqual({ term: 1n, vote: 7n, commit: 20n });
    await b.wal.close();
  });

  it('refuses a modified WAL record naming the file and offset, whatever the checksums say', async () => {
    const cipher = new AesGcmCipher(newKey());
    const a = await Wal.open(opts(dir, cipher));
    for (let i = 1n; i <= 5n; i++) await a.wal.save({ entries: [ent(i)] });
    await a.wal.close();
    const file = (await filesUnder(dir)).find((f) => f.endsWith('.wal'))!;
    const orig = await readFile(file);
    const offs = recordOffsets(orig);
    expect(offs.length).toBe(6); // meta + 5 entries
    for (const [rec, at] of [[3, 30], [5, 0], [2, 12]] as const) {
      await writeFile(file, tamper(orig, offs[rec]!, at));
      const err = await Wal.open(opts(dir, cipher)).then(
        async (r) => {
          await r.wal.close();
          return undefined;
        },
        (e: unknown) => e,
      );
      expect(err, `record ${rec} byte ${at}`).toBeInstanceOf(SealedDataError);
      expect((err as SealedDataError).file).toBe(file);
      expect((err as SealedDataError).offset).toBe(offs[rec]);
      expect((err as Error).message).toContain(file);
      expect((err as Error).message).toMatch(/authentication failed|unknown sealed payload version|does not hold/);
    }
    // a flipped byte that breaks the checksum is caught before decryption, as before
    const bad = Buffer.from(orig);
    bad[offs[3]! + 40] = bad[offs[3]! + 40]! ^ 0x01;
    await writeFile(file, bad);
    await expect(Wal.open(opts(dir, cipher))).rejects.toBeInstanceOf(WalCorruptError);
    await writeFile(file, orig);
    const ok = await Wal.open(opts(dir, cipher));
    expect(ok.state.entries.length).toBe(5);
    await ok.wal.close();
  });

  it('seals one save as one batch, and refuses a batch whose frames do not fit (sealed with the right key)', async () => {
    const cipher = new AesGcmCipher(newKey());
    const a = await Wal.open(opts(dir, cipher));
    await a.wal.save({ entries: range(1, 50), hardState: { term: 1n, vote: 7n, commit: 50n } });
    await a.wal.close();
    const file = (await filesUnder(dir)).find((f) => f.endsWith('.wal'))!;
    const good = await readFile(file);
    expect(recordOffsets(good).length).toBe(2); // meta + one batch
    // a frame claiming more bytes than the batch holds
    const bad = Buffer.alloc(5 + 3);
    bad.writeUInt32LE(1000, 0);
    bad[4] = RecordType.Entry;
    const rec = encodeRecord(RecordType.Batch, cipher.seal(RecordType.Batch, bad), FLAG_SEALED);
    await writeFile(file, Buffer.concat([good, rec, rec]));
    const err = await Wal.open(opts(dir, cipher)).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(WalCorruptError);
    expect((err as Error).message).toMatch(/bad frame/);
    expect((err as WalCorruptError).file).toBe(file);
    expect((err as WalCorruptError).offset).toBe(good.length);
  });

  it('refuses a modified snapshot file naming it instead of silently using an older one', async () => {
    const cipher = new AesGcmCipher(newKey());
    const a = await Wal.open(opts(dir, cipher));
    await a.wal.save({ entries: range(1, 20) });
    await a.wal.saveSnapshot(snapAt(5n, 'older state'));
    await a.wal.saveSnapshot(snapAt(15n, 'newer state'));
    await a.wal.close();
    const snaps = (await filesUnder(dir)).filter((f) => f.endsWith('.snap')).sort();
    const newest = snaps.at(-1)!;
    const orig = await readFile(newest);
    await writeFile(newest, tamper(orig, 0, 25));
    const err = await Wal.open(opts(dir, cipher)).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(SealedDataError);
    expect((err as Error).message).toContain(newest);
  });

  it('refuses encrypted data without its key, and a plaintext record slipped into an encrypted log', async () => {
    const cipher = new AesGcmCipher(newKey());
    const a = await Wal.open(opts(dir, cipher));
    await a.wal.save({ entries: range(1, 3) });
    await a.wal.close();
    await expect(Wal.open(opts(dir))).rejects.toThrow(/opened without its data keys/);
    await expect(Wal.open(opts(dir, new AesGcmCipher(newKey())))).rejects.toThrow(/does not hold/);
    // an attacker appends an unsealed entry to the log
    const p = await Wal.open(opts(`${dir}/plain`));
    await p.wal.save({ entries: [ent(4n, 'injected')] });
    await p.wal.close();
    const plainSeg = (await filesUnder(`${dir}/plain`)).find((f) => f.endsWith('.wal'))!;
    const plainBuf = await readFile(plainSeg);
    const injected = plainBuf.subarray(recordOffsets(plainBuf)[1]!);
    const file = (await filesUnder(dir)).find((f) => f.endsWith('.wal'))!;
    await writeFile(file, Buffer.concat([await readFile(file), injected]));
    await expect(Wal.open(opts(dir, cipher))).rejects.toThrow(/unencrypted record in an encrypted log/);
  });

  it('rotates the data key: new writes use it, old segments stay readable until released', async () => {
    const k1 = newKey();
    const k2 = newKey();
    const id1 = k1.id.toString('hex');
    const id2 = k2.id.toString('hex');
    const a = await Wal.open(opts(dir, new AesGcmCipher(k1), { segmentBytes: 1024 }));
    for (let i = 1; i <= 100; i += 10) await a.wal.save({ entries: range(i, i + 9) });
    expect([...(await a.wal.keyIdsInUse())]).toEqual([id1]);
    a.wal.setCipher(new AesGcmCipher(k2, [k1]));
    for (let i = 101; i <= 200; i += 10) await a.wal.save({ entries: range(i, i + 9) });
    expect(new Set(await a.wal.keyIdsInUse())).toEqual(new Set([id1, id2]));
    await a.wal.close();
    // the new key alone cannot read the old segments yet
    await expect(Wal.open(opts(dir, new AesGcmCipher(k2), { segmentBytes: 1024 }))).rejects.toThrow(/does not hold/);
    const b = await Wal.open(opts(dir, new AesGcmCipher(k2, [k1]), { segmentBytes: 1024 }));
    expect(texts(b.state.entries)).toEqual(texts(range(1, 200)));
    // a snapshot under the new key, then releasing what it covers, retires the old key
    await b.wal.saveSnapshot(snapAt(200n, 'all of it'));
    await b.wal.releaseTo(200n);
    expect([...(await b.wal.keyIdsInUse())]).toEqual([id2]);
    await b.wal.close();
    const c = await Wal.open(opts(dir, new AesGcmCipher(k2), { segmentBytes: 1024 }));
    expect(c.state.snapshot?.data.toString()).toBe('all of it');
    await c.wal.close();
    expect(await grep(dir, SECRET)).toEqual([]);
  });

  it('reads a plaintext directory when allowed, seals new writes, and reports the plaintext until released', async () => {
    const p = await Wal.open({ ...opts(dir), segmentBytes: 512 });
    await p.wal.save({ entries: range(1, 30) });
    await p.wal.close();
    const k = newKey();
    await expect(Wal.open(opts(dir, new AesGcmCipher(k), { segmentBytes: 512 }))).rejects.toThrow(/unencrypted record/);
    const a = await Wal.open(opts(dir, new AesGcmCipher(k), { segmentBytes: 512, allowPlaintext: true }));
    expect(a.state.entries.length).toBe(30);
    await a.wal.save({ entries: range(31, 60) });
    expect(new Set(await a.wal.keyIdsInUse())).toEqual(new Set(['plaintext', k.id.toString('hex')]));
    await a.wal.saveSnapshot(snapAt(60n, 'sealed state'));
    await a.wal.releaseTo(60n);
    expect([...(await a.wal.keyIdsInUse())]).toEqual([k.id.toString('hex')]);
    await a.wal.close();
    const b = await Wal.open(opts(dir, new AesGcmCipher(k), { segmentBytes: 512 }));
    expect(b.state.snapshot?.data.toString()).toBe('sealed state');
    await b.wal.close();
  });
});
