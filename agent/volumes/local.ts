// The local volume driver: a named volume is the directory <root>/<name>/_data (root is
// SHOAL_ROOT/volumes in a real install), made on first use and kept across tasks, with its
// labels recorded beside it in volume.json. A new volume may start as a copy of the image's
// files at the mount target (copy-up); `_data` appears only once it is complete (staged, then
// renamed), so a crash mid-copy leaves no half-filled volume behind.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { ContainerInfo } from '../runtime/index.js';
import { unmountAll } from '../secrets/host-mounts.js';
import { copyImagePath } from './copy-up.js';
import { VolumeInUseError, VolumeNameError, VolumeNotFoundError } from './errors.js';
import { hasCode, settled } from '../../proto/undo.js';

export interface VolumeInfo {
  name: string;
  driver: 'local';
  /** The host directory containers bind-mount. */
  mountpoint: string;
  labels: Record<string, string>;
  createdAt: string;
}

export interface EnsureVolumeOptions {
  labels?: Record<string, string>;
  /** Copy the image's files at `path` into a volume made now (unless the image has none there). */
  copyFrom?: { layers: string[]; path: string };
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;
const META = 'volume.json';
const DATA = '_data';

export function validateVolumeName(name: string): void {
  if (!NAME_RE.test(name)) throw new VolumeNameError(name);
}

export class LocalVolumes {
  readonly root: string;
  private readonly log: Logger | undefined;
  /** One ensure/remove per volume at a time in this process (two tasks may share a new volume). */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(o: { root: string; logger?: Logger }) {
    this.root = resolve(o.root);
    this.log = o.logger;
  }

  /** The host directory of a volume (whether it exists or not). */
  dataPath(name: string): string {
    validateVolumeName(name);
    return join(this.root, name, DATA);
  }

  /** Makes the volume if it does not exist yet; `created` says whether this call made it. */
  ensure(name: string, opts: EnsureVolumeOptions = {}): Promise<{ path: string; created: boolean; copied: boolean }> {
    validateVolumeName(name);
    return this.locked(name, async () => {
      const dir = join(this.root, name);
      const data = join(dir, DATA);
      if (existsSync(data)) return { path: data, created: false, copied: false };
      mkdirSync(this.root, { recursive: true, mode: 0o700 });
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      if (!existsSync(join(dir, META))) {
        const meta = { name, driver: 'local', labels: opts.labels ?? {}, createdAt: new Date().toISOString() };
        writeFileSync(join(dir, `${META}.tmp`), JSON.stringify(meta));
        renameSync(join(dir, `${META}.tmp`), join(dir, META));
      }
      // staging dirs of an attempt that crashed (its copy-up overlay may still be mounted)
      for (const e of readdirSync(dir)) {
        if (!e.startsWith(`${DATA}.new-`) && !e.startsWith('.copyup-')) continue;
        await unmountAll(join(dir, e));
        rmSync(join(dir, e), { recursive: true, force: true });
      }
      const staging = join(dir, `${DATA}.new-${randomBytes(4).toString('hex')}`);
      try {
        const copied = opts.copyFrom ? await copyImagePath(opts.copyFrom.layers, opts.copyFrom.path, staging, dir) : false;
        if (!copied) mkdirSync(staging, { mode: 0o755 });
        renameSync(staging, data);
        this.log?.info({ volume: name, copied }, 'volume created');
        return { path: data, created: true, copied };
      } catch (err) {
        rmSync(staging, { recursive: true, force: true });
        throw err;
      }
    });
  }

  inspect(name: string): VolumeInfo | undefined {
    validateVolumeName(name);
    const dir = join(this.root, name);
    if (!existsSync(join(dir, DATA))) return undefined;
    let meta: { labels?: Record<string, string>; createdAt?: string } = {};
    try {
      meta = JSON.parse(readFileSync(join(dir, META), 'utf8')) as typeof meta;
    } catch (err) {
      if (!hasCode(err, ['ENOENT', 'SyntaxError'])) throw err;
      // labels are informative: a lost volume.json keeps the data usable
    }
    return { name, driver: 'local', mountpoint: join(dir, DATA), labels: meta.labels ?? {}, createdAt: meta.createdAt ?? '' };
  }

  /** Volume names, without reading their metadata. */
  names(): string[] {
    if (!existsSync(this.root)) return [];
    return readdirSync(this.root)
      .filter((e) => NAME_RE.test(e))
      .sort();
  }

  list(): VolumeInfo[] {
    return this.names().flatMap((e) => this.inspect(e) ?? []);
  }

  /** Names of the containers (in any state) that mount the volume. */
  users(name: string, containers: ContainerInfo[]): string[] {
    const path = this.dataPath(name);
    return containers.filter((c) => (c.spec.mounts ?? []).some((m) => m.type === 'bind' && resolve(m.source) === path)).map((c) => c.name);
  }

  /** Removes a volume and its data; refused while any of `containers` mounts it. */
  remove(name: string, containers: ContainerInfo[]): Promise<void> {
    validateVolumeName(name);
    return this.locked(name, async () => {
      if (!existsSync(join(this.root, name))) throw new VolumeNotFoundError(name);
      const users = this.users(name, containers);
      if (users.length) throw new VolumeInUseError(name, users);
      rmSync(join(this.root, name), { recursive: true, force: true });
      this.log?.info({ volume: name }, 'volume removed');
    });
  }

  private locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(name) ?? Promise.resolve();
    const p = prev.then(fn, fn);
    const tail = settled(p); // the caller gets p's error; the next holder only waits for it
    this.locks.set(name, tail);
    void tail.then(() => {
      if (this.locks.get(name) === tail) this.locks.delete(name);
    });
    return p;
  }
}
