// A manager's Raft keys on disk (manager/keys): the KEK on disk without autolock, off disk with
// it, unlock with the right key only, re-wrapping on autolock changes and key rotation, pruning.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManagerKeys, MalformedUnlockKeyError, newUnlockKey, parseUnlockKey, WrongUnlockKeyError } from '../../../manager/keys/index.js';
import { Wal } from '../../../manager/raft/storage/index.js';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'shoalkeys-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const exists = (f: string): Promise<boolean> => stat(f).then(() => true, () => false);
const mode = async (f: string): Promise<number> => (await stat(f)).mode & 0o777;
const walOpts = (keys: ManagerKeys) => ({ dir, clusterId: 'c', nodeId: 1n, cipher: keys.ring, allowPlaintext: keys.allowPlaintext });

describe('unlock keys', () => {
  it('are SHOALKEY-1- and 32 random bytes; anything else is refused by name', () => {
    const k = newUnlockKey();
    expect(k).toMatch(/^SHOALKEY-1-[A-Za-z0-9_-]{43}$/);
    expect(parseUnlockKey(`  ${k}\n`).length).toBe(32);
    expect(newUnlockKey()).not.toBe(k);
    for (const bad of ['', 'SWMKEY-1-abc', k.slice(0, -1), `${k}x`, k.replace('SHOALKEY-1-', 'SHOALKEY-2-')]) {
      expect(() => parseUnlockKey(bad)).toThrow(MalformedUnlockKeyError);
    }
  });
});

