// Keeps a manager's key-encryption key in line with the cluster's autolock setting: the Cluster
// object (replicated) says whether autolock is on and holds the unlock key; each manager re-wraps
// its own data keys when either changes, and forgets rotated-out data keys its files no longer use.
import type { Cluster } from '../../proto/gen/types.js';
import type { MemoryStore, ReadonlyDeep } from '../store/index.js';
import type { ManagerKeys } from './manager-keys.js';

export interface AutolockFollowOptions {
  store: MemoryStore;
  keys: ManagerKeys;
  /** Key ids the Raft files on disk still use (RaftNode.storageKeyIds). */
  storageKeyIds: () => Promise<Set<string>>;
  logger: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
  periodMs?: number; // default 1000
  /** After autolock went on or off here (the node key's encryption follows); retried until it succeeds. */
  onAutolockChange?: () => Promise<void>;
}

/** Runs until `signal` aborts; a failed re-wrap is logged and tried again next period. */
export async function followAutolock(o: AutolockFollowOptions, signal: AbortSignal): Promise<void> {
  const period = o.periodMs ?? 1000;
  let pruned = false;
  let notify = false;
  while (!signal.aborted) {
    try {
      const c = o.store.view((tx) => tx.clusters.all()[0]);
      if (c && (await adopt(o, c))) notify = true;
      if (notify) {
        await o.onAutolockChange?.();
        notify = false;
      }
      if (!pruned) {
        // once per start: the key ring then holds only what the files on disk need
        await o.keys.prune(await o.storageKeyIds());
        pruned = true;
      }
    } catch (err) {
      o.logger.warn({ err: (err as Error).message }, 'could not apply the cluster\'s autolock setting to this manager\'s raft keys; retrying');
    }
    await new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(t);
        signal.removeEventListener('abort', wake);
        resolve();
      };
      const t = setTimeout(wake, period);
      signal.addEventListener('abort', wake, { once: true });
    });
  }
}

/** True when autolock went on or off on this manager (not for a mere unlock-key rotation). */
async function adopt(o: AutolockFollowOptions, c: ReadonlyDeep<Cluster>): Promise<boolean> {
  const on = c.spec?.encryptionConfig?.autoLockManagers === true && c.unlockKey !== '';
  if (on && !o.keys.matchesUnlockKey(c.unlockKey)) {
    const rotatesDek = !o.keys.autolocked;
    await o.keys.setAutolock(c.unlockKey);
    o.logger.info({ dataKeyRotated: rotatesDek }, 'autolock: raft data keys now wrapped with the cluster\'s unlock key; the key-encryption key left the disk');
    return rotatesDek;
  }
  if (!on && o.keys.autolocked) {
    await o.keys.setAutolock(null);
    o.logger.info({}, 'autolock off: raft key-encryption key stored on this manager\'s disk');
    return true;
  }
  return false;
}
