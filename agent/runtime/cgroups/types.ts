// The cgroup contract the container runtime codes against. Both kernel layouts (v1 with one
// hierarchy per controller, v2 unified) sit behind these interfaces.

/** Resource limits for one container. Every field is optional: absent means "kernel default". */
export interface CgroupLimits {
  /** Hard memory limit in bytes (at least 6 MiB, as Docker requires). */
  memoryBytes?: number;
  /** Memory plus swap total in bytes; -1 = unlimited swap. Needs memoryBytes. */
  memorySwapBytes?: number;
  /** Relative CPU weight in v1 units (2..262144, default 1024); converted for v2. */
  cpuShares?: number;
  /** CPU time limit in cores (e.g. 0.5 = half a core), enforced with CFS quota per 100 ms. */
  cpuQuotaCores?: number;
  /** CPUs the container may run on, kernel list syntax ("0-1,3"). */
  cpusetCpus?: string;
  /** Memory nodes the container may allocate from, kernel list syntax. */
  cpusetMems?: string;
  /** Maximum number of tasks (processes and threads); -1 = unlimited. */
  pidsMax?: number;
  /** Relative block-IO weight in Docker units (10..1000); skipped with a warning if absent. */
  blkioWeight?: number;
}

export interface CgroupStats {
  /** Total CPU time consumed by the cgroup, in nanoseconds. */
  cpuUsageNs: bigint;
  /** Memory in use, excluding inactive page cache (what `docker stats` shows). */
  memoryBytes: number;
  /** Effective hard limit, or null when unlimited. */
  memoryLimitBytes: number | null;
  /** Tasks currently in the cgroup. */
  pids: number;
  /** How many times the kernel's OOM killer killed a process of this cgroup. */
  oomKills: number;
}

export interface Cgroup {
  /** Name relative to every hierarchy's root, e.g. "shoal/<id>". */
  readonly name: string;
  /** Absolute directories of this cgroup, one per mounted hierarchy it lives in. */
  readonly paths: string[];
  /** Files to write a pid to (each of them) to move that process into this cgroup. */
  procsFiles(): string[];
  addProcess(pid: number): Promise<void>;
  /** Processes (thread-group leaders) now in the cgroup. */
  pids(): Promise<number[]>;
  /** Signal every process (default SIGKILL) while frozen, then wait until the cgroup is empty;
   * throws CgroupBusyError if processes remain after `timeoutMs` (default 10 s). */
  killAll(signal?: NodeJS.Signals, timeoutMs?: number): Promise<void>;
  stats(): Promise<CgroupStats>;
  oomKilled(): Promise<boolean>;
  /** Remove the cgroup and the parents create() made that nobody else uses; idempotent. */
  remove(): Promise<void>;
}

export interface CgroupManager {
  readonly version: 'v1' | 'v2';
  /** True when v1 controllers are paired with a cgroup2 mount used for membership and kill. */
  readonly hybrid: boolean;
  /** Creates (or reuses) the cgroup `name` (like "shoal/<id>") and applies `limits`. */
  create(name: string, limits: CgroupLimits): Promise<Cgroup>;
  /** The existing cgroup `name`, or null when it does not exist. */
  open(name: string): Cgroup | null;
}
