// Autolock rpcs (see manager/keys/README.md): turn it on or off, read and rotate the unlock key.
// The key lives in the Cluster object (so every manager can re-wrap its data key with it) and
// leaves the store only through GetUnlockKey and these answers, never through GetCluster.
import type { GetUnlockKeyResponse, UpdateAutolockRequest, UpdateAutolockResponse } from '../../proto/gen/control.js';
import type { Cluster } from '../../proto/gen/types.js';
import { newUnlockKey } from '../keys/index.js';
import type { MemoryStore, ReadonlyDeep, ReadTx } from '../store/index.js';
import { redactCluster } from './cluster.js';
import { failedPrecondition } from './errors.js';

const NO_KEY = 'autolock is off, so this cluster has no unlock key: turn it on with `shoal cluster update --autolock=true`';

function theCluster(tx: ReadTx): ReadonlyDeep<Cluster> {
  const c = tx.clusters.all()[0];
  if (!c) throw failedPrecondition('this manager holds no cluster object yet: run `shoal init` or wait for it to catch up');
  return c;
}

export async function updateAutolock(store: MemoryStore, req: UpdateAutolockRequest): Promise<UpdateAutolockResponse> {
  const out = await store.update((tx) => {
    const c = theCluster(tx);
    const on = c.spec?.encryptionConfig?.autoLockManagers === true;
    if (on === req.autolock) return { id: c.id, key: c.unlockKey };
    const unlockKey = req.autolock ? newUnlockKey() : '';
    tx.clusters.update({ ...c, spec: { ...c.spec!, encryptionConfig: { autoLockManagers: req.autolock } }, unlockKey } as Cluster);
    return { id: c.id, key: unlockKey };
  });
  return { cluster: store.view((tx) => redactCluster(tx.clusters.get(out.id)!)), unlockKey: out.key };
}

export function getUnlockKey(store: MemoryStore): GetUnlockKeyResponse {
  const c = store.view(theCluster);
  if (c.spec?.encryptionConfig?.autoLockManagers !== true || !c.unlockKey) throw failedPrecondition(NO_KEY);
  return { unlockKey: c.unlockKey };
}

export async function rotateUnlockKey(store: MemoryStore): Promise<GetUnlockKeyResponse> {
  const unlockKey = await store.update((tx) => {
    const c = theCluster(tx);
    if (c.spec?.encryptionConfig?.autoLockManagers !== true) throw failedPrecondition(NO_KEY);
    const key = newUnlockKey();
    tx.clusters.update({ ...c, unlockKey: key } as Cluster);
    return key;
  });
  return { unlockKey };
}
