import { execFileSync, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { crc32c, StorageIdentityError, Wal, WalCorruptError } from '../../../manager/raft/storage/index.js';
import { type Entry, EntryType, type Snapshot } from '../../../proto/gen/raft.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ent = (index: bigint, term = 1n, text = `e${index}`): Entry => ({ index, term, type: EntryType.ENTRY_NORMAL, data: Buffer.from(text) });
const range = (lo: number, hi: number, term = 1n): Entry[] => Array.from({ length: hi - lo + 1 }, (_, i) => ent(BigInt(lo + i), term));
const ids = (es: Entry[]): string[] => es.map((e) => `${e.term}/${e.index}/${e.data.toString()}`);
const opts = (dir: string) => ({ dir, clusterId: 'shoalri-c1', nodeId: 7n });

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'shoalri-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function lastSegment(d: string): Promise<string> {
  const names = (await readdir(`${d}/wal`)).filter((n) => n.endsWith('.wal')).sort();
  return `${d}/wal/${names.at(-1)}`;
}

describe('crc32c', () => {
  it('matches the Castagnoli check value and continues across chunks', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.from('56789'), crc32c(Buffer.from('1234')))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(32))).toBe(0x8a9136aa);
  });
});

describe('WAL', () => {
  it('reopens with the hard state and entries written', async () => {
    const a = await Wal.open(opts(dir));
    expect(a.state.fresh).toBe(true);
    await a.wal.save({ entries: range(1, 10), hardState: { term: 1n, vote: 7n, commit: 8n } });
    await a.wal.close();
    const b = await Wal.open(opts(dir));
    expect(b.state.fresh).toBe(false);
    expect(ids(b.state.entries)).toEqual(ids(range(1, 10)));
    expect(b.state.hardState).toEqual({ term: 1n, vote: 7n, commit: 8n });
    await b.wal.close();
  });

  it('replays an overwritten suffix after a new term', async () => {
    const a = await Wal.open(opts(dir));
    await a.wal.save({ entries: range(1, 5, 1n) });
    await a.wal.save({ entries: range(4, 6, 2n), hardState: { term: 2n, vote: 0n, commit: 3n } });
    await a.wal.close();
    const b = await Wal.open(opts(dir));
    expect(ids(b.state.entries)).toEqual(ids([...range(1, 3, 1n), ...range(4, 6, 2n)]));
    await b.wal.close();
  });

  it('group-commits saves issued while an fsync is in flight', async () => {
    const a = await Wal.open(opts(dir));
    await Promise.all(range(1, 200).map((e) => a.wal.save({ entries: [e] })));
    await a.wal.close();
    const b = await Wal.open(opts(dir));
    expect(b.state.entries.length).toBe(200);
    await b.wal.close();
  });

  it('truncates a torn last record at every byte offset and keeps appending', async () => {
    const a = await Wal.open(opts(dir));
    await a.wal.save({ entries: range(1, 3) });
    const file = await lastSegment(dir);
    const before = (await stat(file)).size;
    await a.wal.save({ entries: [ent(4n, 1n, 'the last record, torn somewhere')] });
    await a.wal.close();
    const after = (await stat(file)).size;
    const copy = `${dir}-copy`;
    try {
      for (let cut = before; cut < after; cut++) {
        await rm(copy, { recursive: true, force: true });
        await cp(dir, copy, { recursive: true });
        await truncate(await lastSegment(copy), cut);
        const b = await Wal.open(opts(copy));
        expect(ids(b.state.entries), `cut at ${cut}`).toEqual(ids(range(1, 3)));
        expect((await stat(await lastSegment(copy))).size).toBe(before);
        await b.wal.save({ entries: [ent(4n, 2n, 'rewritten')] });
        await b.wal.close();
        const c = await Wal.open(opts(copy));
        expect(ids(c.state.entries)).toEqual([...ids(range(1, 3)), '2/4/rewritten']);
        await c.wal.close();
      }
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });

  it('refuses a flipped byte in the middle with the file and offset', async () => {
    const a = await Wal.open(opts(dir));
    for (let i = 1n; i <= 5n; i++) await a.wal.save({ entries: [ent(i)] });
    await a.wal.close();
    const file = await lastSegment(dir);
    const orig = await readFile(file);
    // find the record of entry 3 by its payload text
    const at = orig.indexOf(Buffer.from('e3'));
    for (const pos of [at, at - 14 /* inside its header: the length */]) {
      const bad = Buffer.from(orig);
      bad[pos] = bad[pos]! ^ 0x40;
      await writeFile(file, bad);
      const err = await Wal.open(opts(dir)).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(WalCorruptError);
      expect((err as WalCorruptError).file).toBe(file);
      expect((err as Error).message).toContain(file);
      expect((err as WalCorruptError).offset).toBeGreaterThan(0);
      expect((err as WalCorruptError).offset).toBeLessThan(at);
    }
  });

  it('cuts segments, snapshots, releases old segments and recovers from the snapshot', async () => {
    const a = await Wal.open({ ...opts(dir), segmentBytes: 1024 });
    for (let i = 1; i <= 200; i += 10) await a.wal.save({ entries: range(i, i + 9), hardState: { term: 1n, vote: 7n, commit: BigInt(i + 9) } });
    const segsBefore = a.wal.segmentCount();
    expect(segsBefore).toBeGreaterThan(5);
    const snap: Snapshot = { metadata: { index: 150n, term: 1n, clusterId: 'shoalri-c1', confState: { voters: [7n], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } }, data: Buffer.from('state@150') };
    await a.wal.saveSnapshot(snap);
    const removed = await a.wal.releaseTo(150n);
    expect(removed).toBeGreaterThan(0);
    expect(a.wal.segmentCount()).toBe(segsBefore - removed);
    await a.wal.close();
    const b = await Wal.open({ ...opts(dir), segmentBytes: 1024 });
    expect(b.state.snapshot?.metadata?.index).toBe(150n);
    expect(b.state.snapshot?.data.toString()).toBe('state@150');
    expect(ids(b.state.entries)).toEqual(ids(range(151, 200)));
    expect(b.state.hardState).toEqual({ term: 1n, vote: 7n, commit: 200n });
    await b.wal.close();
  });

  it('drops a divergent log replaced by a snapshot from the leader', async () => {
    const a = await Wal.open(opts(dir));
    await a.wal.save({ entries: range(1, 20, 1n) });
    await a.wal.saveSnapshot({ metadata: { index: 10n, term: 3n, clusterId: 'shoalri-c1', confState: undefined }, data: Buffer.from('s') });
    await a.wal.save({ entries: range(11, 12, 3n) });
    await a.wal.close();
    const b = await Wal.open(opts(dir));
    expect(ids(b.state.entries)).toEqual(ids(range(11, 12, 3n)));
    await b.wal.close();
  });

  it('refuses another cluster: its snapshot and its state directory', async () => {
    const a = await Wal.open(opts(dir));
    const foreign: Snapshot = { metadata: { index: 1n, term: 1n, clusterId: 'other', confState: undefined }, data: Buffer.alloc(0) };
    await expect(a.wal.saveSnapshot(foreign)).rejects.toBeInstanceOf(StorageIdentityError);
    await a.wal.close();
    await expect(Wal.open({ ...opts(dir), clusterId: 'other' })).rejects.toBeInstanceOf(StorageIdentityError);
    await expect(Wal.open({ ...opts(dir), nodeId: 8n })).rejects.toThrow(/member 7/);
  });

  it('refuses every later save once a write has failed (a full filesystem)', async () => {
    // a real ENOSPC: the WAL lives on a 256 KiB tmpfs mounted for this test
    const mnt = `${dir}/full`;
    await mkdir(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'shoalri-full', mnt]);
    try {
      const a = await Wal.open(opts(mnt));
      await a.wal.save({ entries: range(1, 2) });
      const big = Buffer.alloc(64 << 10, 7);
      let err: unknown;
      for (let i = 3n; i < 20n && !err; i++) err = await a.wal.save({ entries: [ent(i, 1n, big.toString())] }).then(() => undefined, (e: unknown) => e);
      expect(String(err)).toMatch(/ENOSPC/);
      await expect(a.wal.save({ entries: [ent(99n)] })).rejects.toThrow(/ENOSPC/);
      await a.wal.close();
    } finally {
      execFileSync('umount', [mnt]);
    }
  });

  it('refuses a state directory held by another live process', async () => {
    await writeFile(`${dir}/lock`, `${process.ppid}\n`); // a live process that is not us
    await expect(Wal.open(opts(dir))).rejects.toThrow(/in use by process/);
    await writeFile(`${dir}/lock`, '2147483646\n'); // a dead one: taken over
    const a = await Wal.open(opts(dir));
    expect((await readFile(`${dir}/lock`, 'utf8')).trim()).toBe(String(process.pid));
    await a.wal.close();
  });

  it('loses no acknowledged write when the writer is SIGKILLed at random moments', async () => {
    const acked = new Map<bigint, true>();
    for (let round = 0; round < 5; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'process/wal-writer.ts'), dir], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      let ready = false;
      const exited = new Promise<void>((r) => child.on('exit', () => r()));
      try {
        await new Promise<void>((resolve, reject) => {
          child.stderr.on('data', (d: Buffer) => (err += d.toString()));
          child.stdout.on('data', (d: Buffer) => {
            out += d.toString();
            if (!ready && out.includes('ready')) {
              ready = true;
              setTimeout(resolve, 50 + Math.floor(Math.random() * 400));
            }
          });
          child.on('exit', () => reject(new Error(`writer exited early: ${err}`)));
        });
      } finally {
        child.kill('SIGKILL');
        await exited;
      }
      const lines = out.split('\n');
      lines.pop(); // an incomplete last line was never fully acknowledged to us
      for (const l of lines) if (l.startsWith('ack ')) acked.set(BigInt(l.slice(4)), true);
      const { wal, state } = await Wal.open({ dir, clusterId: 'shoalri-kill', nodeId: 1n, segmentBytes: 64 << 10 });
      await wal.close();
      const have = new Map(state.entries.map((e) => [e.index, e.data.toString()]));
      for (const i of acked.keys()) expect(have.get(i), `acknowledged index ${i} after round ${round}`).toBe(`value-${i}-`.padEnd(100, 'x'));
      expect(state.entries.every((e, k) => e.index === BigInt(k + 1))).toBe(true);
    }
    expect(acked.size).toBeGreaterThan(50);
  });
});
