// Entry point of the cgroup layer: detect the host's layout once, then create cgroups through
// the matching manager. See README.md for the hybrid-mode choice.
import { pino, type Logger } from 'pino';
import { detectLayout, type CgroupLayout } from './detect.js';
import { readMachineTopology, type MachineTopology } from './limits.js';
import type { CgroupManager } from './types.js';
import { V1Manager } from './v1.js';
import { V2Manager } from './v2.js';

export type { Cgroup, CgroupLimits, CgroupManager, CgroupStats } from './types.js';
export { CgroupBusyError, CgroupLimitError, CgroupNameError, CgroupUnsupportedError } from './errors.js';
export { CgroupFileError } from './fsio.js';
export { validateLimits, sharesToWeight, blkioToIoWeight, readMachineTopology } from './limits.js';
export type { MachineTopology };
export { layoutFrom, detectLayout } from './detect.js';
export type { CgroupLayout };

export interface DetectOptions {
  /** Only cgroup mounts at or below this directory count (default: all mounts). Giving a
   * cgroup2 mount point (e.g. /sys/fs/cgroup/unified) forces the v2 manager onto it. */
  root?: string;
  logger?: Logger;
  /** For tests: alternative /proc/self/mountinfo and /proc/cgroups. */
  mountinfoPath?: string;
  procCgroupsPath?: string;
}

/** The manager for a known layout; `machine` overrides the CPUs and memory nodes limits are checked against. */
export function managerFor(layout: CgroupLayout, logger?: Logger, machine: MachineTopology = readMachineTopology()): CgroupManager {
  const log = (logger ?? pino({ level: process.env.SHOAL_LOG_LEVEL ?? 'info' })).child({ component: 'cgroups' });
  if (layout.version === 'v2') return new V2Manager(layout.unified!, machine, log);
  return new V1Manager(layout, machine, log);
}

export function detectCgroups(opts: DetectOptions = {}): CgroupManager {
  return managerFor(detectLayout(opts), opts.logger);
}
