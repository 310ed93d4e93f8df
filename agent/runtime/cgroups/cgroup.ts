// Behaviour shared by v1 and v2 cgroups: membership, killing, removal. The version-specific
// classes supply freezing, the kill file and statistics.
import { join } from 'node:path';
import type { Logger } from 'pino';
import { CgroupBusyError, CgroupNameError } from './errors.js';
import { errCode, makeDir, parsePidList, readOptional, removeDir, sleep, writeControl } from './fsio.js';
import type { Cgroup, CgroupStats } from './types.js';

const NAME_RE = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;

/** Accepts "shoal/<id>"-style names; refuses anything that could leave the hierarchy. */
export function checkName(name: string): string[] {
  const segments = name.split('/');
  if (!NAME_RE.test(name) || segments.some((s) => s === '.' || s === '..')) throw new CgroupNameError(name);
  return segments;
}

export const DEFAULT_KILL_TIMEOUT_MS = 10_000;
const REMOVE_RETRY_MS = 3_000;
const FREEZE_WAIT_MS = 1_000;

export abstract class CgroupBase implements Cgroup {
  constructor(
    readonly name: string,
    readonly paths: string[],
    /** Directories create() made, parents first; remove() undoes them in reverse. */
    private readonly created: string[],
    protected readonly log: Logger,
  ) {}

  procsFiles(): string[] {
    return this.paths.map((p) => join(p, 'cgroup.procs'));
  }

  async addProcess(pid: number): Promise<void> {
    for (const f of this.procsFiles()) await writeControl(f, String(pid));
  }

  /** The union over every hierarchy, so a process that joined only some is still found. */
  async pids(): Promise<number[]> {
    const all = new Set<number>();
    for (const f of this.procsFiles()) for (const pid of parsePidList(await readOptional(f))) all.add(pid);
    return [...all].sort((a, b) => a - b);
  }

  /** Freezes the cgroup; resolves once frozen or after a bounded wait (a task in D state may stall it). */
  protected abstract freeze(): Promise<void>;
  protected abstract thaw(): Promise<void>;
  /** The cgroup2 `cgroup.kill` file if this kernel has one. */
  protected abstract killFile(): string | null;
  abstract stats(): Promise<CgroupStats>;

  async oomKilled(): Promise<boolean> {
    return (await this.stats()).oomKills > 0;
  }

  async killAll(signal: NodeJS.Signals = 'SIGKILL', timeoutMs = DEFAULT_KILL_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    // A catchable signal reaches each process once: some programs treat a second SIGTERM or
    // SIGINT as "quit now, skip the cleanup". SIGKILL is simply repeated.
    const signalled = new Set<number>();
    for (;;) {
      const left = await this.pids();
      if (left.length === 0) return;
      if (Date.now() >= deadline) {
        throw new CgroupBusyError(`cgroup ${this.name} still has processes ${left.join(',')} ${timeoutMs} ms after ${signal}`);
      }
      await this.signalAll(signal, signal === 'SIGKILL' ? null : signalled);
      await this.waitEmpty(Math.min(500, Math.max(0, deadline - Date.now())));
    }
  }

  private async signalAll(signal: NodeJS.Signals, skip: Set<number> | null): Promise<void> {
    const kill = signal === 'SIGKILL' ? this.killFile() : null;
    if (kill !== null) {
      // cgroup.kill reaches every member atomically, even one that is forking right now.
      await writeControl(kill, '1');
      if (await this.waitEmpty(100)) return;
    }
    // Nothing new to signal: do not pause a graceful shutdown with another freeze.
    if (skip !== null && (await this.pids()).every((pid) => skip.has(pid))) return;
    // Frozen tasks cannot fork, so the pid list read while frozen is complete.
    await this.freeze();
    try {
      for (const pid of await this.pids()) {
        if (skip?.has(pid)) continue;
        skip?.add(pid);
        try {
          process.kill(pid, signal);
        } catch (err) {
          if (errCode(err) !== 'ESRCH') throw err;
        }
      }
    } finally {
      await this.thaw();
    }
  }

  /** Polls until no process is left; true if empty within `ms`. */
  protected async waitEmpty(ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    for (let delay = 2; ; delay = Math.min(delay * 2, 25)) {
      if ((await this.pids()).length === 0) return true;
      if (Date.now() >= until) return false;
      await sleep(delay);
    }
  }

  /** Polls `check` until true or FREEZE_WAIT_MS passed; freezing is best effort before a kill. */
  protected async waitFrozen(check: () => Promise<boolean>): Promise<void> {
    const until = Date.now() + FREEZE_WAIT_MS;
    for (let delay = 1; ; delay = Math.min(delay * 2, 20)) {
      if (await check()) return;
      if (Date.now() >= until) {
        this.log.warn({ cgroup: this.name }, 'cgroup did not finish freezing; signalling anyway');
        return;
      }
      await sleep(delay);
    }
  }

  async remove(): Promise<void> {
    // The leaves: retry while the kernel finishes releasing tasks that just exited.
    for (const dir of this.paths) {
      const until = Date.now() + REMOVE_RETRY_MS;
      for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
        const r = await removeDir(dir);
        if (r !== 'busy') break;
        if (Date.now() >= until) {
          const left = parsePidList(await readOptional(join(dir, 'cgroup.procs')));
          throw new CgroupBusyError(
            `cannot remove cgroup ${dir}: ${left.length > 0 ? `processes ${left.join(',')} are still in it; call killAll() first` : 'the kernel keeps it busy'}`,
          );
        }
        await sleep(delay);
      }
    }
    // Parents this cgroup made: a busy one is shared with another container and stays.
    const leaves = new Set(this.paths);
    for (const dir of [...this.created].reverse()) {
      if (!leaves.has(dir)) await removeDir(dir);
    }
  }
}

/** Creates each segment under `mount`, recording the ones it made into `created`. */
export async function makePath(
  mount: string,
  segments: string[],
  created: string[],
  onDir?: (dir: string, parent: string) => Promise<void>,
): Promise<string> {
  // A concurrent remove() of another container may delete a shared parent between our mkdirs
  // (ENOENT) or while we read its files (ENODEV); walking the path again recreates it.
  for (let attempt = 0; ; attempt++) {
    try {
      let dir = mount;
      for (const seg of segments) {
        const parent = dir;
        dir = join(dir, seg);
        if (await makeDir(dir)) created.push(dir);
        if (onDir) await onDir(dir, parent);
      }
      return dir;
    } catch (err) {
      const code = errCode(err);
      if (attempt >= 10 || (code !== 'ENOENT' && code !== 'ENODEV')) throw err;
    }
  }
}

/** Undoes a half-made create(): directories in reverse, ignoring those already gone. */
export async function rollback(created: string[], log: Logger): Promise<void> {
  for (const dir of [...created].reverse()) {
    try {
      await removeDir(dir);
    } catch (err) {
      log.error({ dir, err: (err as Error).message }, 'could not remove cgroup during rollback');
    }
  }
}
