// A manager's Raft keys as the daemon handles them (manager/keys): opened before Raft starts (or
// the node stays locked until `shoal unlock`), made with the Raft directory on init, join and
// promotion, and kept in line with the cluster's autolock setting while the manager runs.
import type { Logger } from 'pino';
import { followAutolock, ManagerKeys } from '../manager/keys/index.js';
import type { Manager } from '../manager/node/index.js';

export class RaftKeys {
  private keys: ManagerKeys | undefined;
  private follow: AbortController | undefined;

  constructor(private readonly dir: string, private readonly log: Logger) {}

  /** The keys of the Raft directory on disk (made if it has none), or 'locked' under autolock. */
  async open(): Promise<ManagerKeys | 'locked'> {
    const k = await ManagerKeys.open(this.dir);
    if (k !== 'locked') this.keys = k;
    return k;
  }

  /** New keys for a new Raft directory (init), autolocked with `unlockKey` if given. */
  async create(unlockKey?: string): Promise<ManagerKeys> {
    this.keys = await ManagerKeys.create(this.dir, unlockKey);
    return this.keys;
  }

  /** Opens a locked directory; a wrong key throws WrongUnlockKeyError and changes nothing. */
  async unlock(unlockKey: string): Promise<void> {
    this.keys = await ManagerKeys.unlock(this.dir, unlockKey);
  }

  /** What Manager.start seals the WAL with (opening or making the keys if not done yet). */
  async cipher(): Promise<{ cipher: ManagerKeys['ring']; allowPlaintext: boolean }> {
    let k = this.keys;
    if (!k) {
      const opened = await this.open();
      if (opened === 'locked') throw new Error(`raft keys in ${this.dir} are locked`);
      k = opened;
    }
    return { cipher: k.ring, allowPlaintext: k.allowPlaintext };
  }

  /** The passphrase of node.key while autolock is on (undefined: stored plaintext). */
  nodeKeyPassphrase(): Buffer | undefined {
    return this.keys?.nodeKeyPassphrase();
  }

  /** Follows the cluster's autolock setting on this manager until stop(); `onAutolockChange`
   *  re-saves the node key to match. */
  start(m: Manager, onAutolockChange?: () => Promise<void>): void {
    const keys = this.keys;
    if (!keys) return;
    this.follow?.abort();
    const ac = new AbortController();
    this.follow = ac;
    void followAutolock({ store: m.store, keys, storageKeyIds: () => m.raftStore.raft.storageKeyIds(), logger: this.log, onAutolockChange }, ac.signal);
  }

  /** Stops following and forgets the keys (the Raft directory is being stopped or removed). */
  stop(): void {
    this.follow?.abort();
    this.follow = undefined;
    this.keys = undefined;
  }
}
