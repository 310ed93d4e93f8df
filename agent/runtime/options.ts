// Capabilities, sysctls, ulimits and init: the checks a spec's options must pass before anything
// is created (each returns the problem as one line, or undefined), and their entries in the
// shim's config (native/shim/config.h: capadd, capdrop, sysctl, rlimit, init).
import { readFileSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import type { ContainerSpec, NetworkMode, Ulimit } from './types.js';

/** Linux capabilities by number (linux/capability.h), without the CAP_ prefix. */
export const CAPABILITIES: readonly string[] = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID',
  'SETPCAP', 'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW',
  'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT',
  'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD',
  'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG',
  'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF', 'CHECKPOINT_RESTORE',
];

export const ULIMIT_NAMES: readonly string[] = [
  'as', 'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc',
  'rss', 'rtprio', 'rttime', 'sigpending', 'stack',
];

let bounding: bigint | null | undefined;
/** This process's bounding set: what a shim it spawns as root may hand out (null: unknown). */
function boundingSet(): bigint | null {
  if (bounding === undefined) {
    try {
      const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
      bounding = m ? BigInt(`0x${m[1]}`) : null;
    } catch {
      bounding = null;
    }
  }
  return bounding;
}

/**
 * `key` names the field in messages ("cap_add" for a task, "capAdd" for a runtime spec); an
 * added capability must also be one this host lets shoal hold (the shim checks again).
 */
export function checkCapability(name: string, key: string, adding = false): string | undefined {
  const bare = name.toUpperCase().replace(/^CAP_/, '');
  if (bare === 'ALL') return undefined;
  const n = CAPABILITIES.indexOf(bare);
  if (n < 0) return `${key}: unknown capability ${JSON.stringify(name)}: use a Linux capability such as NET_ADMIN or SYS_TIME, or ALL`;
  const held = boundingSet();
  if (adding && held !== null && !(held & (1n << BigInt(n)))) {
    return `${key}: capability ${bare} is not available to shoal on this host (not in its bounding set), so no container can have it: remove it`;
  }
  return undefined;
}

/** Only what lives in the container's own namespaces can be set per container (as Docker). */
export function checkSysctl(name: string, value: string, network: NetworkMode): string | undefined {
  if (!/^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+$/.test(name)) {
    return `sysctl ${JSON.stringify(name)}: write it with dots, like net.ipv4.ip_forward`;
  }
  if (/[\0\n]/.test(value)) return `sysctl ${name}: the value must be one line`;
  if (name.startsWith('net.')) {
    if (network === 'host') return `sysctl ${name} cannot be set with the host's network: it would change the host; remove it or give the task its own network`;
    return undefined;
  }
  if (/^kernel\.(shm|msg)/.test(name) || name === 'kernel.sem' || name.startsWith('fs.mqueue.')) return undefined;
  return `sysctl ${name} is not namespaced: a container may set net.*, kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.* only`;
}

export function checkUlimit(u: Ulimit): string | undefined {
  if (!ULIMIT_NAMES.includes(u.name)) return `ulimit ${JSON.stringify(u.name)} is unknown: use one of ${ULIMIT_NAMES.join(', ')}`;
  for (const v of [u.soft, u.hard]) {
    if (!Number.isSafeInteger(v) || v < -1) return `ulimit ${u.name}: ${v} is not a limit (a whole number, or -1 for unlimited)`;
  }
  if (u.hard !== -1 && (u.soft === -1 || u.soft > u.hard)) return `ulimit ${u.name}: soft limit ${u.soft} is above the hard limit ${u.hard}`;
  return undefined;
}

/** Every problem with the spec's options, first one first. */
export function optionProblems(spec: ContainerSpec): string[] {
  const out: string[] = [];
  for (const c of spec.capAdd ?? []) out.push(checkCapability(c, 'capAdd', true) ?? '');
  for (const c of spec.capDrop ?? []) out.push(checkCapability(c, 'capDrop') ?? '');
  for (const [k, v] of Object.entries(spec.sysctls ?? {})) out.push(checkSysctl(k, v, spec.network ?? 'none') ?? '');
  const seen = new Set<string>();
  for (const u of spec.ulimits ?? []) {
    out.push(checkUlimit(u) ?? (seen.has(u.name) ? `ulimit ${u.name} is given twice: keep one` : ''));
    seen.add(u.name);
  }
  return out.filter((p) => p !== '');
}

/** The config entries of these options; `exec` (a process joining a running container) gets
 * the same capabilities and limits, but neither sysctls (already set) nor an init of its own. */
export function encodeOptions(spec: ContainerSpec, mode: 'run' | 'exec'): Buffer {
  const e: string[][] = [];
  for (const c of spec.capAdd ?? []) e.push(['capadd', c]);
  for (const c of spec.capDrop ?? []) e.push(['capdrop', c]);
  for (const u of spec.ulimits ?? []) e.push(['rlimit', u.name, String(u.soft), String(u.hard)]);
  if (mode === 'run') {
    for (const [k, v] of Object.entries(spec.sysctls ?? {})) e.push(['sysctl', k, v]);
    if (spec.init) e.push(['init']);
  }
  return Buffer.from(e.map((x) => x.join('\0') + '\0').join(''));
}

/** Adds the options to an exec config file (written by shim.ts's writeExecConfig). */
export async function appendExecOptions(configPath: string, spec: ContainerSpec): Promise<void> {
  const extra = encodeOptions(spec, 'exec');
  if (extra.length) await appendFile(configPath, extra);
}
