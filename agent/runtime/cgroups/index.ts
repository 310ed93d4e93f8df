// Entry point of the cgroup layer: detect the host's layout once, then create cgroups through
// the matching manager. See README.md for the hybrid-mode choice.
import { pino, type Logger } from 'pino';
import { detectLayout, type CgroupLayout } from './detect.js';
import { readMachineTopology } from './limits.js';
import type { CgroupManager } from './types.js';
import { V1Manager } from './v1.js';
import { V2Manager } from './v2.js';

export type { Cgroup, CgroupLimits, CgroupManager, CgroupStats } from './types.js';
export { CgroupBusyError, CgroupLimitError, CgroupNameError, CgroupUnsupportedError } from './errors.js';
export { CgroupFileError } from './fsio.js';
export { validateLimits, sharesToWeight, blkioToIoWeight, readMachineTopology, type MachineTopology } from './limits.js';
export { layoutFrom, type CgroupLayout } from './detect.js';

export interface DetectOptions {
  /** Only cgroup mounts at or below this directory count (default: all mounts). Giving a
   * cgroup2 mount point (e.g. /sys/fs/cgroup/unified) forces the v2 manager onto it. */
  root?: string;
  logger?: Logger;
  /** For tests: alternative /proc/self/mountinfo and /proc/cgroups. */
  mountinfoPath?: string;
  procCgroupsPath?: string;
}

export function managerFor(layout: CgroupLayout, logger?: Logger): CgroupManager {
  const log = (logger ?? pino({ level: process.env.SHOAL_LOG_LEVEL ?? 'info' })).child({ component: 'cgroups' });
  const machine = readMachineTopology();
  if (layout.version === 'v2') return new V2Manager(layout.unified!, machine, log);
  return new V1Manager(layout, machine, log);
}

export function detectCgroups(opts: DetectOptions = {}): CgroupManager {
  const layout = detectLayout(opts);
  const mgr = managerFor(layout, opts.logger);
  return mgr;
}