describe('ManagerKeys', () => {
  it('without autolock keeps the KEK on disk (0600) and reopens by itself', async () => {
    const a = await ManagerKeys.create(dir);
    expect(await mode(`${dir}/kek`)).toBe(0o600);
    expect(await mode(`${dir}/keys.json`)).toBe(0o600);
    const { wal } = await Wal.open(walOpts(a));
    await wal.save({ entries: [{ index: 1n, term: 1n, type: 0, data: Buffer.from('secret-value') }] });
    await wal.close();
    const b = await ManagerKeys.open(dir);
    expect(b).not.toBe('locked');
    const r = await Wal.open(walOpts(b as ManagerKeys));
    expect(r.state.entries[0]!.data.toString()).toBe('secret-value');
    await r.wal.close();
  });

  it('with autolock keeps no KEK on disk, stays locked until the right key is given', async () => {
    const key = newUnlockKey();
    const a = await ManagerKeys.create(dir, key);
    expect(await exists(`${dir}/kek`)).toBe(false);
    expect((await readFile(`${dir}/keys.json`, 'utf8')).includes(key)).toBe(false);
    const { wal } = await Wal.open(walOpts(a));
    await wal.save({ entries: [{ index: 1n, term: 1n, type: 0, data: Buffer.from('secret-value') }] });
    await wal.close();
    expect(await ManagerKeys.open(dir)).toBe('locked');
    await expect(ManagerKeys.unlock(dir, newUnlockKey())).rejects.toBeInstanceOf(WrongUnlockKeyError);
    await expect(ManagerKeys.unlock(dir, 'not-a-key')).rejects.toBeInstanceOf(MalformedUnlockKeyError);
    const b = await ManagerKeys.unlock(dir, key);
    expect(b.matchesUnlockKey(key)).toBe(true);
    const r = await Wal.open(walOpts(b));
    expect(r.state.entries[0]!.data.toString()).toBe('secret-value');
    await r.wal.close();
  });

  it('turning autolock on rotates the data key and removes the KEK; rotating the unlock key re-wraps; off puts a KEK back', async () => {
    const a = await ManagerKeys.create(dir);
    const first = a.ring.keyId;
    const { wal } = await Wal.open(walOpts(a));
    await wal.save({ entries: [{ index: 1n, term: 1n, type: 0, data: Buffer.from('before') }] });
    const k1 = newUnlockKey();
    await a.setAutolock(k1);
    expect(a.ring.keyId).not.toBe(first); // the old data key was stored next to its KEK
    expect(await exists(`${dir}/kek`)).toBe(false);
    await wal.save({ entries: [{ index: 2n, term: 1n, type: 0, data: Buffer.from('after') }] });
    expect(new Set(await wal.keyIdsInUse())).toEqual(new Set([first, a.ring.keyId]));
    const k2 = newUnlockKey();
    await a.setAutolock(k2);
    await wal.close();
    expect(await ManagerKeys.open(dir)).toBe('locked');
    await expect(ManagerKeys.unlock(dir, k1)).rejects.toBeInstanceOf(WrongUnlockKeyError);
    const b = await ManagerKeys.unlock(dir, k2);
    const r = await Wal.open(walOpts(b));
    expect(r.state.entries.map((e) => e.data.toString())).toEqual(['before', 'after']);
    // a snapshot under the new key and the release of the old segment: the old key can go
    await r.wal.saveSnapshot({ metadata: { index: 2n, term: 1n, clusterId: 'c', confState: undefined }, data: Buffer.from('s') });
    await b.prune(await r.wal.keyIdsInUse());
    expect(b.ring.dataKeys.length).toBe(2); // the one segment still holds records of both keys
    await r.wal.close();
    await b.setAutolock(null);
    expect(await mode(`${dir}/kek`)).toBe(0o600);
    const c = await ManagerKeys.open(dir);
    expect(c).not.toBe('locked');
    const r2 = await Wal.open(walOpts(c as ManagerKeys));
    expect(r2.state.snapshot?.data.toString()).toBe('s');
    await r2.wal.close();
  });

  it('prunes data keys no file uses any more, never the current one', async () => {
    const a = await ManagerKeys.create(dir);
    const old = a.ring.keyId;
    await a.setAutolock(newUnlockKey());
    expect(a.ring.dataKeys.length).toBe(2);
    await a.prune(new Set([old]));
    expect(a.ring.dataKeys.length).toBe(2);
    await a.prune(new Set());
    expect(a.ring.dataKeys.map((k) => k.id.toString('hex'))).toEqual([a.ring.keyId]);
  });

  it('upgrades a Raft directory written before encryption: its plaintext stays readable until pruned', async () => {
    const p = await Wal.open({ dir, clusterId: 'c', nodeId: 1n });
    await p.wal.save({ entries: [{ index: 1n, term: 1n, type: 0, data: Buffer.from('old plaintext') }] });
    await p.wal.close();
    const k = await ManagerKeys.open(dir);
    if (k === 'locked') throw new Error('a fresh key file cannot be locked');
    expect(k.allowPlaintext).toBe(true);
    const r = await Wal.open(walOpts(k));
    expect(r.state.entries[0]!.data.toString()).toBe('old plaintext');
    await r.wal.save({ entries: [{ index: 2n, term: 1n, type: 0, data: Buffer.from('sealed') }] });
    await k.prune(await r.wal.keyIdsInUse());
    expect(k.allowPlaintext).toBe(true); // the first segment still holds the plaintext record
    await r.wal.close();
    // once nothing plaintext is left (here: a new directory's keys), it is refused again
    await k.prune(new Set([k.ring.keyId]));
    expect(k.allowPlaintext).toBe(false);
    const again = await ManagerKeys.open(dir);
    expect((again as ManagerKeys).allowPlaintext).toBe(false);
    await expect(Wal.open(walOpts(again as ManagerKeys))).rejects.toThrow(/unencrypted record/);
  });

  it('refuses a damaged keys.json naming it, and a kek file that does not open it', async () => {
    await ManagerKeys.create(dir);
    await writeFile(`${dir}/kek`, Buffer.alloc(32, 7));
    await expect(ManagerKeys.open(dir)).rejects.toBeInstanceOf(WrongUnlockKeyError);
    await writeFile(`${dir}/keys.json`, '{"autolock": tru');
    await expect(ManagerKeys.open(dir)).rejects.toThrow(`${dir}/keys.json is damaged`);
  });
});
