// The files of one task's secrets and configs on the host, bind-mounted read-only into its
// container one by one. Secrets live in a tmpfs of their own per task (never on disk, gone with
// a reboot); configs in a plain directory under SHOAL_RUN (Swarm keeps them on disk too).
// Everything is made before the container and removed after it, and on every failure path.
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { MountSpec } from '../runtime/index.js';
import { mountFs, mountsUnder, unmountAll } from './host-mounts.js';
import type { PlannedFile } from './plan.js';

export interface TaskFilesOptions {
  /** One tmpfs per task at <secretsDir>/<task id> (SHOAL_RUN/secrets in a real install). */
  secretsDir: string;
  /** One directory per task at <configsDir>/<task id> (SHOAL_RUN/configs). */
  configsDir: string;
  logger?: Logger;
}

/** The tmpfs source name, so findmnt shows whose it is. */
export const SECRETS_TMPFS_SOURCE = 'shoal-secrets';

const PAGE = 4096;

function tmpfsSize(files: PlannedFile[]): number {
  // every file takes at least a page; one more for the directory, and never below 64 KiB
  const bytes = files.reduce((n, f) => n + Math.ceil(Math.max(f.data.length, 1) / PAGE) * PAGE, PAGE);
  return Math.max(bytes, 64 * 1024);
}

function checkTaskId(taskId: string): void {
  if (!/^[A-Za-z0-9_.-]+$/.test(taskId) || taskId === '.' || taskId === '..') throw new Error(`task id ${JSON.stringify(taskId)} cannot name a directory`);
}

function writeOwned(path: string, f: PlannedFile): void {
  writeFileSync(path, f.data, { mode: 0o600, flag: 'wx' });
  chownSync(path, f.uid, f.gid);
  // after chown, which would clear set-id bits
  chmodSync(path, f.mode);
}

export class TaskFiles {
  private readonly o: TaskFilesOptions;

  constructor(o: TaskFilesOptions) {
    this.o = { ...o, secretsDir: resolve(o.secretsDir), configsDir: resolve(o.configsDir) };
  }

  secretsPath(taskId: string): string {
    checkTaskId(taskId);
    return join(this.o.secretsDir, taskId);
  }

  configsPath(taskId: string): string {
    checkTaskId(taskId);
    return join(this.o.configsDir, taskId);
  }

  /** Writes the task's files and returns the read-only bind mounts that put them in place. */
  async materialize(taskId: string, files: PlannedFile[]): Promise<MountSpec[]> {
    if (files.length === 0) return [];
    // a previous attempt (an agent that crashed in prepare) may have left some behind
    await this.release(taskId);
    const mounts: MountSpec[] = [];
    try {
      const secrets = files.filter((f) => f.kind === 'secret');
      if (secrets.length) {
        const dir = this.secretsPath(taskId);
        mkdirSync(this.o.secretsDir, { recursive: true, mode: 0o700 });
        mkdirSync(dir, { mode: 0o700 });
        await mountFs('tmpfs', SECRETS_TMPFS_SOURCE, dir, `size=${tmpfsSize(secrets)},mode=0700,nosuid,nodev,noexec`);
        secrets.forEach((f, i) => mounts.push(this.place(dir, i, f)));
      }
      const configs = files.filter((f) => f.kind === 'config');
      if (configs.length) {
        const dir = this.configsPath(taskId);
        mkdirSync(this.o.configsDir, { recursive: true, mode: 0o700 });
        mkdirSync(dir, { mode: 0o700 });
        configs.forEach((f, i) => mounts.push(this.place(dir, i, f)));
      }
      this.o.logger?.info({ task: taskId, secrets: secrets.length, configs: configs.length }, 'task secrets and configs in place');
      return mounts;
    } catch (err) {
      await this.release(taskId).catch((e: unknown) => this.o.logger?.warn({ task: taskId, err: e }, 'cleaning up task files failed'));
      throw err;
    }
  }

  private place(dir: string, i: number, f: PlannedFile): MountSpec {
    // the index keeps two targets of one secret apart; the id says whose file it is
    const path = join(dir, `${i}-${f.id.replace(/[^A-Za-z0-9_.-]/g, '_')}`);
    writeOwned(path, f);
    return { type: 'bind', source: path, target: f.target, readOnly: true };
  }

  /** Unmounts and removes the task's files; nothing if it has none. */
  async release(taskId: string): Promise<void> {
    const sdir = this.secretsPath(taskId);
    // nothing can be mounted on a directory that does not exist: most tasks have no secrets,
    // and their removal should not read the mount table
    if (existsSync(sdir)) {
      await unmountAll(sdir);
      rmSync(sdir, { recursive: true, force: true });
    }
    rmSync(this.configsPath(taskId), { recursive: true, force: true });
  }

  /** Task ids that have files here now (to sweep what a crashed agent left). */
  taskIds(): string[] {
    const ids = new Set<string>();
    for (const d of [this.o.secretsDir, this.o.configsDir]) {
      if (!existsSync(d)) continue;
      for (const e of readdirSync(d)) ids.add(e);
    }
    for (const mp of mountsUnder(this.o.secretsDir)) ids.add(mp.slice(this.o.secretsDir.length + 1).split('/')[0]!);
    return [...ids].filter((id) => id !== '');
  }
}
