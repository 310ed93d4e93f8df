// Names the kernel side will check later (capabilities, signals, ulimits, sysctls), checked
// when the file is read so that a typo fails the deploy, not every task on every node.
import { constants } from 'node:os';

const capabilities = new Set([
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP',
  'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER',
  'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE',
  'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP',
  'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF',
  'CHECKPOINT_RESTORE', 'ALL',
]);

/** An error for an unknown capability (with or without the CAP_ prefix, any case). */
export function checkCapability(name: string): string | undefined {
  const bare = name.toUpperCase().replace(/^CAP_/, '');
  return capabilities.has(bare) ? undefined : `unknown capability "${name}": use a Linux capability such as NET_ADMIN or SYS_TIME, or ALL`;
}

export function checkSignal(sig: string): string | undefined {
  if (/^\d+$/.test(sig)) return Number(sig) >= 1 && Number(sig) <= 64 ? undefined : `signal number ${sig} is out of range 1-64`;
  const name = sig.toUpperCase().startsWith('SIG') ? sig.toUpperCase() : `SIG${sig.toUpperCase()}`;
  if (name in constants.signals || /^SIGRTM(IN|AX)([+-]\d+)?$/.test(name)) return undefined;
  return `unknown signal "${sig}": use a name such as SIGTERM, SIGINT or SIGQUIT`;
}

const ulimits = new Set(['core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack', 'as']);

export function checkUlimit(name: string, soft: number, hard: number): string | undefined {
  if (!ulimits.has(name)) return `unknown ulimit "${name}": use one of ${[...ulimits].join(', ')}`;
  if (soft > hard && hard !== -1) return `ulimit ${name}: soft limit ${soft} is above the hard limit ${hard}`;
  // -1 is unlimited: above any finite hard limit (the kernel refuses it at start)
  if (soft === -1 && hard !== -1) return `ulimit ${name}: an unlimited soft limit (-1) is above the hard limit ${hard}`;
  return undefined;
}

/** Only sysctls that belong to the container's own namespaces can be set per container. */
export function checkSysctl(name: string): string | undefined {
  if (/^net\./.test(name) || /^kernel\.(shm|msg|sem)/.test(name) || /^fs\.mqueue\./.test(name)) return undefined;
  return `sysctl ${name} is not namespaced: a container may set net.*, kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.* only`;
}
