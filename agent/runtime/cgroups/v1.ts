// cgroup v1: one hierarchy per controller (or co-mounted group). In hybrid mode the cgroup2
// mount is joined as well: it carries no controllers here, but gives cgroup.kill, cgroup.freeze
// and a single place to see membership, as on a v2 host.
import { join } from 'node:path';
import type { Logger } from 'pino';
import { CgroupBase, checkName, makePath, rollback } from './cgroup.js';
import type { CgroupLayout, V1Controller } from './detect.js';
import { keepSupported, writePlan } from './apply.js';
import { fileExists, parseKeyed, readControl, readOptional, writeControl } from './fsio.js';
import { planV1, validateLimits, type MachineTopology } from './limits.js';
import type { Cgroup, CgroupLimits, CgroupManager, CgroupStats } from './types.js';

// The kernel reports "no limit" as PAGE_COUNTER_MAX pages in bytes, just under 2^63.
const UNLIMITED_THRESHOLD = 1n << 62n;

export class V1Cgroup extends CgroupBase {
  constructor(
    name: string,
    private readonly dirs: Map<V1Controller, string>,
    private readonly unifiedDir: string | null,
    created: string[],
    log: Logger,
  ) {
    super(name, [...new Set([...dirs.values(), ...(unifiedDir ? [unifiedDir] : [])])], created, log);
  }

  private file(c: V1Controller, f: string): string | null {
    const d = this.dirs.get(c);
    return d === undefined ? null : join(d, f);
  }

  protected killFile(): string | null {
    const f = this.unifiedDir ? join(this.unifiedDir, 'cgroup.kill') : null;
    return f !== null && fileExists(f) ? f : null;
  }

  protected async freeze(): Promise<void> {
    const state = this.file('freezer', 'freezer.state');
    if (state !== null) {
      await writeControl(state, 'FROZEN');
      await this.waitFrozen(async () => (await readControl(state)) === 'FROZEN');
    } else if (this.unifiedDir !== null && fileExists(join(this.unifiedDir, 'cgroup.freeze'))) {
      await writeControl(join(this.unifiedDir, 'cgroup.freeze'), '1');
      const events = join(this.unifiedDir, 'cgroup.events');
      await this.waitFrozen(async () => parseKeyed(await readOptional(events)).get('frozen') === 1n);
    }
  }

  protected async thaw(): Promise<void> {
    const state = this.file('freezer', 'freezer.state');
    if (state !== null) await writeControl(state, 'THAWED');
    else if (this.unifiedDir !== null && fileExists(join(this.unifiedDir, 'cgroup.freeze'))) {
      await writeControl(join(this.unifiedDir, 'cgroup.freeze'), '0');
    }
  }

  private async read(c: V1Controller, f: string): Promise<string | null> {
    const p = this.file(c, f);
    return p === null ? null : readOptional(p);
  }

  async stats(): Promise<CgroupStats> {
    const [usage, unifiedCpu, memUsage, memStat, memLimit, pidsCurrent, oom] = await Promise.all([
      this.read('cpuacct', 'cpuacct.usage'),
      this.unifiedDir ? readOptional(join(this.unifiedDir, 'cpu.stat')) : Promise.resolve(null),
      this.read('memory', 'memory.usage_in_bytes'),
      this.read('memory', 'memory.stat'),
      this.read('memory', 'memory.limit_in_bytes'),
      this.read('pids', 'pids.current'),
      this.read('memory', 'memory.oom_control'),
    ]);
    const cpuUsageNs =
      usage !== null ? BigInt(usage) : (parseKeyed(unifiedCpu).get('usage_usec') ?? 0n) * 1000n;
    const inactive = parseKeyed(memStat).get('total_inactive_file') ?? 0n;
    const used = memUsage === null ? 0n : BigInt(memUsage);
    const limit = memLimit === null ? null : BigInt(memLimit);
    return {
      cpuUsageNs,
      memoryBytes: Number(used > inactive ? used - inactive : 0n),
      memoryLimitBytes: limit === null || limit >= UNLIMITED_THRESHOLD ? null : Number(limit),
      pids: pidsCurrent !== null ? Number(pidsCurrent) : (await this.pids()).length,
      // oom_kill in memory.oom_control exists since Linux 4.13.
      oomKills: Number(parseKeyed(oom).get('oom_kill') ?? 0n),
    };
  }
}

export class V1Manager implements CgroupManager {
  readonly version = 'v1' as const;
  readonly hybrid: boolean;

  constructor(
    private readonly layout: CgroupLayout,
    private readonly machine: MachineTopology,
    private readonly log: Logger,
  ) {
    this.hybrid = layout.unified !== null;
  }

  /** The hierarchy mount points, each once (co-mounted controllers share one). */
  private mounts(): string[] {
    return [...new Set(this.layout.v1.values())];
  }

  private leafDirs(segments: string[]): { dirs: Map<V1Controller, string>; unified: string | null } {
    const dirs = new Map<V1Controller, string>();
    for (const [c, mount] of this.layout.v1) dirs.set(c, join(mount, ...segments));
    const unified = this.layout.unified === null ? null : join(this.layout.unified, ...segments);
    return { dirs, unified };
  }

  open(name: string): Cgroup | null {
    const { dirs, unified } = this.leafDirs(checkName(name));
    if (![...dirs.values()].some(fileExists)) return null;
    return new V1Cgroup(name, dirs, unified !== null && fileExists(unified) ? unified : null, [], this.log);
  }

  async create(name: string, limits: CgroupLimits): Promise<Cgroup> {
    const segments = checkName(name);
    validateLimits(limits, this.machine);
    const plan = keepSupported(
      planV1(limits),
      (c) => this.layout.v1.has(c as V1Controller),
      (w) => `the v1 ${w.controller} controller is not mounted on this host, so ${w.candidates[0]!.file} cannot be set: mount it under /sys/fs/cgroup or drop that limit`,
      this.log,
    );
    const created: string[] = [];
    try {
      for (const mount of this.mounts()) {
        const isCpuset = this.layout.v1.get('cpuset') === mount;
        await makePath(mount, segments, created, isCpuset ? inheritCpuset : undefined);
      }
      if (this.layout.unified !== null) await makePath(this.layout.unified, segments, created);
      const { dirs, unified } = this.leafDirs(segments);
      await writePlan(plan, (c) => dirs.get(c as V1Controller)!, this.log);
      this.log.debug({ cgroup: name, limits }, 'cgroup created');
      return new V1Cgroup(name, dirs, unified, created, this.log);
    } catch (err) {
      await rollback(created, this.log);
      throw err;
    }
  }
}

// v1 cpuset starts a new cgroup with empty cpus/mems, and a task cannot join until both are set.
async function inheritCpuset(dir: string, parent: string): Promise<void> {
  for (const f of ['cpuset.cpus', 'cpuset.mems']) {
    if ((await readControl(join(dir, f))) === '') await writeControl(join(dir, f), await readControl(join(parent, f)));
  }
}

