// Bounds on a container's memory and CPU limits that every runtime host enforces: the single-host
// runtime checks a container with them, and the control API refuses a service whose tasks every
// node would reject (they would otherwise fail and be retried forever).

/** Docker's floor: below it a container's runtime cannot even start. */
export const MIN_MEMORY_BYTES = 6 * 1024 * 1024;
export const CFS_PERIOD_US = 100_000;
/** The kernel refuses CFS quotas under 1 ms of each 100 ms period: 0.01 CPUs. */
export const MIN_CFS_QUOTA_US = 1_000;
export const MIN_CPUS = MIN_CFS_QUOTA_US / CFS_PERIOD_US;

/** Why a memory limit of `bytes` can never be applied, or undefined. */
export function memoryLimitProblem(bytes: number): string | undefined {
  if (!Number.isSafeInteger(bytes) || bytes < MIN_MEMORY_BYTES) {
    return `${bytes} is out of range: give a whole number of bytes of at least ${MIN_MEMORY_BYTES} (6 MiB)`;
  }
  return undefined;
}

/**
 * Why a CPU limit of `cores` cannot be applied on a host with `hostCpus` CPUs (for the cluster:
 * its largest node), or undefined.
 */
export function cpuLimitProblem(cores: number, hostCpus: number, where = 'this host has'): string | undefined {
  if (!Number.isFinite(cores) || cores * CFS_PERIOD_US < MIN_CFS_QUOTA_US || cores > hostCpus) {
    return `${cores} is out of range: use ${MIN_CPUS}..${hostCpus} (${where} ${hostCpus} CPUs)`;
  }
  return undefined;
}
