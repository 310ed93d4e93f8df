// The ledger: what this host's data path has made or is about to make, on disk. Every kernel
// object is written here before the batch that creates it runs, so a crash at any point leaves
// a record that adopt() (or the next removal) finds; on success the entry is marked committed.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PeerState } from './driver.js';
import type { AttachmentSpec, NetworkSpec } from './types.js';

export interface LedgerNetwork {
  spec: NetworkSpec;
  /** Links of the network (bridge first), created or about to be. */
  links: string[];
  mtu: number;
  committed: boolean;
}

export interface LedgerAttachment {
  networkId: string;
  spec: AttachmentSpec;
  hostLink: string;
  committed: boolean;
}

export interface LedgerData {
  version: 1;
  networks: Record<string, LedgerNetwork>;
  /** Keyed by `${networkId}/${taskId}`. */
  attachments: Record<string, LedgerAttachment>;
  /** Per network, per host id: the peer as programmed (or being programmed: the union). */
  peers: Record<string, Record<string, PeerState>>;
}

export function attachmentKey(networkId: string, taskId: string): string {
  return `${networkId}/${taskId}`;
}

export class Ledger {
  readonly file: string;
  data: LedgerData = { version: 1, networks: {}, attachments: {}, peers: {} };

  constructor(readonly dir: string) {
    this.file = join(dir, 'overlay-net.json');
  }

  async load(): Promise<void> {
    try {
      this.data = JSON.parse(await readFile(this.file, 'utf8')) as LedgerData;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  /** Writes the whole ledger atomically (temp file + rename). */
  async save(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const tmp = `${this.file}.tmp`;
    await writeFile(tmp, JSON.stringify(this.data));
    await rename(tmp, this.file);
  }
}
