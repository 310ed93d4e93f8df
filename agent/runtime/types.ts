// The runtime's public data types: what a caller asks for (ContainerSpec, ExecSpec) and what it
// gets back (ContainerInfo, ExitStatus, LogEntry).
import type { CgroupLimits } from './cgroups/index.js';

export type { CgroupLimits };

/** A bind mount of a host path, or a fresh tmpfs, at `target` inside the container. */
export type MountSpec =
  | { type: 'bind'; source: string; target: string; readOnly?: boolean }
  | { type: 'tmpfs'; target: string; /** Docker-style, e.g. "size=64m,mode=1777,noexec" */ options?: string };

/** 'none': a new network namespace with only lo up; 'host': the host's; path: join that netns. */
export type NetworkMode = 'none' | 'host' | { path: string };

export interface LogOptions {
  /** Rotate container.log once it would pass this size (default 10 MiB). */
  maxBytes?: number;
  /** Files kept in all, the live one included (default 3). */
  maxFiles?: number;
}

export interface ContainerSpec {
  /** Unique among this runtime's containers; default: the first 12 hex digits of the id. */
  name?: string;
  /** Image layer directories, LOWEST first; a per-container upper dir is added on top. */
  rootfs: { layers: string[] };
  args: string[];
  /** KEY=VALUE entries; PATH defaults to the usual system directories. */
  env?: string[];
  cwd?: string;
  /** "uid", "uid:gid", "name" or "name:group" (names looked up in the image's /etc files). */
  user?: string;
  /** Extra supplementary group ids. */
  groups?: number[];
  hostname?: string;
  mounts?: MountSpec[];
  readOnly?: boolean;
  network?: NetworkMode;
  limits?: CgroupLimits;
  log?: LogOptions;
  labels?: Record<string, string>;
  /** What stop() sends first when the caller names no signal (default SIGTERM). */
  stopSignal?: NodeJS.Signals;
  /** Extra /etc/hosts entries (the hostname maps to 127.0.1.1 unless listed here). */
  extraHosts?: { name: string; ip: string }[];
  /** /etc/resolv.conf contents; default: a copy of the host's. */
  dns?: { nameservers: string[]; search?: string[]; options?: string[] };
  /** The image the layers came from, for display and for the image store's garbage collector. */
  image?: { ref: string; id: string };
  /** Capabilities added to / dropped from Docker's default set: "NET_ADMIN" or "CAP_NET_ADMIN",
   * any case, or "ALL" (add ALL: every capability but the dropped ones; drop ALL: only the added). */
  capAdd?: string[];
  capDrop?: string[];
  /** Namespaced sysctls (net.* unless the network is the host's, kernel.shm*, kernel.msg*,
   * kernel.sem, fs.mqueue.*), written inside the container's namespaces before its command runs. */
  sysctls?: Record<string, string>;
  /** Resource limits of every process in the container (setrlimit before the exec). */
  ulimits?: Ulimit[];
  /** Runs a small init as pid 1 that starts the command, forwards signals and reaps orphans. */
  init?: boolean;
}

/** A setrlimit(2) limit by Docker's name (nofile, nproc, core, memlock, stack, ...); -1 = unlimited. */
export interface Ulimit {
  name: string;
  soft: number;
  hard: number;
}

export interface ExitStatus {
  /** Exit code, or 128 + signal number when killed by a signal. */
  code: number;
  signal: NodeJS.Signals | null;
  oomKilled: boolean;
  finishedAt: string;
}

export type ContainerState = 'created' | 'running' | 'exited';

export interface ContainerInfo {
  id: string;
  name: string;
  state: ContainerState;
  /** The container's init process as seen from the host, while running. */
  pid: number | null;
  createdAt: string;
  startedAt: string | null;
  exit: ExitStatus | null;
  cgroup: string;
  spec: ContainerSpec;
}

export interface ExecSpec {
  args: string[];
  /** Added to (and overriding) the container's environment. */
  env?: string[];
  cwd?: string;
  user?: string;
  /** 'inherit' passes this process's stdio through; 'pipe' collects output (default). */
  stdio?: 'inherit' | 'pipe';
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface LogEntry {
  time: string;
  stream: 'stdout' | 'stderr';
  text: string;
}
