// Kernel names a service may use (capabilities, ulimits, sysctls): the single-host runtime, the
// stack loader, the CLI's flags and the control API check them with these words, so that a typo
// fails the command, not every task on every node.

/** Linux capabilities by number (linux/capability.h), without the CAP_ prefix. */
export const CAPABILITIES: readonly string[] = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID',
  'SETPCAP', 'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW',
  'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT',
  'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD',
  'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG',
  'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF', 'CHECKPOINT_RESTORE',
];

/** setrlimit resources by their Docker names. */
export const ULIMIT_NAMES: readonly string[] = [
  'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc',
  'rss', 'rtprio', 'rttime', 'sigpending', 'stack', 'as',
];

/** A capability with or without CAP_, any case, or ALL. */
export function capabilityProblem(name: string): string | undefined {
  const bare = name.toUpperCase().replace(/^CAP_/, '');
  if (bare === 'ALL' || CAPABILITIES.includes(bare)) return undefined;
  return `unknown capability ${JSON.stringify(name)}: use a Linux capability such as NET_ADMIN or SYS_TIME, or ALL`;
}

/** Only what lives in the container's own namespaces can be set per container (as Docker). */
export function sysctlProblem(name: string, value: string, hostNetwork: boolean): string | undefined {
  if (!/^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+$/.test(name)) return `sysctl ${JSON.stringify(name)}: write it with dots, like net.ipv4.ip_forward`;
  if (/[\0\n]/.test(value)) return `sysctl ${name}: the value must be one line`;
  if (name.startsWith('net.')) {
    return hostNetwork ? `sysctl ${name} cannot be set with the host's network: it would change the host; remove it or give the task its own network` : undefined;
  }
  if (/^kernel\.(shm|msg)/.test(name) || name === 'kernel.sem' || name.startsWith('fs.mqueue.')) return undefined;
  return `sysctl ${name} is not namespaced: a container may set net.*, kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.* only`;
}

/** soft and hard: whole numbers, -1 for unlimited. */
export function ulimitProblem(name: string, soft: number, hard: number): string | undefined {
  if (!ULIMIT_NAMES.includes(name)) return `unknown ulimit ${JSON.stringify(name)}: use one of ${ULIMIT_NAMES.join(', ')}`;
  for (const v of [soft, hard]) {
    if (!Number.isSafeInteger(v) || v < -1) return `ulimit ${name}: ${v} is not a limit (a whole number, or -1 for unlimited)`;
  }
  if (hard === -1) return undefined;
  // -1 is unlimited: above any finite hard limit (the kernel refuses it at start)
  if (soft === -1) return `ulimit ${name}: an unlimited soft limit (-1) is above the hard limit ${hard}`;
  if (soft > hard) return `ulimit ${name}: soft limit ${soft} is above the hard limit ${hard}`;
  return undefined;
}
