// Autolock rpcs over real gRPC (manager/controlapi/autolock.ts): on makes a key that only
// GetUnlockKey hands out, rotate replaces it, off forgets it; workers are refused like every call.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import type { GetClusterResponse, GetUnlockKeyResponse, UpdateAutolockResponse } from '../../../proto/gen/control.js';
import { call, ROLE_HEADER, startControl, type ControlHarness } from './harness.js';
import { refused } from './refused.js';

const open: ControlHarness[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

describe('autolock rpcs', () => {
  it('turn autolock on and off, read and rotate the key; GetCluster never shows it', async () => {
    const h = await startControl({ components: false });
    open.push(h);
    await refused(call(h.client, 'getUnlockKey', {}), status.FAILED_PRECONDITION, /autolock is off.*--autolock=true/);
    await refused(call(h.client, 'rotateUnlockKey', {}), status.FAILED_PRECONDITION, /autolock is off/);
    const on = await call<unknown, UpdateAutolockResponse>(h.client, 'updateAutolock', { autolock: true });
    expect(on.unlockKey).toMatch(/^SHOALKEY-1-[A-Za-z0-9_-]{43}$/);
    expect(on.cluster!.spec!.encryptionConfig!.autoLockManagers).toBe(true);
    expect(on.cluster!.unlockKey).toBe('');
    const got = await call<unknown, GetUnlockKeyResponse>(h.client, 'getUnlockKey', {});
    expect(got.unlockKey).toBe(on.unlockKey);
    const cluster = await call<unknown, GetClusterResponse>(h.client, 'getCluster', {});
    expect(JSON.stringify(cluster, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(on.unlockKey.slice(11));
    // asking again for what is already on keeps the key
    expect((await call<unknown, UpdateAutolockResponse>(h.client, 'updateAutolock', { autolock: true })).unlockKey).toBe(on.unlockKey);
    const rotated = await call<unknown, GetUnlockKeyResponse>(h.client, 'rotateUnlockKey', {});
    expect(rotated.unlockKey).not.toBe(on.unlockKey);
    expect(h.store.view((tx) => tx.clusters.all()[0]!.unlockKey)).toBe(rotated.unlockKey);
    const off = await call<unknown, UpdateAutolockResponse>(h.client, 'updateAutolock', { autolock: false });
    expect(off.unlockKey).toBe('');
    expect(h.store.view((tx) => tx.clusters.all()[0]!.unlockKey)).toBe('');
    await refused(call(h.client, 'getUnlockKey', {}), status.FAILED_PRECONDITION, /autolock is off/);
  });

  it('refuses a worker certificate', async () => {
    const h = await startControl({ components: false });
    open.push(h);
    const md = new Metadata();
    md.set(ROLE_HEADER, 'worker');
    await refused(call(h.client, 'getUnlockKey', {}, md), status.PERMISSION_DENIED, /./);
    await refused(call(h.client, 'updateAutolock', { autolock: true }, md), status.PERMISSION_DENIED, /./);
  });
});
