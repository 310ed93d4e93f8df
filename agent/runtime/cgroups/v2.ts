// cgroup v2: one unified hierarchy. Controllers must be enabled in every ancestor's
// cgroup.subtree_control (top down) before the leaf gets their files.
import { join } from 'node:path';
import type { Logger } from 'pino';
import { keepSupported, writePlan } from './apply.js';
import { CgroupBase, checkName, makePath, rollback } from './cgroup.js';
import { CgroupUnsupportedError } from './errors.js';
import { CgroupFileError, errCode, fileExists, parseKeyed, readControl, readOptional, writeControl } from './fsio.js';
import { planV2, validateLimits, type MachineTopology } from './limits.js';
import type { Cgroup, CgroupLimits, CgroupManager, CgroupStats } from './types.js';

/** Controllers enabled even without limits, so stats() and oomKilled() have their files. */
const ACCOUNTING_CONTROLLERS = ['memory', 'pids'];

export class V2Cgroup extends CgroupBase {
  constructor(
    name: string,
    private readonly dir: string,
    created: string[],
    log: Logger,
  ) {
    super(name, [dir], created, log);
  }

  protected killFile(): string | null {
    const f = join(this.dir, 'cgroup.kill'); // Linux >= 5.14
    return fileExists(f) ? f : null;
  }

  protected async freeze(): Promise<void> {
    await writeControl(join(this.dir, 'cgroup.freeze'), '1');
    const events = join(this.dir, 'cgroup.events');
    await this.waitFrozen(async () => parseKeyed(await readOptional(events)).get('frozen') === 1n);
  }

  protected async thaw(): Promise<void> {
    await writeControl(join(this.dir, 'cgroup.freeze'), '0');
  }

  async stats(): Promise<CgroupStats> {
    const read = (f: string): Promise<string | null> => readOptional(join(this.dir, f));
    const [cpu, current, memStat, max, pidsCurrent, events] = await Promise.all([
      read('cpu.stat'),
      read('memory.current'),
      read('memory.stat'),
      read('memory.max'),
      read('pids.current'),
      read('memory.events'),
    ]);
    const used = current === null ? 0n : BigInt(current);
    const inactive = parseKeyed(memStat).get('inactive_file') ?? 0n;
    return {
      // usage_usec is in cpu.stat even when the cpu controller is not enabled.
      cpuUsageNs: (parseKeyed(cpu).get('usage_usec') ?? 0n) * 1000n,
      memoryBytes: Number(used > inactive ? used - inactive : 0n),
      memoryLimitBytes: max === null || max === 'max' ? null : Number(max),
      pids: pidsCurrent !== null ? Number(pidsCurrent) : (await this.pids()).length,
      oomKills: Number(parseKeyed(events).get('oom_kill') ?? 0n),
    };
  }
}

export class V2Manager implements CgroupManager {
  readonly version = 'v2' as const;
  readonly hybrid = false;

  constructor(
    private readonly mount: string,
    private readonly machine: MachineTopology,
    private readonly log: Logger,
  ) {}

  open(name: string): Cgroup | null {
    const dir = join(this.mount, ...checkName(name));
    return fileExists(dir) ? new V2Cgroup(name, dir, [], this.log) : null;
  }

  async create(name: string, limits: CgroupLimits): Promise<Cgroup> {
    const segments = checkName(name);
    validateLimits(limits, this.machine);
    const available = new Set((await readControl(join(this.mount, 'cgroup.controllers'))).split(/\s+/).filter(Boolean));
    const plan = keepSupported(
      planV2(limits),
      (c) => available.has(c),
      (w) =>
        `the cgroup2 hierarchy at ${this.mount} does not offer the ${w.controller} controller ` +
        `(it has: ${[...available].join(' ') || 'none'}), so ${w.candidates[0]!.file} cannot be set: ` +
        `free the controller from any v1 mount or drop that limit`,
      this.log,
    );
    const enable = new Set([...plan.map((w) => w.controller), ...ACCOUNTING_CONTROLLERS.filter((c) => available.has(c))]);

    const created: string[] = [];
    try {
      const leaf = await makePath(this.mount, segments, created);
      let dir = this.mount;
      for (const seg of segments) {
        await enableControllers(dir, enable);
        dir = join(dir, seg);
      }
      await writePlan(plan, () => leaf, this.log);
      this.log.debug({ cgroup: name, limits }, 'cgroup created');
      return new V2Cgroup(name, leaf, created, this.log);
    } catch (err) {
      await rollback(created, this.log);
      throw err;
    }
  }
}

async function enableControllers(dir: string, want: Set<string>): Promise<void> {
  const have = new Set((await readControl(join(dir, 'cgroup.subtree_control'))).split(/\s+/).filter(Boolean));
  const missing = [...want].filter((c) => !have.has(c));
  if (missing.length === 0) return;
  try {
    await writeControl(join(dir, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '));
  } catch (err) {
    if (err instanceof CgroupFileError && errCode(err) === 'EBUSY') {
      // v2's "no internal processes" rule: a cgroup with members cannot delegate controllers.
      throw new CgroupUnsupportedError(
        `cannot enable ${missing.join(', ')} below ${dir}: it holds processes itself; ` +
          `choose a cgroup name whose parents contain no processes`,
      );
    }
    throw err;
  }
}
