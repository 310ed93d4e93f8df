// followAutolock (manager/keys/follow.ts) on a store without Raft: a manager's keys follow the
// cluster object's autolock setting and unlock key, and the node-key hook runs on each switch.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { followAutolock, ManagerKeys, newUnlockKey } from '../../../manager/keys/index.js';
import { MemoryStore } from '../../../manager/store/index.js';
import { Cluster } from '../../../proto/gen/types.js';

let dir = '';
let ac: AbortController;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'shoalfollow-'));
  ac = new AbortController();
});
afterEach(async () => {
  ac.abort();
  await rm(dir, { recursive: true, force: true });
});

const exists = (f: string): Promise<boolean> => stat(f).then(() => true, () => false);
const quiet = { info: () => undefined, warn: () => undefined };

async function until(fn: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function setAutolock(store: MemoryStore, unlockKey: string): Promise<unknown> {
  return store.update((tx) => {
    const c = tx.clusters.all()[0];
    const next = Cluster.fromPartial({ id: 'c1', spec: { annotations: { name: 'default' }, encryptionConfig: { autoLockManagers: unlockKey !== '' } }, unlockKey });
    if (c) tx.clusters.update({ ...c, spec: next.spec, unlockKey } as Cluster);
    else tx.clusters.create(next);
  });
}

describe('followAutolock', () => {
  it('re-wraps on autolock on, rotation and off, calling the hook on each switch', async () => {
    const store = new MemoryStore();
    const keys = await ManagerKeys.create(dir);
    let switches = 0;
    void followAutolock({ store, keys, storageKeyIds: async () => new Set([keys.ring.keyId]), logger: quiet, periodMs: 10, onAutolockChange: async () => void switches++ }, ac.signal);
    const k1 = newUnlockKey();
    await setAutolock(store, k1);
    await until(() => keys.matchesUnlockKey(k1), 'autolock on');
    await until(() => switches === 1, 'the hook after autolock on');
    expect(await exists(`${dir}/kek`)).toBe(false);
    const k2 = newUnlockKey();
    await setAutolock(store, k2);
    await until(() => keys.matchesUnlockKey(k2), 'the rotated key');
    expect(switches).toBe(1); // a rotation does not change the node key's encryption
    await expect(ManagerKeys.unlock(dir, k1)).rejects.toThrow(/unlock key is wrong/);
    await setAutolock(store, '');
    await until(() => !keys.autolocked, 'autolock off');
    await until(() => switches === 2, 'the hook after autolock off');
    expect(await exists(`${dir}/kek`)).toBe(true);
    expect(await ManagerKeys.open(dir)).not.toBe('locked');
  });

  it('retries a failing hook until it succeeds', async () => {
    const store = new MemoryStore();
    const keys = await ManagerKeys.create(dir);
    let calls = 0;
    void followAutolock({ store, keys, storageKeyIds: async () => new Set(), logger: quiet, periodMs: 10, onAutolockChange: async () => {
      calls++;
      if (calls < 3) throw new Error('disk full');
    } }, ac.signal);
    await setAutolock(store, newUnlockKey());
    await until(() => calls === 3, 'three attempts');
    await new Promise((r) => setTimeout(r, 100));
    expect(calls).toBe(3);
  });
});
